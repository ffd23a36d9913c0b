/**
 * Two projects: `unit` (`*.unit.test.ts`: no Redis, no S3 server, no child processes; seconds)
 * and `integration` (every other `*.test.ts`: real Redis, a real S3 API server, worker
 * processes, real models, a real browser). `npm run test:unit` runs the first alone; `npm test`
 * runs both.
 */
const common = {
  // node, with the host's typed arrays: onnxruntime-node's outputs fail its own instanceof checks in jest's realm.
  testEnvironment: '<rootDir>/test/helpers/onnx-environment.js',
  roots: ['<rootDir>/test'],
  transform: {
    '^.+\\.ts$': ['ts-jest', { tsconfig: '<rootDir>/test/tsconfig.json' }],
    '/node_modules/hyparquet(-writer)?/.+\\.js$': '<rootDir>/test/helpers/esm-to-cjs.js',
  },
  // ES-module-only packages that the code under test require()s (Node >= 20.19 does that natively;
  // jest on Node 20 does not).
  transformIgnorePatterns: ['/node_modules/(?!(hyparquet|hyparquet-writer)/)'],
  // Tests import the packages by name, as users do; here the names map to their sources.
  // (Spawned CLI and worker processes run the built dist/, as users' do.)
  moduleNameMapper: {
    '^@overmap/([a-z]+)$': '<rootDir>/packages/$1/src/index.ts',
    '^@overmap/([a-z]+)/([a-z-]+)$': '<rootDir>/packages/$1/src/$2.ts',
  },
};

/** @type {import('jest').Config} */
module.exports = {
  projects: [
    { ...common, displayName: 'unit', testMatch: ['**/*.unit.test.ts'] },
    {
      ...common,
      displayName: 'integration',
      testMatch: ['**/*.test.ts'],
      testPathIgnorePatterns: ['\\.unit\\.test\\.ts$'],
    },
  ],
  // Integration tests start real Redis, S3 and worker processes: generous per-test limits,
  // never used as performance assertions.
  testTimeout: 180_000,
  maxWorkers: 2,
};
