/**
 * The README's TypeScript examples, as a reader pastes them. Every ```ts block type-checks under
 * the project's compiler settings (strict; only the unused-name checks are off, as an example may
 * show a value it does not use) against the built package: 'quark-amqp' resolves to dist/ through
 * the package's own `exports`, as in an application that installed it. The complete programs run
 * to completion with node, against the embedded broker on loopback only.
 *
 * What a block is, is said by an HTML comment on the line before it (invisible on GitHub and npm):
 *
 *   <!-- runs -->              a complete program: type-checked alone, then run; it must exit 0,
 *                              print nothing on stderr and end within RUN_TIMEOUT (so it must stop
 *                              what it started). A line ending in `// prints X` means X is a line
 *                              of its output.
 *   <!-- program: reason -->   a complete program type-checked alone but not run, for the reason
 *                              given (e.g. a server that runs until it is stopped).
 *   (no comment)               a fragment: type-checked with PRELUDE below, which declares what
 *                              fragments take as given (`conn`, `sender`, `receiver`, `url`, ...).
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { killPrograms, startProgram } from '../support/programs.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const RUN_TIMEOUT = 10_000;

/** What README fragments may use without declaring it: the objects an application already has. */
const PRELUDE = `
declare const connect: typeof import('quark-amqp').connect;
declare const startBroker: typeof import('quark-amqp').startBroker;
declare const listen: typeof import('quark-amqp').listen;
declare const described: typeof import('quark-amqp').described;
declare const symbol: typeof import('quark-amqp').symbol;
declare const url: string;
declare const conn: import('quark-amqp').Connection;
declare const sender: import('quark-amqp').Sender;
declare const receiver: import('quark-amqp').Receiver;
declare const message: import('quark-amqp').Message;
declare const messages$: import('rxjs').Observable<import('quark-amqp').Message>;
declare const signal: AbortSignal;
declare const chunk1: Buffer;
declare const chunk2: Buffer;
declare const ca: Buffer;
declare const cert: Buffer;
declare const key: Buffer;
interface Order { id: number; total: number }
declare function handle(value: unknown): Promise<void>;
declare function log(text: string): void;
`;

type Kind = 'runs' | 'program' | 'fragment';

interface Block {
  /** README line of the block's first line of code (1-based). */
  line: number;
  /** The README section it sits in. */
  section: string;
  kind: Kind;
  code: string;
  file: string;
}

function readmeBlocks(readme: string): Block[] {
  const lines = readme.split('\n');
  const blocks: Block[] = [];
  let section = '(top)';
  for (let i = 0; i < lines.length; i++) {
    const heading = /^#{1,4} (.*)/.exec(lines[i]!);
    if (heading) section = heading[1]!;
    if (!/^```(ts|typescript)\s*$/.test(lines[i]!)) continue;
    const end = lines.findIndex((l, j) => j > i && l.startsWith('```'));
    if (end < 0) throw new Error(`README.md:${i + 1}: a code block that never ends`);
    let p = i - 1;
    while (p >= 0 && lines[p]!.trim() === '') p--;
    const marker = p >= 0 ? /^<!--\s*(runs|program:.*?)\s*-->$/.exec(lines[p]!.trim()) : null;
    const kind: Kind = marker === null ? 'fragment' : marker[1] === 'runs' ? 'runs' : 'program';
    const line = i + 2;
    blocks.push({
      line,
      section,
      kind,
      code: lines.slice(i + 1, end).join('\n') + '\n',
      file: `${kind}-line-${line}.ts`,
    });
    i = end;
  }
  return blocks;
}

const blocks = readmeBlocks(readFileSync(join(ROOT, 'README.md'), 'utf8'));
// Inside the package (a git-ignored folder), so that 'quark-amqp' resolves to the package itself.
const workDir = join(ROOT, '.tmp', `readme-examples-${process.pid}`);
const diagnostics = new Map<string, string[]>();

function compilerOptions(): ts.CompilerOptions {
  const config = ts.readConfigFile(join(ROOT, 'tsconfig.json'), (p) => ts.sys.readFile(p));
  if (config.error) throw new Error(ts.flattenDiagnosticMessageText(config.error.messageText, '\n'));
  const parsed = ts.parseJsonConfigFileContent(config.config, ts.sys, ROOT);
  if (!parsed.options.strict) throw new Error('tsconfig.json is expected to be strict');
  return { ...parsed.options, noEmit: true, noUnusedLocals: false, noUnusedParameters: false };
}

/** Type-checks `files` as one program; records each block's errors, as README.md:line: message. */
function typeCheck(
  files: Block[],
  extraRoots: string[],
  options: ts.CompilerOptions,
  oldProgram?: ts.Program,
): ts.Program {
  const program = ts.createProgram(
    [...extraRoots, ...files.map((b) => join(workDir, b.file))],
    options,
    undefined,
    oldProgram,
  );
  for (const b of files) diagnostics.set(b.file, []);
  // Syntactic and semantic errors of every file (getPreEmitDiagnostics stops at the first syntax error).
  const all = [
    ...program.getOptionsDiagnostics(),
    ...program.getGlobalDiagnostics(),
    ...program.getSyntacticDiagnostics(),
    ...program.getSemanticDiagnostics(),
  ];
  for (const d of all) {
    const text = ts.flattenDiagnosticMessageText(d.messageText, '\n');
    const block = d.file && files.find((b) => join(workDir, b.file) === d.file!.fileName);
    if (block && d.start !== undefined) {
      const { line } = d.file!.getLineAndCharacterOfPosition(d.start);
      diagnostics.get(block.file)!.push(`README.md:${block.line + line}: TS${d.code}: ${text}`);
    } else {
      // An error outside the blocks (the prelude, a missing type): every block of this program shows it.
      for (const b of files) diagnostics.get(b.file)!.push(`${d.file?.fileName ?? '(global)'}: TS${d.code}: ${text}`);
    }
  }
  return program;
}

beforeAll(() => {
  mkdirSync(workDir, { recursive: true });
  writeFileSync(join(workDir, 'prelude.d.ts'), PRELUDE);
  for (const b of blocks)
    writeFileSync(join(workDir, b.file), b.kind === 'fragment' ? `${b.code}export {};\n` : b.code);
  const options = compilerOptions();
  // Fragments see the prelude; complete programs are checked in a program of their own, without it.
  const first = typeCheck(
    blocks.filter((b) => b.kind === 'fragment'),
    [join(workDir, 'prelude.d.ts')],
    options,
  );
  typeCheck(
    blocks.filter((b) => b.kind !== 'fragment'),
    [],
    options,
    first,
  );
}, 60_000);

afterAll(() => {
  killPrograms();
  rmSync(workDir, { recursive: true, force: true });
});

describe('README.md TypeScript examples', () => {
  it('has code blocks to check, and complete programs among them that run', () => {
    expect(blocks.length).toBeGreaterThanOrEqual(10);
    expect(blocks.filter((b) => b.kind === 'runs').length).toBeGreaterThanOrEqual(2);
    expect(blocks[0]!.section).toBe('Quick start');
    expect(blocks[0]!.kind).toBe('runs');
  });

  for (const b of blocks) {
    const what = b.kind === 'fragment' ? 'fragment' : 'program';
    it(`${b.section}, line ${b.line} (${what}): type-checks under --strict`, () => {
      expect(diagnostics.get(b.file)).toEqual([]);
    });
  }

  for (const b of blocks.filter((x) => x.kind === 'runs')) {
    it(`${b.section}, line ${b.line}: runs to completion as pasted`, async () => {
      const js = ts.transpileModule(b.code, {
        compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
        fileName: b.file,
      }).outputText;
      const file = join(workDir, b.file.replace(/\.ts$/, '.mjs'));
      writeFileSync(file, js);
      const started = Date.now();
      const { code, stdout, stderr } = await startProgram(process.execPath, [file], ROOT, RUN_TIMEOUT).done;
      const elapsed = Date.now() - started;
      expect(stderr).toBe('');
      expect(
        elapsed,
        'a program that does not end was killed: does it stop its broker and close its connection?',
      ).toBeLessThan(RUN_TIMEOUT);
      expect(code).toBe(0);
      const printed = stdout.split('\n');
      for (const m of b.code.matchAll(/\/\/ prints (.+)$/gm)) expect(printed).toContain(m[1]!.trim());
    });
  }
});
