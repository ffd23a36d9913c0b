/** @type {import('jest').Config} */
module.exports = {
  // node, with the host's typed arrays: onnxruntime-node's outputs fail its own instanceof checks in jest's realm.
  testEnvironment: '<rootDir>/test/helpers/onnx-environment.js',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: {
    '^.+\\.ts$': ['ts-jest', { tsconfig: '<rootDir>/test/tsconfig.json' }],
    '/node_modules/hyparquet(-writer)?/.+\\.js$': '<rootDir>/test/helpers/esm-to-cjs.js',
  },
  // ES-module-only packages that the code under test require()s (Node >= 20.19 does that natively; jest on Node 20 does not).
  transformIgnorePatterns: ['/node_modules/(?!(hyparquet|hyparquet-writer)/)'],
  // Tests import the packages by name, as users do; here the names map to their sources.
  // (Spawned CLI and worker processes run the built dist/, as users' do.)
  moduleNameMapper: {
    '^@overmap/([a-z]+)$': '<rootDir>/packages/$1/src/index.ts',
    '^@overmap/([a-z]+)/([a-z-]+)$': '<rootDir>/packages/$1/src/$2.ts',
  },
  // Integration tests start real Redis, S3 and worker processes: generous per-test limits,
  // never used as performance assertions.
  testTimeout: 180_000,
  maxWorkers: 2,
};
