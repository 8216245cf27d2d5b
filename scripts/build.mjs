// Builds the ESM and CommonJS outputs from one TypeScript source into dist/. The build goes to a
// fresh folder first and replaces dist/ in one rename, so a running test never sees half a build.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
const staging = join(root, `.dist-build-${process.pid}`);
rmSync(staging, { recursive: true, force: true });
try {
  for (const [project, out] of [['tsconfig.build.json', 'esm'], ['tsconfig.build.cjs.json', 'cjs']]) {
    execFileSync(process.execPath, [tsc, '-p', join(root, project), '--outDir', join(staging, out)], { stdio: 'inherit', cwd: root });
  }
  // Node reads the nearest package.json to choose the module system of dist/cjs/*.js.
  mkdirSync(join(staging, 'cjs'), { recursive: true });
  writeFileSync(join(staging, 'cjs', 'package.json'), '{ "type": "commonjs" }\n');
  // The one module that differs between the builds: in CommonJS, `require` is the module's own
  // (the ESM source makes one from import.meta.url, which CommonJS does not have).
  const packageRequire = join(staging, 'cjs', 'runtime', 'package-require.js');
  if (!readFileSync(packageRequire, 'utf8').includes('import.meta.url')) throw new Error(`${packageRequire} is not the module the build expects to replace`);
  writeFileSync(packageRequire, '"use strict";\n// Written by scripts/build.mjs: the CommonJS build\'s own require (see src/runtime/package-require.ts).\nObject.defineProperty(exports, "__esModule", { value: true });\nexports.packageRequire = require;\n');
  const old = join(root, `.dist-old-${process.pid}`);
  try {
    renameSync(join(root, 'dist'), old);
  } catch {
    // No previous build.
  }
  renameSync(staging, join(root, 'dist'));
  rmSync(old, { recursive: true, force: true });
} finally {
  rmSync(staging, { recursive: true, force: true });
}
