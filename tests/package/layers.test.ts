/**
 * The layer rule of eslint.config.mjs (README, Architecture): an import that goes up a layer
 * fails lint. Checked on made-up modules, so that the rule is known to bite, not only to pass.
 */
import { ESLint } from 'eslint';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));
// The made-up modules are in no TypeScript project: the type-aware rules (and their parser
// setting) are left out here; the layer rule needs no types.
const eslint = new ESLint({
  cwd: root,
  overrideConfig: {
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { projectService: false } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'off',
      '@typescript-eslint/no-misused-promises': 'off',
      '@typescript-eslint/await-thenable': 'off',
      '@typescript-eslint/return-await': 'off',
      '@typescript-eslint/only-throw-error': 'off',
      '@typescript-eslint/prefer-promise-reject-errors': 'off',
    },
  },
});

/** The no-restricted-imports messages for a module at `path` (relative to src/) holding `code`. */
async function layerErrors(path: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: `${root}src/${path}` });
  return result!.messages.filter((m) => m.ruleId === 'no-restricted-imports').map((m) => m.message);
}

describe('the layer rule', () => {
  it.each([
    [
      'engine/upward.ts',
      "import type { Connection } from '../client/connection.js';\nexport type X = Connection;\n",
      'src/engine is below src/client',
    ],
    [
      'client/upward.ts',
      "import { sendTo } from '../rx/send-to.js';\nexport const x = sendTo;\n",
      'src/client is below src/rx',
    ],
    [
      'codec/upward.ts',
      "import type { ProtocolEngine } from '../engine/engine.js';\nexport type X = ProtocolEngine;\n",
      'src/codec is below src/engine',
    ],
    [
      'server/broker/upward.ts',
      "import { Container } from '../../container/container.js';\nexport const x = Container;\n",
      'src/server is below src/container',
    ],
    [
      'transport/upward.ts',
      "import { Session } from '../client/session.js';\nexport const x = Session;\n",
      'src/transport is below src/client',
    ],
    [
      'errors.ts',
      "import { encodeValue } from './codec/value-bytes.js';\nexport const x = encodeValue;\n",
      'src/errors is below src/codec',
    ],
    [
      'container/upward.ts',
      "import { connect } from '../index.js';\nexport const x = connect;\n",
      'public entry point',
    ],
  ])('fails lint on an import that goes up: %s', async (path, code, expected) => {
    const errors = await layerErrors(path, code);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toContain(expected);
  });

  it.each([
    [
      'client/downward.ts',
      "import type { EngineLink } from '../engine/link.js';\nimport { decodeMessage } from '../codec/message.js';\nexport type X = EngineLink;\nexport const y = decodeMessage;\n",
    ],
    [
      'container/downward.ts',
      "import { listen } from '../server/listener.js';\nimport { sendTo } from '../rx/send-to.js';\nexport const x = [listen, sendTo];\n",
    ],
    [
      'engine/downward.ts',
      "import { rxjs } from '../runtime/rxjs-module.js';\nimport { AmqpError } from '../errors.js';\nexport const x = [rxjs, AmqpError];\n",
    ],
  ])('passes an import that goes down: %s', async (path, code) => {
    expect(await layerErrors(path, code)).toEqual([]);
  });
});

/**
 * Every member of a lower layer (client, engine, transport, codec) that an upper layer (rx,
 * server, container, cli) uses and that is marked internal: where it is used. The listening side
 * reaches below the public API only through src/client/listening-side.ts.
 */
function internalMembersUsedAbove(): string[] {
  const program = ts.createProgram([`${root}src/index.ts`, `${root}src/cli/main.ts`], {
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
    strict: true,
    types: ['node'],
  });
  const checker = program.getTypeChecker();
  const upper = /\/src\/(rx|server|container|cli)\//;
  const lower = /\/src\/(client|engine|transport|codec)\//;
  const isInternal = (d: ts.Declaration): boolean => ts.getJSDocTags(d).some((t) => t.tagName.text === 'internal');
  const found: string[] = [];
  for (const file of program.getSourceFiles()) {
    if (!upper.test(file.fileName)) continue;
    const visit = (node: ts.Node): void => {
      let declarations: readonly ts.Declaration[] = [];
      if (ts.isPropertyAccessExpression(node))
        declarations = checker.getSymbolAtLocation(node.name)?.declarations ?? [];
      else if (ts.isNewExpression(node)) {
        const declaration = checker.getResolvedSignature(node)?.declaration;
        if (declaration !== undefined && !ts.isJSDocSignature(declaration)) declarations = [declaration];
      }
      const below = declarations.filter(
        (d) => lower.test(d.getSourceFile().fileName) && !d.getSourceFile().fileName.endsWith('/listening-side.ts'),
      );
      // A getter may be public where its setter is internal: internal means every declaration is.
      if (below.length > 0 && below.every(isInternal)) {
        const { line } = file.getLineAndCharacterOfPosition(node.getStart());
        found.push(`${file.fileName.replace(/.*\/src\//, 'src/')}:${line + 1}: ${node.getText()}`);
      }
      ts.forEachChild(node, visit);
    };
    visit(file);
  }
  return found;
}

describe('the layers above the client', () => {
  it('use no member of a lower layer marked internal (the listening side goes through src/client/listening-side.ts)', () => {
    expect(internalMembersUsedAbove()).toEqual([]);
  }, 60_000);
});
