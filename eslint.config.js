import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**', 'web/dist/**', 'test-output/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-explicit-any': 'off',
    },
  },
  {
    files: ['bin/**/*.js', 'scripts/**/*.mjs'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly' } },
  },
  {
    // Within src/, import from the module that defines a name, not from a layer's index.js: a
    // barrel loads its whole layer (NATS, WebSockets, YAML, libsodium…), and every CLI command paid
    // for it at start-up (\`aethir keys ls\` 305 → 204 ms once src/ stopped importing barrels).
    files: ['src/**/*.ts'],
    ignores: ['src/**/index.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/index.js', '!**/node/index.js'],
              message: "import from the module that defines it (a layer's index.js loads the whole layer)",
            },
          ],
        },
      ],
    },
  },
  {
    // Domain code is deterministic: time and randomness come from a Clock and an Rng.
    files: ['src/ledger/**', 'src/checker/**', 'src/indexer/**', 'src/dao/**'],
    rules: {
      'no-restricted-syntax': [
        'error',
        {
          selector: "CallExpression[callee.object.name='Date'][callee.property.name='now']",
          message: 'Use the injected Clock.',
        },
        {
          selector: "CallExpression[callee.object.name='Math'][callee.property.name='random']",
          message: 'Use the injected Rng.',
        },
        {
          selector: "NewExpression[callee.name='Date'][arguments.length=0]",
          message: 'Use the injected Clock.',
        },
      ],
      'no-restricted-globals': ['error', 'setTimeout', 'setInterval'],
    },
  },
);
