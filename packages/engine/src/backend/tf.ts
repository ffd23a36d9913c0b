/**
 * The one import point for TensorFlow.js in the worker. Every module imports `tf` from
 * here. `@tensorflow/tfjs` (not tfjs-core alone) because its Node bundle registers all
 * gradients and the chained tensor methods; npm dedupes it onto the single
 * @tensorflow/tfjs-core that the wasm and cpu backends (and tfjs-node, where installed)
 * register into.
 */
export * from '@tensorflow/tfjs';
