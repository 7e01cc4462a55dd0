// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import { importX } from 'eslint-plugin-import-x';
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript';
import globals from 'globals';

/**
 * Lint for tasklane (ESLint 9 flat config). Besides typescript-eslint's recommended rules it guards
 * the architecture (docs: /work/shared/STYLE.md habits 1 and 11):
 * - no import cycles (import-x/no-cycle);
 * - the core (src/core, src/api, src/ports) never imports an adapter, the management API or the CLI:
 *   adapters are chosen in one composition root, and management/CLI sit on top of the core.
 * Type-aware rules (no-floating-promises, no-misused-promises) run on the code the tsconfig covers.
 */

/** the layers the core must not reach, as import patterns relative to any core file */
const OUTSIDE_THE_CORE = ['adapters', 'management', 'cli'].flatMap((dir) => [
  `**/src/${dir}`,
  `**/src/${dir}/**`,
  `../${dir}`,
  `../${dir}/**`,
  `../../${dir}`,
  `../../${dir}/**`,
]);

export default tseslint.config(
  { linterOptions: { reportUnusedDisableDirectives: 'error' } },
  {
    ignores: ['dist/**', 'node_modules/**', 'dashboard/dist/**', 'coverage/**', 'test/package/host-ts/**'],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts', '**/*.tsx', '**/*.mts'],
    languageOptions: {
      parserOptions: {
        projectService: {
          allowDefaultProject: ['jest.config.ts', 'dashboard/vite.config.mts'],
        },
        tsconfigRootDir: import.meta.dirname,
      },
      globals: { ...globals.node },
    },
    plugins: { 'import-x': importX },
    settings: {
      // without these import-x takes .ts files for foreign ones and follows no import through them
      'import-x/extensions': ['.ts', '.tsx', '.mts', '.js'],
      'import-x/parsers': { '@typescript-eslint/parser': ['.ts', '.tsx', '.mts'] },
      'import-x/resolver-next': [createTypeScriptImportResolver({ project: ['tsconfig.json', 'dashboard/tsconfig.json'], noWarnOnMultipleProjects: true })],
    },
    rules: {
      'import-x/no-cycle': ['error', { ignoreExternal: true }],
      '@typescript-eslint/no-floating-promises': 'error',
      // a `let` that a callback made before its one assignment reads (safely undefined until then,
      // where a const would throw in its temporal dead zone) is deliberate, not a missed const
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false, attributes: false } }],
      // unused names are already an error of the compiler (noUnusedLocals); `_name` marks one kept on purpose
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none', ignoreRestSiblings: true }],
    },
  },
  {
    files: ['src/core/**/*.ts', 'src/api/**/*.ts', 'src/ports/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: OUTSIDE_THE_CORE,
              message:
                'src/core, src/api and src/ports never import adapters, the management API or the CLI: take the port, and let the composition root pick the adapter.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['test/**/*.ts', 'plugins/**/*.test.ts'],
    rules: {
      // tests walk untyped JSON (JSON Schemas, GraphQL answers) to compare it with what they expect;
      // a declared type there would only restate the expectation
      '@typescript-eslint/no-explicit-any': 'off',
    },
  },
  {
    // library code logs through the injected logger (the host decides where logs go); the CLI,
    // the sample app, benches and tests may print
    files: ['src/**/*.ts', 'plugins/**/*.ts'],
    ignores: ['src/cli/**', 'plugins/**/*.test.ts'],
    rules: { 'no-console': 'error' },
  },
  {
    // plain CommonJS scripts (child processes of tests, the packed-package host): require is how they load
    files: ['**/*.js'],
    languageOptions: { sourceType: 'commonjs', globals: { ...globals.node } },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    files: ['**/*.mjs'],
    languageOptions: { globals: { ...globals.node } },
  },
  {
    files: ['dashboard/src/**/*.ts', 'dashboard/src/**/*.tsx'],
    languageOptions: { globals: { ...globals.browser } },
  },
);
