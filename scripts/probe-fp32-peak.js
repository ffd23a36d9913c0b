#!/usr/bin/env node
/**
 * node scripts/probe-fp32-peak.js — the machine's measured FP32 peak, as ONNX Runtime reaches
 * it: one large float32 MatMul ([n, n] × [n, n], n = 2048: 17.2 GFLOP) in an ONNX graph built
 * here, run with 1 intra-op thread and with as many threads as there are cores; best of 5
 * runs after a warm-up. bench:backends divides its FLOP rates by these figures. JSON on stdout.
 */
'use strict';
const os = require('node:os');
const ort = require('onnxruntime-node');
const { onnx } = require('onnx-proto');

function matmulModel(n) {
  const F32 = onnx.TensorProto.DataType.FLOAT;
  const v = (name) => ({
    name,
    type: { tensorType: { elemType: F32, shape: { dim: [{ dimValue: n }, { dimValue: n }] } } },
  });
  return onnx.ModelProto.encode(
    onnx.ModelProto.create({
      irVersion: 7,
      opsetImport: [{ domain: '', version: 13 }],
      graph: {
        name: 'matmul',
        node: [{ opType: 'MatMul', input: ['a', 'b'], output: ['c'] }],
        input: [v('a'), v('b')],
        output: [v('c')],
      },
    }),
  ).finish();
}

/**
 * GFLOP/s of the best of `reps` runs of an n×n×n float32 MatMul with `threads` intra-op threads;
 * with `detail`, also GFLOP per CPU-second of the run that used the least CPU time.
 */
async function matmulPeak(threads, n = 2048, reps = 5, detail = false) {
  const session = await ort.InferenceSession.create(matmulModel(n), {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    extra: { session: { intra_op: { allow_spinning: '1' } } },
  });
  const fill = () => Float32Array.from({ length: n * n }, (_, i) => ((i * 7919) % 1000) / 1000 - 0.5);
  const feeds = { a: new ort.Tensor('float32', fill(), [n, n]), b: new ort.Tensor('float32', fill(), [n, n]) };
  await session.run(feeds);
  let best = Infinity,
    bestCpu = Infinity;
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    await session.run(feeds);
    best = Math.min(best, performance.now() - t0);
    const c = process.cpuUsage(c0);
    bestCpu = Math.min(bestCpu, (c.user + c.system) / 1e3);
  }
  await session.release();
  const gflops = (ms) => (2 * n ** 3) / (ms / 1000) / 1e9;
  return detail ? { wall: gflops(best), perCpuSecond: gflops(bestCpu) } : gflops(best);
}

module.exports = { matmulPeak };

if (require.main === module) {
  (async () => {
    const cores = os.availableParallelism();
    const res = { onnxruntime: require('onnxruntime-node/package.json').version, cores, n: 2048 };
    const one = await matmulPeak(1, 2048, 5, true);
    res.gflops1Thread = Math.round(one.wall);
    // CPU time: what one dedicated core gives even when other jobs share the machine
    res.gflops1ThreadPerCpuSecond = Math.round(one.perCpuSecond);
    res[`gflops${cores}Threads`] = Math.round(await matmulPeak(cores));
    console.log(JSON.stringify(res, null, 2));
  })().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
