import js from '@eslint/js';
import tseslint from 'typescript-eslint';

// The layers of src/, bottom up (README, Architecture). A module may import only from its own
// layer and the ones before it; an import that goes up fails lint. errors.ts, runtime/ and
// collections/ are the base every layer may use.
const layers = [
  'errors',
  'runtime',
  'collections',
  'codec',
  'engine',
  'transport',
  'client',
  'rx',
  'server',
  'container',
  'cli',
];
const importOf = (layer) => (layer === 'errors' ? '(^|/)errors\\.js$' : `(^|/)${layer}/`);
const layerRules = layers.map((layer, i) => {
  const above = layers.slice(i + 1);
  return {
    files: [layer === 'errors' ? 'src/errors.ts' : `src/${layer}/**/*.ts`],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            ...above.map((upper) => ({
              regex: importOf(upper),
              message: `src/${layer} is below src/${upper}: layers go ${layers.join(' -> ')} (README, Architecture); move the code down, or ask for a typed hook from below.`,
            })),
            {
              regex: '^(\\.\\./)+index\\.js$',
              message: 'src/index.ts is the public entry point; import the module itself.',
            },
          ],
        },
      ],
    },
  };
});

export default tseslint.config(
  {
    ignores: [
      'dist/**',
      'coverage/**',
      'docs/api/**',
      '.tmp/**',
      'node_modules/**',
      '.dist-build-*/**',
      '.dist-old-*/**',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: 'readonly', console: 'readonly', Buffer: 'readonly' } },
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-constant-condition': ['error', { checkLoops: false }],
    },
  },
  ...layerRules,
  {
    // Node.js defines the global Buffer as a getter, which V8 calls at each use (about 7 ns): the
    // receive path used it several times per message. Imported, it is a plain binding.
    files: ['src/**/*.ts'],
    rules: {
      'no-restricted-globals': [
        'error',
        {
          name: 'Buffer',
          message: "import { Buffer } from 'node:buffer' (the global is a getter V8 calls at each use).",
        },
      ],
    },
  },
  {
    // Rules that need the types: a promise nobody handles is a rejection nobody sees.
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/await-thenable': 'error',
      '@typescript-eslint/return-await': ['error', 'in-try-catch'],
      '@typescript-eslint/only-throw-error': 'error',
      // Passing on a caught error (typed unknown) is fine; rejecting with a string or undefined is not.
      '@typescript-eslint/prefer-promise-reject-errors': ['error', { allowThrowingUnknown: true }],
    },
  },
  {
    files: ['**/*.mjs', '**/*.cjs', '**/*.js'],
    languageOptions: {
      globals: {
        process: 'readonly',
        console: 'readonly',
        Buffer: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        URL: 'readonly',
        AbortController: 'readonly',
      },
    },
  },
);
