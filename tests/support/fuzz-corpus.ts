/**
 * The committed fuzz corpus (tests/fuzz/corpus/<fuzzer>/*.hex): inputs that once found a bug,
 * replayed by their fuzzer in every `npm test`. A file is hex, with `#` comments saying what the
 * input found; see tests/fuzz/corpus/README.md.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The fuzzers that replay a corpus, each from its own folder. */
export type Fuzzer = 'decoder' | 'engine' | 'listener';

export interface CorpusInput {
  /** The file name, e.g. `half-header.hex`. */
  name: string;
  bytes: Buffer;
}

/** The bytes of a corpus file's text: hex digits, whitespace ignored, `#` to the end of a line a comment. */
export function parseHex(text: string): Buffer {
  const digits = text.replace(/#.*$/gm, '').replace(/\s+/g, '');
  if (!/^([0-9a-f]{2})*$/i.test(digits))
    throw new Error('a corpus file holds hex digits (in pairs) and # comments only');
  return Buffer.from(digits, 'hex');
}

/** `bytes` in the corpus format, under a comment (one line per `#`). */
export function formatHex(comment: string, bytes: Uint8Array): string {
  const hex = Buffer.from(bytes).toString('hex');
  const lines = comment.split('\n').map((l) => `# ${l}`);
  for (let i = 0; i < hex.length; i += 64) lines.push(hex.slice(i, i + 64));
  return `${lines.join('\n')}\n`;
}

/** Every input of a fuzzer's corpus, by name. Throws when there is none: a replay that replays nothing must not pass. */
export function corpusOf(fuzzer: Fuzzer): CorpusInput[] {
  // Found when asked: scripts/fuzz-listener.mjs bundles this module into a data: URL, which has no folder.
  const folder = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'fuzz', 'corpus', fuzzer);
  const names = readdirSync(folder)
    .filter((f) => f.endsWith('.hex'))
    .sort();
  if (names.length === 0) throw new Error(`the ${fuzzer} corpus (${folder}) holds no .hex input`);
  return names.map((name) => {
    try {
      return { name, bytes: parseHex(readFileSync(path.join(folder, name), 'utf8')) };
    } catch (e) {
      throw new Error(`${fuzzer} corpus, ${name}: ${e instanceof Error ? e.message : String(e)}`);
    }
  });
}
