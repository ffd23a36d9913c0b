/**
 * Jest's node environment with the host's typed-array constructors. Jest runs each test file
 * in its own realm, whose Float32Array is not the one onnxruntime-node's native binding
 * creates, so ORT's `instanceof Float32Array` checks fail on its own outputs ("A float32
 * tensor's data must be type of Float32Array"). jest.config.js makes it the environment.
 */
'use strict';
const { TestEnvironment } = require('jest-environment-node');

const TYPED = [
  'Float32Array',
  'Float64Array',
  'Int8Array',
  'Int16Array',
  'Int32Array',
  'Uint8Array',
  'Uint8ClampedArray',
  'Uint16Array',
  'Uint32Array',
  'BigInt64Array',
  'BigUint64Array',
];

class OnnxEnvironment extends TestEnvironment {
  constructor(config, context) {
    super(config, context);
    for (const name of TYPED) this.global[name] = globalThis[name];
  }
}

module.exports = OnnxEnvironment;
