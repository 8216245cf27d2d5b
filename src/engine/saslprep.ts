import { InvalidArgumentError } from '../errors.js';
/**
 * SASLprep (RFC 4013): the stringprep profile that makes "the same password" mean the same bytes
 * on both sides of a SCRAM exchange, however it was typed. Maps non-ASCII spaces to U+0020, drops
 * the characters "commonly mapped to nothing", normalises to NFKC, and refuses what no password
 * may hold (controls, private use, non-characters, surrogates, and bidi strings that break the
 * rule of RFC 3454 section 6).
 */

type Ranges = readonly (readonly [number, number])[];

/** RFC 3454 table B.1: mapped to nothing. */
const MAPPED_TO_NOTHING: Ranges = [
  [0xad, 0xad],
  [0x34f, 0x34f],
  [0x1806, 0x1806],
  [0x180b, 0x180d],
  [0x200b, 0x200d],
  [0x2060, 0x2060],
  [0xfe00, 0xfe0f],
  [0xfeff, 0xfeff],
];
/** RFC 3454 table C.1.2: non-ASCII space characters, mapped to SPACE. */
const NON_ASCII_SPACE: Ranges = [
  [0xa0, 0xa0],
  [0x1680, 0x1680],
  [0x2000, 0x200b],
  [0x202f, 0x202f],
  [0x205f, 0x205f],
  [0x3000, 0x3000],
];
/**
 * Tables C.2.1 and C.2.2 (controls), C.3 (private use), C.4 (non-characters), C.5 (surrogates),
 * C.6 (inappropriate for plain text), C.7 (for canonical representation), C.8 (display
 * properties), C.9 (tagging characters).
 */
const PROHIBITED: Ranges = [
  [0x0000, 0x001f],
  [0x007f, 0x009f],
  [0x06dd, 0x06dd],
  [0x070f, 0x070f],
  [0x180e, 0x180e],
  [0x200c, 0x200f],
  [0x2028, 0x202e],
  [0x2060, 0x2063],
  [0x206a, 0x206f],
  [0x2ff0, 0x2ffb],
  [0x0340, 0x0341],
  [0xd800, 0xdfff],
  [0xe000, 0xf8ff],
  [0xfdd0, 0xfdef],
  [0xfeff, 0xfeff],
  [0xfff9, 0xffff],
  [0x1d173, 0x1d17a],
  [0xe0001, 0xe0001],
  [0xe0020, 0xe007f],
  [0xf0000, 0xffffd],
  [0x100000, 0x10fffd],
];

function inRanges(codePoint: number, ranges: Ranges): boolean {
  for (const [lo, hi] of ranges) if (codePoint >= lo && codePoint <= hi) return true;
  return false;
}

/** Non-characters U+xFFFE and U+xFFFF of every plane (table C.4). */
const isNonCharacter = (codePoint: number): boolean => (codePoint & 0xfffe) === 0xfffe;

/** Right-to-left characters (table D.1): the letters of the right-to-left scripts. */
const RTL =
  /[\p{Script=Hebrew}\p{Script=Arabic}\p{Script=Syriac}\p{Script=Thaana}\p{Script=Nko}\p{Script=Samaritan}\p{Script=Mandaic}]/u;
/** Left-to-right characters (table D.2): letters of every other script (JavaScript has no Bidi_Class property). */
const LTR =
  /(?![\p{Script=Hebrew}\p{Script=Arabic}\p{Script=Syriac}\p{Script=Thaana}\p{Script=Nko}\p{Script=Samaritan}\p{Script=Mandaic}])\p{L}/u;

/**
 * Prepares a password (or user name) for SCRAM. Throws an `InvalidArgumentError` naming the offending
 * character when the string holds one that RFC 4013 prohibits.
 */
export function saslPrep(text: string): string {
  // Most passwords are printable ASCII, for which SASLprep changes nothing.
  if (/^[\u0020-\u007E]*$/.test(text)) return text;
  let mapped = '';
  for (const char of text) {
    const codePoint = char.codePointAt(0)!;
    if (inRanges(codePoint, MAPPED_TO_NOTHING)) continue;
    mapped += inRanges(codePoint, NON_ASCII_SPACE) ? ' ' : char;
  }
  mapped = mapped.normalize('NFKC');
  for (const char of mapped) {
    const codePoint = char.codePointAt(0)!;
    if (inRanges(codePoint, PROHIBITED) || isNonCharacter(codePoint)) {
      const code = codePoint.toString(16).toUpperCase().padStart(4, '0');
      throw new InvalidArgumentError(
        `the password or user name holds U+${code}, which SASLprep (RFC 4013) prohibits in SCRAM: remove that character, or log in with another mechanism`,
      );
    }
  }
  if (RTL.test(mapped)) {
    const chars = [...mapped];
    if (LTR.test(mapped) || !RTL.test(chars[0]!) || !RTL.test(chars[chars.length - 1]!)) {
      throw new InvalidArgumentError(
        'the password or user name mixes right-to-left and left-to-right text in a way SASLprep (RFC 4013, RFC 3454 section 6) prohibits in SCRAM: write it in one direction, or log in with another mechanism',
      );
    }
  }
  return mapped;
}
