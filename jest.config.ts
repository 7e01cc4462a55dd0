import type { Config } from 'jest';

/**
 * ts-jest transpiles each file on its own (isolatedModules): fast, and decorator metadata is still
 * emitted. Type errors are caught by `npm run typecheck`, which `npm test` runs first.
 *
 * test/serial holds tests that disturb everything else running at the same time (e.g. restarting
 * the PostgreSQL server). Plain `jest` ignores them; with TASKLANE_SERIAL=1 jest selects only them,
 * and `npm test` runs them that way after the rest: `jest && TASKLANE_SERIAL=1 jest --runInBand`.
 */
const serial = process.env.TASKLANE_SERIAL === '1';

const config: Config = {
  // jest's node environment plus the leak guard's check after each file (test/helpers/leak-guard.ts)
  testEnvironment: '<rootDir>/test/helpers/leak-guard-environment.ts',
  roots: serial ? ['<rootDir>/test/serial'] : ['<rootDir>/test', '<rootDir>/plugins'],
  testMatch: serial ? ['<rootDir>/test/serial/**/*.test.ts'] : ['**/*.test.ts'],
  testPathIgnorePatterns: serial ? ['/node_modules/'] : ['/node_modules/', '/test/serial/'],
  transform: {
    '^.+\\.ts$': ['ts-jest', { diagnostics: false }],
  },
  // compiles the JavaScript that child processes of tests run (test/helpers/child-build.ts)
  globalSetup: '<rootDir>/test/helpers/global-setup.ts',
  setupFiles: ['<rootDir>/test/helpers/setup.ts'],
  setupFilesAfterEnv: ['<rootDir>/test/helpers/leak-guard.ts'],
  testTimeout: 30_000,
  maxWorkers: serial ? 1 : 2,
};

export default config;
