import type { Config } from 'jest';

/**
 * ts-jest transpiles each file on its own (isolatedModules): fast, and decorator metadata is still
 * emitted. Type errors are caught by `npm run typecheck`, which `npm test` runs first.
 */
const config: Config = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test', '<rootDir>/plugins'],
  testMatch: ['**/*.test.ts'],
  transform: {
    '^.+\\.ts$': ['ts-jest', { diagnostics: false }],
  },
  setupFiles: ['<rootDir>/test/helpers/setup.ts'],
  testTimeout: 30_000,
  maxWorkers: 2,
};

export default config;
