/**
 * The package layering of docs/architecture.md, checked by `npm run lint` (depcruise):
 *
 *   shared  ←  engine  ←  worker  ←  cli
 *     ↑          ↑   ↖ report ↗      ↑
 *   producer   reference        evaluation
 *
 * - shared depends on no other package of ours;
 * - the engine scores an image with no queue: it imports only `@overmap/shared/core` (never
 *   shared's queue or run-state modules, BullMQ or ioredis), never the fleet;
 * - the report and the reference tools use the engine, never the fleet (worker) or producer;
 * - only the cli ties the fleet, producer, report and evaluation together;
 * - nothing imports build output (`dist/`) by path, and there are no cycles.
 */
const pkg = (name) => `^packages/${name}/`;
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'cycles of runtime imports (a type-only import back is harmless: it is erased)',
      severity: 'error',
      from: {},
      to: { circular: true, viaOnly: { dependencyTypesNot: ['type-only'] } },
    },
    {
      name: 'shared-is-the-base',
      severity: 'error',
      from: { path: pkg('shared') },
      to: { path: '^packages/(?!shared/)[^/]+/' },
    },
    {
      name: 'engine-has-no-fleet',
      comment:
        'the scoring engine needs no queue: only @overmap/shared/core, no BullMQ/ioredis, no worker/producer/cli',
      severity: 'error',
      from: { path: pkg('engine') },
      to: {
        path: [
          '^packages/(worker|producer|cli|report|evaluation|reference)/',
          '^packages/shared/src/(index|queue|run-state|job-signing|logger|results/)',
          '(^|/)node_modules/(bullmq|ioredis|prom-client)/',
        ],
      },
    },
    {
      name: 'report-and-reference-use-the-engine-only',
      severity: 'error',
      from: { path: '^packages/(report|reference)/' },
      to: { path: '^packages/(worker|producer|cli)/' },
    },
    {
      name: 'fleet-and-producer-below-the-cli',
      severity: 'error',
      from: { path: '^packages/(worker|producer|evaluation)/' },
      to: { path: '^packages/(cli|report)/' },
    },
    {
      name: 'worker-and-producer-apart',
      severity: 'error',
      from: { path: '^packages/(worker|producer)/' },
      to: { path: '^packages/(worker|producer)/', pathNot: '^packages/$1/' },
    },
    {
      name: 'no-dist-imports',
      comment: 'tests and scripts import packages by name (jest maps them to src/, Node to dist/)',
      severity: 'error',
      from: { path: '^(test|scripts|packages)/' },
      to: { path: '^packages/[^/]+/dist/' },
    },
  ],
  options: {
    doNotFollow: { path: ['node_modules', '(^|/)dist/'] },

    tsConfig: { fileName: 'tsconfig.depcruise.json' },
    tsPreCompilationDeps: true,
    combinedDependencies: true,
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['types', 'require', 'default'],
      mainFields: ['types', 'main'],
    },
  },
};
