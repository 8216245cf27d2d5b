/**
 * The broker's message selectors (`apache.org:selector-filter:string`), unit by unit: the JMS
 * selector grammar (JMS 2.0, 3.8.1) compiled by compileSelector and evaluated on hand-made
 * messages, with SQL's three-valued logic, and invalid selectors refused with a SelectorError
 * that says where.
 */
import { describe, expect, it } from 'vitest';
import { SelectorError, compileSelector } from '../../src/server/broker/selector.js';
import { double, int, long, ubyte, uint, ulong, type AmqpValue, type Message } from '../../src/index.js';

/** Whether `selector` selects `message`. */
function selects(selector: string, message: Message = {}): boolean {
  return compileSelector(selector)(message);
}

/** A message with these application properties. */
function props(applicationProperties: Record<string, AmqpValue>): Message {
  return { applicationProperties };
}

/** The SelectorError compiling `selector` throws (fails the test if it compiles). */
function errorOf(selector: string): SelectorError {
  try {
    compileSelector(selector);
  } catch (e) {
    expect(e).toBeInstanceOf(SelectorError);
    return e as SelectorError;
  }
  throw new Error(`the selector ${JSON.stringify(selector)} compiled, but it is not valid`);
}

const numbers = props({ x: 5, y: 2.5, z: -3 });

describe('comparisons', () => {
  it.each([
    ['x = 5', true],
    ['x = 4', false],
    ['x <> 4', true],
    ['x <> 5', false],
    ['x < 6', true],
    ['x < 5', false],
    ['x <= 5', true],
    ['x <= 4', false],
    ['x > 4', true],
    ['x > 5', false],
    ['x >= 5', true],
    ['x >= 6', false],
    ['y > 2', true],
    ['y < 2.6', true],
    ['z < 0', true],
    ['z = -3', true],
    ['5 = x', true],
    ['x = y', false],
    ['x > y', true],
    ['y < x AND z < y', true],
  ])('%s on x=5, y=2.5, z=-3 -> %s', (selector, expected) => {
    expect(selects(selector, numbers)).toBe(expected);
  });

  it('compares exact and approximate numbers by value (2 = 2.0)', () => {
    expect(selects('x = 2.0', props({ x: 2 }))).toBe(true);
    expect(selects('x = 2', props({ x: double(2) }))).toBe(true);
  });

  it('reads numeric application properties of every AMQP numeric type (exact values)', () => {
    const m = props({ a: ubyte(7), b: uint(70000), c: ulong(12345678901n), d: long(-9n), e: int(3), f: 42n });
    expect(selects('a = 7 AND b = 70000 AND c = 12345678901 AND d = -9 AND e = 3 AND f = 42', m)).toBe(true);
    expect(selects('a > 7', m)).toBe(false);
    expect(selects('c > 12345678900', m)).toBe(true);
  });

  it('compares strings for equality, case-sensitively', () => {
    const m = props({ colour: 'green' });
    expect(selects("colour = 'green'", m)).toBe(true);
    expect(selects("colour = 'red'", m)).toBe(false);
    expect(selects("colour <> 'red'", m)).toBe(true);
    expect(selects("colour <> 'green'", m)).toBe(false);
    expect(selects("colour = 'Green'", m)).toBe(false);
    expect(selects("'green' = colour", m)).toBe(true);
    expect(selects('colour = other', props({ colour: 'green', other: 'green' }))).toBe(true);
  });

  it('compares booleans, and a boolean property alone is a condition', () => {
    expect(selects('flag = TRUE', props({ flag: true }))).toBe(true);
    expect(selects('flag = FALSE', props({ flag: true }))).toBe(false);
    expect(selects('flag <> FALSE', props({ flag: true }))).toBe(true);
    expect(selects('flag', props({ flag: true }))).toBe(true);
    expect(selects('flag', props({ flag: false }))).toBe(false);
    expect(selects('NOT flag', props({ flag: false }))).toBe(true);
    // A non-boolean alone is not true.
    expect(selects('flag', props({ flag: 'yes' }))).toBe(false);
    expect(selects('flag', props({ flag: 1 }))).toBe(false);
  });

  it('TRUE and FALSE literals', () => {
    expect(selects('TRUE')).toBe(true);
    expect(selects('FALSE')).toBe(false);
  });
});

describe('arithmetic', () => {
  it.each([
    ['1 + 2 * 3 = 7', true],
    ['(1 + 2) * 3 = 9', true],
    ['1 + 2 * 3 = 9', false],
    ['10 - 4 - 3 = 3', true], // left-associative, not 10 - (4 - 3)
    ['12 / 2 / 3 = 2', true], // left-associative, not 12 / (2 / 3)
    ['2 * 3 + 4 * 5 = 26', true],
    ['20 / 4 - 1 = 4', true],
    ['-3 + 5 = 2', true],
    ['-x = -5', true],
    ['- - 3 = 3', true],
    ['2 - -3 = 5', true],
    ['-2 * 3 = -6', true],
    ['+4 = 4', true],
    ['x * 2 > 9', true],
    ['x * 2 > 10', false],
    ['x + y = 7.5', true],
    ['x / 2 = 2.5', true],
    ['x - z = 8', true],
    ['(x + 1) * (z + 1) = -12', true],
  ])('%s on x=5, y=2.5, z=-3 -> %s', (selector, expected) => {
    expect(selects(selector, numbers)).toBe(expected);
  });

  it('arithmetic on a missing property is unknown, in either polarity', () => {
    expect(selects('missing + 1 > 0', numbers)).toBe(false);
    expect(selects('NOT (missing + 1 > 0)', numbers)).toBe(false);
    expect(selects('-missing < 0', numbers)).toBe(false);
    expect(selects('NOT (-missing < 0)', numbers)).toBe(false);
  });

  it('dividing by zero does not throw and selects nothing', () => {
    expect(selects('x / 0 > 0', numbers)).toBe(false);
    expect(selects('x / 0 = 0', numbers)).toBe(false);
  });
});

describe('AND, OR, NOT with three-valued logic', () => {
  const present = props({ x: 5 });
  const absent = props({ other: 1 });

  it('combines known conditions', () => {
    expect(selects('x > 1 AND x < 10', present)).toBe(true);
    expect(selects('x > 1 AND x > 10', present)).toBe(false);
    expect(selects('x > 10 OR x = 5', present)).toBe(true);
    expect(selects('x > 10 OR x < 1', present)).toBe(false);
    expect(selects('NOT (x > 10)', present)).toBe(true);
    expect(selects('NOT x > 10', present)).toBe(true);
    expect(selects('NOT (x > 1)', present)).toBe(false);
  });

  it('a comparison with a missing property is unknown: neither it nor its negation selects', () => {
    expect(selects('x > 1', absent)).toBe(false);
    expect(selects('NOT (x > 1)', absent)).toBe(false);
    expect(selects('x = 1', absent)).toBe(false);
    expect(selects('x <> 1', absent)).toBe(false);
    expect(selects('NOT (x = 1)', absent)).toBe(false);
    expect(selects("colour = 'green'", absent)).toBe(false);
    expect(selects("NOT (colour = 'green')", absent)).toBe(false);
    expect(selects("colour <> 'green'", absent)).toBe(false);
  });

  it('a comparison with NULL is unknown, even when the property is missing', () => {
    expect(selects('x = NULL', absent)).toBe(false);
    expect(selects('NOT (x = NULL)', absent)).toBe(false);
    expect(selects('x <> NULL', present)).toBe(false);
  });

  it('unknown OR true is true; unknown OR false is unknown', () => {
    expect(selects('x > 1 OR TRUE', absent)).toBe(true);
    expect(selects('TRUE OR x > 1', absent)).toBe(true);
    expect(selects('x > 1 OR FALSE', absent)).toBe(false);
    expect(selects('NOT (x > 1 OR FALSE)', absent)).toBe(false);
    expect(selects('x > 1 OR other = 1', absent)).toBe(true);
  });

  it('unknown AND false is false; unknown AND true is unknown', () => {
    expect(selects('x > 1 AND FALSE', absent)).toBe(false);
    expect(selects('NOT (x > 1 AND FALSE)', absent)).toBe(true);
    expect(selects('NOT (FALSE AND x > 1)', absent)).toBe(true);
    expect(selects('x > 1 AND TRUE', absent)).toBe(false);
    expect(selects('NOT (x > 1 AND TRUE)', absent)).toBe(false);
  });

  it('NOT binds tighter than AND, AND tighter than OR', () => {
    // (NOT FALSE) AND FALSE, not NOT (FALSE AND FALSE)
    expect(selects('NOT FALSE AND FALSE')).toBe(false);
    // TRUE OR (TRUE AND FALSE), not (TRUE OR TRUE) AND FALSE
    expect(selects('TRUE OR TRUE AND FALSE')).toBe(true);
    // (FALSE AND FALSE) OR TRUE
    expect(selects('FALSE AND FALSE OR TRUE')).toBe(true);
    // FALSE AND (FALSE OR TRUE) with parentheses
    expect(selects('FALSE AND (FALSE OR TRUE)')).toBe(false);
    expect(selects('NOT NOT TRUE')).toBe(true);
  });
});

describe('LIKE', () => {
  const s = (v: string) => props({ s: v });

  it('% matches any run of characters, including none', () => {
    expect(selects("s LIKE 'gr%'", s('green'))).toBe(true);
    expect(selects("s LIKE 'gr%'", s('gr'))).toBe(true);
    expect(selects("s LIKE '%een'", s('green'))).toBe(true);
    expect(selects("s LIKE '%e%'", s('red'))).toBe(true);
    expect(selects("s LIKE 'gr%'", s('agreen'))).toBe(false);
    expect(selects("s LIKE '%'", s(''))).toBe(true);
  });

  it('_ matches exactly one character', () => {
    expect(selects("s LIKE 'r_d'", s('red'))).toBe(true);
    expect(selects("s LIKE 'r_d'", s('rd'))).toBe(false);
    expect(selects("s LIKE 'r_d'", s('reed'))).toBe(false);
    expect(selects("s LIKE '___'", s('abc'))).toBe(true);
    expect(selects("s LIKE 'a_b'", s('a\nb'))).toBe(true);
  });

  it('matches the whole value, case-sensitively', () => {
    expect(selects("s LIKE 'green'", s('green'))).toBe(true);
    expect(selects("s LIKE 'green'", s('greenish'))).toBe(false);
    expect(selects("s LIKE 'GREEN'", s('green'))).toBe(false);
  });

  it('takes other characters literally, regular-expression ones too', () => {
    expect(selects("s LIKE 'a.c'", s('abc'))).toBe(false);
    expect(selects("s LIKE 'a.c'", s('a.c'))).toBe(true);
    expect(selects("s LIKE '(a|b)+*?[x]^$\\'", s('(a|b)+*?[x]^$\\'))).toBe(true);
    expect(selects("s LIKE '(a|b)+'", s('a'))).toBe(false);
  });

  it('ESCAPE makes % and _ literal', () => {
    expect(selects("s LIKE '100!%' ESCAPE '!'", s('100%'))).toBe(true);
    expect(selects("s LIKE '100!%' ESCAPE '!'", s('1000'))).toBe(false);
    expect(selects("s LIKE 'x\\_y' ESCAPE '\\'", s('x_y'))).toBe(true);
    expect(selects("s LIKE 'x\\_y' ESCAPE '\\'", s('xay'))).toBe(false);
    expect(selects("s LIKE '!%%' ESCAPE '!'", s('%anything'))).toBe(true);
    expect(selects("s LIKE '!%%' ESCAPE '!'", s('anything'))).toBe(false);
    // The escape character escaped is itself.
    expect(selects("s LIKE 'a!!b' ESCAPE '!'", s('a!b'))).toBe(true);
  });

  it('NOT LIKE', () => {
    expect(selects("s NOT LIKE 'gr%'", s('red'))).toBe(true);
    expect(selects("s NOT LIKE 'gr%'", s('green'))).toBe(false);
  });

  it('LIKE on a missing property is unknown, and so is NOT LIKE', () => {
    expect(selects("s LIKE 'gr%'", props({}))).toBe(false);
    expect(selects("s NOT LIKE 'gr%'", props({}))).toBe(false);
    expect(selects("NOT (s LIKE 'gr%')", props({}))).toBe(false);
  });
});

describe('IN', () => {
  const c = (v: string) => props({ colour: v });

  it('IN and NOT IN', () => {
    expect(selects("colour IN ('red', 'green')", c('green'))).toBe(true);
    expect(selects("colour IN ('red', 'green')", c('blue'))).toBe(false);
    expect(selects("colour IN ('green')", c('green'))).toBe(true);
    expect(selects("colour NOT IN ('red', 'green')", c('blue'))).toBe(true);
    expect(selects("colour NOT IN ('red', 'green')", c('red'))).toBe(false);
    expect(selects("colour IN ('Green')", c('green'))).toBe(false);
  });

  it('IN and NOT IN on a missing property are unknown', () => {
    expect(selects("colour IN ('red', 'green')", props({}))).toBe(false);
    expect(selects("colour NOT IN ('red', 'green')", props({}))).toBe(false);
    expect(selects("NOT (colour IN ('red'))", props({}))).toBe(false);
  });
});

describe('BETWEEN', () => {
  it('BETWEEN is inclusive at both ends', () => {
    for (const [x, expected] of [
      [0, false],
      [1, true],
      [3, true],
      [5, true],
      [6, false],
      [2.5, true],
    ] as const) {
      expect(selects('x BETWEEN 1 AND 5', props({ x })), `x=${x}`).toBe(expected);
    }
  });

  it('NOT BETWEEN', () => {
    expect(selects('x NOT BETWEEN 1 AND 5', props({ x: 0 }))).toBe(true);
    expect(selects('x NOT BETWEEN 1 AND 5', props({ x: 6 }))).toBe(true);
    expect(selects('x NOT BETWEEN 1 AND 5', props({ x: 5 }))).toBe(false);
    expect(selects('x NOT BETWEEN 1 AND 5', props({ x: 1 }))).toBe(false);
  });

  it('takes arithmetic bounds, and its AND is not the logical AND', () => {
    expect(selects('x BETWEEN 2 * 2 AND y + 1', props({ x: 5, y: 4 }))).toBe(true);
    expect(selects('x BETWEEN 1 AND 5 AND y = 4', props({ x: 3, y: 4 }))).toBe(true);
    expect(selects('x BETWEEN 1 AND 5 AND y = 4', props({ x: 3, y: 5 }))).toBe(false);
    expect(selects('x BETWEEN 1 AND 2 OR y = 4', props({ x: 3, y: 4 }))).toBe(true);
  });

  it('BETWEEN and NOT BETWEEN on a missing property are unknown', () => {
    expect(selects('x BETWEEN 1 AND 5', props({}))).toBe(false);
    expect(selects('x NOT BETWEEN 1 AND 5', props({}))).toBe(false);
    expect(selects('NOT (x BETWEEN 1 AND 5)', props({}))).toBe(false);
  });
});

describe('IS NULL', () => {
  it('IS NULL and IS NOT NULL on present, missing and null properties', () => {
    expect(selects('x IS NULL', props({}))).toBe(true);
    expect(selects('x IS NULL', {})).toBe(true);
    expect(selects('x IS NULL', props({ x: 1 }))).toBe(false);
    expect(selects('x IS NULL', props({ x: null }))).toBe(true);
    expect(selects('x IS NOT NULL', props({ x: 1 }))).toBe(true);
    expect(selects('x IS NOT NULL', props({ x: '' }))).toBe(true);
    expect(selects('x IS NOT NULL', props({}))).toBe(false);
    expect(selects('x IS NOT NULL', props({ x: null }))).toBe(false);
    expect(selects('NOT (x IS NULL)', props({ x: 0 }))).toBe(true);
  });

  it('IS NULL is never unknown, so it rescues an unknown', () => {
    expect(selects('x > 1 OR x IS NULL', props({}))).toBe(true);
    expect(selects('x IS NULL OR x > 1', props({ x: 2 }))).toBe(true);
    expect(selects('x IS NULL OR x > 1', props({ x: 0 }))).toBe(false);
  });

  it('does not read prototype members as properties', () => {
    expect(selects('toString IS NULL', props({}))).toBe(true);
    expect(selects('constructor IS NOT NULL', props({}))).toBe(false);
  });
});

describe('JMS header identifiers', () => {
  it('JMSPriority is the header priority, 4 by default', () => {
    expect(selects('JMSPriority = 4', {})).toBe(true);
    expect(selects('JMSPriority > 4', {})).toBe(false);
    expect(selects('JMSPriority > 4', { priority: 9 })).toBe(true);
    expect(selects('JMSPriority = 0', { priority: 0 })).toBe(true);
    expect(selects('JMSPriority BETWEEN 0 AND 3', { priority: 2 })).toBe(true);
  });

  it("JMSDeliveryMode is 'PERSISTENT' for a durable message, 'NON_PERSISTENT' otherwise", () => {
    expect(selects("JMSDeliveryMode = 'PERSISTENT'", { durable: true })).toBe(true);
    expect(selects("JMSDeliveryMode = 'NON_PERSISTENT'", { durable: true })).toBe(false);
    expect(selects("JMSDeliveryMode = 'NON_PERSISTENT'", { durable: false })).toBe(true);
    expect(selects("JMSDeliveryMode = 'NON_PERSISTENT'", {})).toBe(true);
  });

  it('JMSType is the subject', () => {
    expect(selects("JMSType = 'order'", { subject: 'order' })).toBe(true);
    expect(selects("JMSType = 'order'", { subject: 'invoice' })).toBe(false);
    expect(selects("JMSType LIKE 'ord%'", { subject: 'order' })).toBe(true);
    expect(selects('JMSType IS NULL', {})).toBe(true);
    expect(selects("JMSType = 'order'", props({ JMSType: 'order' }))).toBe(false);
  });

  it('JMSMessageID and JMSCorrelationID are the message and correlation ids', () => {
    const m: Message = { messageId: 'ID:42', correlationId: 'req-7' };
    expect(selects("JMSMessageID = 'ID:42'", m)).toBe(true);
    expect(selects("JMSMessageID = 'ID:43'", m)).toBe(false);
    expect(selects("JMSCorrelationID = 'req-7'", m)).toBe(true);
    expect(selects("JMSCorrelationID LIKE 'req-%'", m)).toBe(true);
    expect(selects('JMSCorrelationID IS NULL', {})).toBe(true);
    expect(selects('JMSMessageID IS NULL', {})).toBe(true);
  });

  it('JMSTimestamp is the creation time in milliseconds', () => {
    const m: Message = { creationTime: new Date(1_700_000_000_123) };
    expect(selects('JMSTimestamp = 1700000000123', m)).toBe(true);
    expect(selects('JMSTimestamp > 1700000000000 AND JMSTimestamp < 1700000001000', m)).toBe(true);
    expect(selects('JMSTimestamp < 1700000000000', m)).toBe(false);
    expect(selects('JMSTimestamp IS NULL', {})).toBe(true);
    expect(selects('JMSTimestamp > 0', {})).toBe(false);
    expect(selects('NOT (JMSTimestamp > 0)', {})).toBe(false);
  });

  it('JMSExpiration and the JMSX group names', () => {
    expect(selects('JMSExpiration = 2000000000000', { absoluteExpiryTime: new Date(2_000_000_000_000) })).toBe(true);
    expect(selects("JMSXGroupID = 'g1' AND JMSXGroupSeq = 3", { groupId: 'g1', groupSequence: 3 })).toBe(true);
    expect(selects("JMSXUserID = 'alice'", { userId: new TextEncoder().encode('alice') })).toBe(true);
  });

  it('combines header names and application properties', () => {
    const m: Message = {
      subject: 'order',
      priority: 7,
      durable: true,
      applicationProperties: { region: 'eu', amount: 250 },
    };
    expect(
      selects(
        "JMSType = 'order' AND JMSPriority >= 5 AND JMSDeliveryMode = 'PERSISTENT' AND region = 'eu' AND amount BETWEEN 100 AND 500",
        m,
      ),
    ).toBe(true);
    expect(selects("JMSType = 'order' AND region = 'us'", m)).toBe(false);
  });
});

describe('literals', () => {
  it.each([
    ['x = 0x1F', 31],
    ['x = 0X1f', 31],
    ['x = 0xff', 255],
    ['x = 1.5', 1.5],
    ['x = .5', 0.5],
    ['x = 2.', 2],
    ['x = 1e3', 1000],
    ['x = 1E3', 1000],
    ['x = 1.5e2', 150],
    ['x = 2.5E-1', 0.25],
    ['x = 1e+2', 100],
    ['x = 10L', 10],
    ['x = 1.5F', 1.5],
    ['x = 2.5D', 2.5],
    ['x = -0x10', -16],
  ])('%s selects x=%s', (selector, x) => {
    expect(selects(selector, props({ x }))).toBe(true);
    expect(selects(selector, props({ x: x + 1 }))).toBe(false);
  });

  it("a string literal doubles ' to hold one", () => {
    expect(selects("name = 'O''Brien'", props({ name: "O'Brien" }))).toBe(true);
    expect(selects("name = 'O''Brien'", props({ name: 'OBrien' }))).toBe(false);
    expect(selects("name = ''''", props({ name: "'" }))).toBe(true);
    expect(selects("name = ''", props({ name: '' }))).toBe(true);
    expect(selects("name IN ('it''s', 'x')", props({ name: "it's" }))).toBe(true);
  });

  it('string literals keep spaces, keywords and non-ASCII characters as they are', () => {
    expect(selects("s = ' a AND b '", props({ s: ' a AND b ' }))).toBe(true);
    expect(selects("s = 'h\u00e9llo \u2713'", props({ s: 'h\u00e9llo \u2713' }))).toBe(true);
  });
});

describe('keywords and identifiers', () => {
  it('keywords are case-insensitive', () => {
    const m = props({ colour: 'green', size: 4, tag: 'abc', x: null });
    expect(selects("colour = 'green' and size between 3 and 5", m)).toBe(true);
    expect(selects("colour = 'red' Or size > 3", m)).toBe(true);
    expect(selects('not (size > 10)', m)).toBe(true);
    expect(selects("tag like 'a%' escape '!'", m)).toBe(true);
    expect(selects("colour in ('green') AND colour Not In ('red')", m)).toBe(true);
    expect(selects('x is null AND size iS nOt NuLl', m)).toBe(true);
    expect(selects('true AND NOT false', m)).toBe(true);
    expect(selects('size NOT between 5 and 9', m)).toBe(true);
  });

  it('identifiers are case-sensitive', () => {
    expect(selects("Colour = 'green'", props({ colour: 'green' }))).toBe(false);
    expect(selects("colour = 'green'", props({ Colour: 'green' }))).toBe(false);
    expect(selects('jmspriority = 4', {})).toBe(false);
  });

  it('identifiers may hold digits, _ and $', () => {
    expect(selects("_a1$ = 'v' AND $x = 1", props({ _a1$: 'v', $x: 1 }))).toBe(true);
  });

  it('whitespace of any kind separates tokens, and none is needed around operators', () => {
    expect(selects("x>1\tAND\ny<>'a'", props({ x: 2, y: 'b' }))).toBe(true);
    expect(selects('(x+1)*2=6', props({ x: 2 }))).toBe(true);
  });
});

describe('type mismatches: never an error, never selected', () => {
  const m = props({ s: 'five', n: 5, b: true, bin: new Uint8Array([1, 2]), list: [1, 2], map: { a: 1 } });

  it.each([
    's = 5',
    's > 5',
    's < 5',
    's >= 5',
    's <= 5',
    's <> 5',
    "n = '5'",
    "n <> '5'",
    'b = 1',
    "b = 'true'",
    "s > 'a'",
    's + 1 = 1',
    '-s = 0',
    's * 2 > 0',
    's BETWEEN 1 AND 9',
    "n LIKE '5'",
    "n IN ('5')",
    "b LIKE 't%'",
    'bin = 1',
    "bin LIKE '%'",
    'list = 1',
    'map = 1',
    "n BETWEEN 'a' AND 'z'",
  ])('%s is not selected', (selector) => {
    expect(selects(selector, m)).toBe(false);
  });

  it('a property holding a binary, list or map reads as no value (IS NULL)', () => {
    expect(selects('bin IS NULL AND list IS NULL AND map IS NULL', m)).toBe(true);
  });

  it('one compiled selector evaluates any message without throwing', () => {
    const selector = compileSelector(
      "colour = 'green' AND size * 2 > 4 OR kind LIKE 'a%' OR v IN ('x') OR w BETWEEN 1 AND 2",
    );
    const weird: Message[] = [
      {},
      { applicationProperties: {} },
      props({ colour: 5, size: 'big', kind: 3, v: 9, w: 'a' }),
      props({ colour: null, size: null, kind: null, v: null, w: null }),
      props({ colour: ['green'], size: { n: 3 }, kind: new Uint8Array(1), v: true, w: false }),
      { body: 'green', subject: 'green' },
    ];
    for (const msg of weird) expect(() => selector(msg)).not.toThrow();
    expect(weird.map(selector)).toEqual([false, false, false, false, false, false]);
    expect(selector(props({ colour: 'green', size: 3 }))).toBe(true);
    expect(selector(props({ kind: 'abc' }))).toBe(true);
  });

  // JMS 2.0, 3.8.1.2: "If the comparison of non-like type values is attempted, the value of the
  // operation is false" (not unknown): so its negation is true.
  it('comparing unlike types is false (JMS 3.8.1.2), so its negation selects', () => {
    expect(selects('NOT (s = 5)', m)).toBe(true);
    expect(selects('NOT (s <> 5)', m)).toBe(true);
    expect(selects('NOT (s > 5)', m)).toBe(true);
    expect(selects("NOT (b = 'true')", m)).toBe(true);
  });
});

describe('invalid selectors', () => {
  it.each([
    // [selector, position (0-based), what the message says]
    ["colour = 'green", 9, /string literal is not closed/],
    ["colour = 'it''s", 9, /not closed/],
    ['x >', 3, /the end/],
    ['x = 1 AND', 9, /the end/],
    ['x + ', 4, /the end/],
    ['= 5', 0, /unexpected =/],
    ['x = = 5', 4, /unexpected =/],
    ['x = 1 OR OR y = 2', 9, /unexpected OR/],
    ['x NOT 5', 6, /BETWEEN, IN or LIKE/],
    ["x NOT = 'a'", 6, /BETWEEN, IN or LIKE/],
    ['x IN (1, 2)', 6, /IN takes string literals/],
    ["x IN ('a', 2)", 11, /IN takes string literals/],
    ['x IN ()', 6, /IN takes string literals/],
    ["x IN 'a'", 5, /expected \(/],
    ["x IN ('a'", 9, /expected \)/],
    ['x # 1', 2, /unexpected character "#"/],
    ['x = 1 ; y = 2', 6, /unexpected character ";"/],
    ["colour == 'green'", 8, /unexpected =/],
    ['x ! = 1', 2, /unexpected character "!"/],
    ['(x = 1', 6, /expected \)/],
    ['x = 1)', 5, /unexpected \)/],
    ['x BETWEEN 1 5', 12, /expected AND/],
    ['x LIKE 5', 7, /LIKE takes a string literal/],
    ["x LIKE 'a' ESCAPE 'ab'", 18, /one-character/],
    ['x IS 5', 5, /expected NULL/],
    ['x y', 2, /unexpected y/],
    ['', 0, /the end/],
  ] as const)('%j: position %i', (selector, position, message) => {
    const e = errorOf(selector);
    expect(e.message).toMatch(message);
    expect(e.position).toBe(position);
  });

  it('a LIKE pattern ending with its escape character is refused, pointing into the pattern', () => {
    const e = errorOf("name LIKE 'abc!' ESCAPE '!'");
    expect(e.message).toMatch(/escape/);
    // The pattern literal is at 10..15: position 0 would point at `name`.
    expect(e.position).toBeGreaterThanOrEqual(10);
    expect(e.position).toBeLessThanOrEqual(26);
  });

  it('a selector that is not a string is refused', () => {
    expect(() => compileSelector(5 as unknown as string)).toThrow(SelectorError);
  });

  it('a SelectorError is an Error', () => {
    expect(errorOf('x #')).toBeInstanceOf(Error);
  });
});
