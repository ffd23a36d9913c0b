/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: '<rootDir>/test/tsconfig.json' }] },
  // Integration tests start real Redis, S3 and worker processes: generous per-test limits,
  // never used as performance assertions.
  testTimeout: 180_000,
  maxWorkers: 2,
};
