/**
 * Message selectors (`apache.org:selector-filter:string`): the JMS selector language, a subset
 * of SQL-92 conditional expressions, compiled once per receiver and evaluated per message.
 *
 * Comparisons, arithmetic, AND/OR/NOT, LIKE with ESCAPE, IN, BETWEEN and IS [NOT] NULL, with
 * SQL's three-valued logic: a comparison with a missing property is unknown, and a message is
 * selected only when the selector is true. Identifiers name application properties, except the
 * JMS header names, which read the AMQP header and properties as Qpid JMS maps them:
 * JMSMessageID, JMSCorrelationID, JMSType (subject), JMSPriority, JMSDeliveryMode ('PERSISTENT' or
 * 'NON_PERSISTENT', from durable), JMSTimestamp (creation-time) and JMSExpiration
 * (absolute-expiry-time), and JMSXUserID, JMSXGroupID, JMSXGroupSeq.
 *
 * One difference from Java's JMS brokers: numbers are JavaScript numbers (AMQP gives no sure way
 * to tell an integer 2 from a double 2.0 once decoded natively), so `7 / 2` is 3.5, not 3.
 */
import { Buffer } from 'node:buffer';
import type { Message } from '../../codec/message.js';
import { Typed } from '../../codec/values.js';

/** The filter name and descriptor code of a selector (filters registry of the AMQP spec's extensions). */
export const SELECTOR_FILTER = 'apache.org:selector-filter:string';
export const SELECTOR_FILTER_CODE = 0x0000468c00000004n;

/** A selector that cannot be compiled: where, and why. */
export class SelectorError extends Error {
  constructor(
    message: string,
    readonly position: number,
  ) {
    super(message);
  }
}

/** A selector's value: SQL's types, with `undefined` for NULL (unknown). */
type Value = number | string | boolean | undefined;
/** Three-valued truth: `undefined` is unknown. */
type Truth = boolean | undefined;

type Node =
  | { kind: 'literal'; value: Value }
  | { kind: 'identifier'; name: string }
  | { kind: 'unary'; op: '-' | '+' | 'NOT'; operand: Node }
  | { kind: 'binary'; op: string; left: Node; right: Node }
  | { kind: 'between'; not: boolean; value: Node; low: Node; high: Node }
  | { kind: 'in'; not: boolean; value: Node; list: string[] }
  | { kind: 'like'; not: boolean; value: Node; pattern: RegExp }
  | { kind: 'isNull'; not: boolean; value: Node };

interface Token {
  type: 'number' | 'string' | 'identifier' | 'keyword' | 'op' | 'end';
  text: string;
  value?: number | string;
  at: number;
}

const KEYWORDS = new Set(['AND', 'OR', 'NOT', 'BETWEEN', 'LIKE', 'ESCAPE', 'IN', 'IS', 'NULL', 'TRUE', 'FALSE']);

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    const at = i;
    if (c === "'") {
      let s = '';
      i++;
      for (;;) {
        if (i >= text.length) throw new SelectorError('a string literal is not closed', at);
        if (text[i] === "'") {
          if (text[i + 1] === "'") {
            s += "'";
            i += 2;
            continue;
          }
          i++;
          break;
        }
        s += text[i++];
      }
      tokens.push({ type: 'string', text: text.slice(at, i), value: s, at });
      continue;
    }
    const number = /^(0[xX][0-9a-fA-F]+|(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?)[lLfFdD]?/.exec(text.slice(i));
    if (number && /[\d.]/.test(c)) {
      const raw = number[1]!;
      tokens.push({ type: 'number', text: number[0], value: /^0[xX]/.test(raw) ? parseInt(raw, 16) : Number(raw), at });
      i += number[0].length;
      continue;
    }
    const word = /^[A-Za-z_$][A-Za-z0-9_$.]*/.exec(text.slice(i));
    if (word) {
      const upper = word[0].toUpperCase();
      tokens.push(
        KEYWORDS.has(upper) ? { type: 'keyword', text: upper, at } : { type: 'identifier', text: word[0], at },
      );
      i += word[0].length;
      continue;
    }
    const op = /^(<>|<=|>=|[=<>+\-*/(),])/.exec(text.slice(i));
    if (op) {
      tokens.push({ type: 'op', text: op[0], at });
      i += op[0].length;
      continue;
    }
    throw new SelectorError(`unexpected character ${JSON.stringify(c)}`, at);
  }
  tokens.push({ type: 'end', text: 'the end', at: text.length });
  return tokens;
}

class Parser {
  #pos = 0;
  constructor(private readonly tokens: Token[]) {}

  get #next(): Token {
    return this.tokens[this.#pos]!;
  }

  #accept(type: Token['type'], text?: string): Token | undefined {
    const t = this.#next;
    if (t.type === type && (text === undefined || t.text === text)) {
      this.#pos++;
      return t;
    }
    return undefined;
  }

  #expect(type: Token['type'], text: string): Token {
    const t = this.#accept(type, text);
    if (!t) throw new SelectorError(`expected ${text}, found ${this.#next.text}`, this.#next.at);
    return t;
  }

  parse(): Node {
    const node = this.#or();
    if (this.#next.type !== 'end') throw new SelectorError(`unexpected ${this.#next.text}`, this.#next.at);
    return node;
  }

  #or(): Node {
    let left = this.#and();
    while (this.#accept('keyword', 'OR')) left = { kind: 'binary', op: 'OR', left, right: this.#and() };
    return left;
  }

  #and(): Node {
    let left = this.#not();
    while (this.#accept('keyword', 'AND')) left = { kind: 'binary', op: 'AND', left, right: this.#not() };
    return left;
  }

  #not(): Node {
    if (this.#accept('keyword', 'NOT')) return { kind: 'unary', op: 'NOT', operand: this.#not() };
    return this.#predicate();
  }

  #predicate(): Node {
    const value = this.#additive();
    const t = this.#next;
    if (t.type === 'op' && ['=', '<>', '<', '<=', '>', '>='].includes(t.text)) {
      this.#pos++;
      return { kind: 'binary', op: t.text, left: value, right: this.#additive() };
    }
    if (this.#accept('keyword', 'IS')) {
      const not = this.#accept('keyword', 'NOT') !== undefined;
      this.#expect('keyword', 'NULL');
      return { kind: 'isNull', not, value };
    }
    const not = this.#accept('keyword', 'NOT') !== undefined;
    if (this.#accept('keyword', 'BETWEEN')) {
      const low = this.#additive();
      this.#expect('keyword', 'AND');
      return { kind: 'between', not, value, low, high: this.#additive() };
    }
    if (this.#accept('keyword', 'IN')) {
      this.#expect('op', '(');
      const list: string[] = [];
      do {
        const s = this.#accept('string');
        if (!s) throw new SelectorError(`IN takes string literals, found ${this.#next.text}`, this.#next.at);
        list.push(s.value as string);
      } while (this.#accept('op', ','));
      this.#expect('op', ')');
      return { kind: 'in', not, value, list };
    }
    if (this.#accept('keyword', 'LIKE')) {
      const pattern = this.#accept('string');
      if (!pattern) throw new SelectorError(`LIKE takes a string literal, found ${this.#next.text}`, this.#next.at);
      let escape: string | undefined;
      if (this.#accept('keyword', 'ESCAPE')) {
        const e = this.#accept('string');
        if (!e || (e.value as string).length !== 1)
          throw new SelectorError('ESCAPE takes a one-character string literal', e?.at ?? this.#next.at);
        escape = e.value as string;
      }
      return { kind: 'like', not, value, pattern: likePattern(pattern.value as string, escape, pattern.at) };
    }
    if (not) throw new SelectorError(`expected BETWEEN, IN or LIKE after NOT, found ${this.#next.text}`, this.#next.at);
    return value;
  }

  #additive(): Node {
    let left = this.#multiplicative();
    for (let t = this.#next; t.type === 'op' && (t.text === '+' || t.text === '-'); t = this.#next) {
      this.#pos++;
      left = { kind: 'binary', op: t.text, left, right: this.#multiplicative() };
    }
    return left;
  }

  #multiplicative(): Node {
    let left = this.#unary();
    for (let t = this.#next; t.type === 'op' && (t.text === '*' || t.text === '/'); t = this.#next) {
      this.#pos++;
      left = { kind: 'binary', op: t.text, left, right: this.#unary() };
    }
    return left;
  }

  #unary(): Node {
    const t = this.#next;
    if (t.type === 'op' && (t.text === '-' || t.text === '+')) {
      this.#pos++;
      return { kind: 'unary', op: t.text, operand: this.#unary() };
    }
    return this.#primary();
  }

  #primary(): Node {
    const t = this.#next;
    this.#pos++;
    switch (t.type) {
      case 'number':
      case 'string':
        return { kind: 'literal', value: t.value };
      case 'identifier':
        return { kind: 'identifier', name: t.text };
      case 'keyword':
        if (t.text === 'TRUE' || t.text === 'FALSE') return { kind: 'literal', value: t.text === 'TRUE' };
        if (t.text === 'NULL') return { kind: 'literal', value: undefined };
        break;
      case 'op':
        if (t.text === '(') {
          const inner = this.#or();
          this.#expect('op', ')');
          return inner;
        }
        break;
    }
    throw new SelectorError(`unexpected ${t.text}`, t.at);
  }
}

/** LIKE's pattern as a regular expression: `%` any run, `_` one character, `escape` makes either literal. */
function likePattern(pattern: string, escape: string | undefined, at: number): RegExp {
  let out = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === escape) {
      const next = pattern[++i];
      if (next === undefined) throw new SelectorError('a LIKE pattern ends with its escape character', at);
      out += next.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    } else if (c === '%') out += '.*';
    else if (c === '_') out += '.';
    else out += c.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${out}$`, 's');
}

/** A plain value of a message field for the selector, or undefined when it has none a selector can compare. */
function selectorValue(v: unknown): Value {
  if (typeof v === 'number' || typeof v === 'string' || typeof v === 'boolean') return v;
  if (typeof v === 'bigint') return Number(v);
  if (v instanceof Date) return v.getTime();
  if (v instanceof Typed) return selectorValue(v.value);
  return undefined;
}

/** The value of an identifier in a message: a JMS header name, or an application property. */
function lookup(message: Message, name: string): Value {
  switch (name) {
    case 'JMSMessageID':
      return selectorValue(message.messageId);
    case 'JMSCorrelationID':
      return selectorValue(message.correlationId);
    case 'JMSType':
      return message.subject;
    case 'JMSPriority':
      return message.priority ?? 4;
    case 'JMSDeliveryMode':
      return message.durable ? 'PERSISTENT' : 'NON_PERSISTENT';
    case 'JMSTimestamp':
      return selectorValue(message.creationTime);
    case 'JMSExpiration':
      return selectorValue(message.absoluteExpiryTime);
    case 'JMSXUserID':
      return message.userId === undefined ? undefined : Buffer.from(message.userId).toString('utf8');
    case 'JMSXGroupID':
      return message.groupId;
    case 'JMSXGroupSeq':
      return message.groupSequence;
  }
  const props = message.applicationProperties;
  return props && Object.hasOwn(props, name) ? selectorValue(props[name]) : undefined;
}

function truth(v: Value): Truth {
  return typeof v === 'boolean' ? v : undefined;
}

function compare(op: string, a: Value, b: Value): Truth {
  if (a === undefined || b === undefined) return undefined;
  if (typeof a === 'number' && typeof b === 'number') {
    switch (op) {
      case '=':
        return a === b;
      case '<>':
        return a !== b;
      case '<':
        return a < b;
      case '<=':
        return a <= b;
      case '>':
        return a > b;
      case '>=':
        return a >= b;
    }
  }
  // Values of different types compare false, whatever the operator; strings and booleans compare
  // only for equality, and any other comparison of them is false too (JMS 2.0, 3.8.1.2).
  if (typeof a !== typeof b) return false;
  if (op === '=') return a === b;
  if (op === '<>') return a !== b;
  return false;
}

function evaluate(node: Node, message: Message): Value {
  switch (node.kind) {
    case 'literal':
      return node.value;
    case 'identifier':
      return lookup(message, node.name);
    case 'unary': {
      const v = evaluate(node.operand, message);
      if (node.op === 'NOT') {
        const t = truth(v);
        return t === undefined ? undefined : !t;
      }
      if (typeof v !== 'number') return undefined;
      return node.op === '-' ? -v : v;
    }
    case 'binary': {
      if (node.op === 'AND') {
        const l = truth(evaluate(node.left, message));
        if (l === false) return false;
        const r = truth(evaluate(node.right, message));
        if (r === false) return false;
        return l === true && r === true ? true : undefined;
      }
      if (node.op === 'OR') {
        const l = truth(evaluate(node.left, message));
        if (l === true) return true;
        const r = truth(evaluate(node.right, message));
        if (r === true) return true;
        return l === false && r === false ? false : undefined;
      }
      const l = evaluate(node.left, message);
      const r = evaluate(node.right, message);
      switch (node.op) {
        case '+':
        case '-':
        case '*':
        case '/': {
          if (typeof l !== 'number' || typeof r !== 'number') return undefined;
          if (node.op === '+') return l + r;
          if (node.op === '-') return l - r;
          if (node.op === '*') return l * r;
          return r === 0 ? undefined : l / r;
        }
        default:
          return compare(node.op, l, r);
      }
    }
    case 'between': {
      const v = evaluate(node.value, message);
      const low = compare('>=', v, evaluate(node.low, message));
      const high = compare('<=', v, evaluate(node.high, message));
      const inRange = low === false || high === false ? false : low === true && high === true ? true : undefined;
      return inRange === undefined ? undefined : inRange !== node.not;
    }
    case 'in': {
      const v = evaluate(node.value, message);
      if (typeof v !== 'string') return undefined;
      return node.list.includes(v) !== node.not;
    }
    case 'like': {
      const v = evaluate(node.value, message);
      if (typeof v !== 'string') return undefined;
      return node.pattern.test(v) !== node.not;
    }
    case 'isNull': {
      const isNull = evaluate(node.value, message) === undefined;
      return isNull !== node.not;
    }
  }
}

/** A compiled selector: true when the message is selected. */
export type Selector = (message: Message) => boolean;

/** Compiles a selector. Throws {@link SelectorError} saying what is wrong and where. */
export function compileSelector(text: string): Selector {
  if (typeof text !== 'string') throw new SelectorError('a selector must be a string', 0);
  const tree = new Parser(tokenize(text)).parse();
  return (message) => evaluate(tree, message) === true;
}
