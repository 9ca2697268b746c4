#!/usr/bin/env node
// Model benchmark (not a test). Runs against dist/ (npx tsc -p . first).
// Prints, per thread count: StNet forward time per video at seg_num 25 for 256x256 and 224x224 (median of
// --runs after one warm-up), the FLOP count walked from the ONNX graph (FLOPs = 2 x conv/fc MACs), achieved
// GFLOP/s, graph build and session creation time, and onnxruntime's GFLOP/s on a 2048x2048x2048 fp32 MatMul
// with the same threads in the same run, and the ratio StNet/MatMul (target >= 0.85).
//
// Usage: node bench/model.mjs [--weights W] [--threads 1,2] [--sizes 256,224] [--seg 25] [--runs 5]
//                             [--temporal conv2d|conv3d] [--opt all|extended|basic|disabled] [--json]
// Weights default: STNET_WEIGHTS, else the golden seed-7 weights (random weights run at the same speed).
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { goldenFile } from './lib.mjs';

const dist = (p) => new URL(`../dist/${p}`, import.meta.url).href;
if (!existsSync(new URL('../dist/graph/stnet.js', import.meta.url))) {
  console.error('bench/model.mjs: dist/ is missing; run `npx tsc -p .` first');
  process.exit(2);
}
const { buildStnetOnnx } = await import(dist('graph/stnet.js'));
const { GraphBuilder } = await import(dist('graph/onnx.js'));
const { ModelSession } = await import(dist('graph/session.js'));
const { countFlops } = await import(dist('graph/flops.js'));
const { loadWeights } = await import(dist('weights/index.js'));

const { values: args } = parseArgs({
  options: {
    weights: { type: 'string' },
    threads: { type: 'string', default: '1,2' },
    sizes: { type: 'string', default: '256,224' },
    seg: { type: 'string', default: '25' },
    runs: { type: 'string', default: '5' },
    temporal: { type: 'string', default: 'conv2d' },
    opt: { type: 'string', default: 'all' },
    json: { type: 'boolean', default: false },
  },
});
const threadsList = args.threads.split(',').map(Number);
const sizes = args.sizes.split(',').map(Number);
const segNum = Number(args.seg);
const runs = Math.max(5, Number(args.runs));


const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

function matmulModel(n) {
  const g = new GraphBuilder();
  const b = new Float32Array(n * n).map((_, i) => ((i * 7919) % 1000) / 1000 - 0.5);
  const bName = g.float('b', [n, n], b);
  const out = g.op('MatMul', ['a', bName], {}, 'c');
  return g.encode({ graphName: 'matmul', inputs: [{ name: 'a', dims: [n, n] }], outputs: [{ name: out, dims: [n, n] }], producerVersion: 'bench' });
}

const weightsArg = args.weights ?? process.env.STNET_WEIGHTS;
let t = performance.now();
let weights;
if (weightsArg) weights = await loadWeights(weightsArg);
else {
  const golden = goldenFile('stnet_seed7_q.lodtensor');
  if (golden === undefined) {
    console.error('bench/model.mjs: pass --weights or set STNET_WEIGHTS (golden weights not found)');
    process.exit(2);
  }
  weights = await loadWeights(golden);
}
const loadMs = performance.now() - t;
t = performance.now();
const model = buildStnetOnnx(weights, { temporalConv: args.temporal });
const buildMs = performance.now() - t;
weights = undefined;

const N = 2048;
const mm = matmulModel(N);
const mmA = new Float32Array(N * N).map((_, i) => ((i * 104729) % 1000) / 1000 - 0.5);
const mmFlops = 2 * N ** 3;

const results = [];
const log = (s) => {
  if (!args.json) console.log(s);
};
log(`StNet model benchmark: seg_num ${segNum}, sizes ${sizes.join(', ')}, threads ${threadsList.join(', ')}, median of ${runs} runs after 1 warm-up, temporal conv as ${args.temporal}, graph optimization ${args.opt}`);
log(`weights load ${loadMs.toFixed(0)} ms, graph build ${buildMs.toFixed(0)} ms, model ${(model.length / 2 ** 20).toFixed(1)} MiB`);
for (const threads of threadsList) {
  const mmSession = await ModelSession.create(mm, { threads, useGpu: false });
  t = performance.now();
  const session = await ModelSession.create(model, { threads, useGpu: false, optimization: args.opt });
  const sessionMs = performance.now() - t;
  const inputs = sizes.map((s) => {
    const dims = [1, segNum, 15, s, s];
    return { s, dims, data: new Float32Array(segNum * 15 * s * s).map((_, i) => Math.sin(i * 0.001)), flops: countFlops(model, dims).flops };
  });
  // Warm-up (the first run allocates the arena and picks kernels), then MatMul and StNet runs interleaved, so
  // that load from other processes on a shared machine affects both sides of the ratio alike.
  await mmSession.run(mmA, [N, N]);
  for (const x of inputs) await session.run(x.data, x.dims);
  const mmMs = [];
  const stMs = inputs.map(() => []);
  for (let i = 0; i < runs; i++) {
    for (let k = 0; k < inputs.length; k++) {
      let t0 = performance.now();
      await mmSession.run(mmA, [N, N]);
      mmMs.push(performance.now() - t0);
      t0 = performance.now();
      await session.run(inputs[k].data, inputs[k].dims);
      stMs[k].push(performance.now() - t0);
    }
  }
  await mmSession.close();
  await session.close();
  const mmMedian = median(mmMs);
  const mmGflops = mmFlops / (mmMedian / 1000) / 1e9;
  log(`\nthreads ${threads}: session creation ${sessionMs.toFixed(0)} ms; MatMul ${N}^3 fp32 median ${mmMedian.toFixed(1)} ms = ${mmGflops.toFixed(1)} GFLOP/s`);
  inputs.forEach((x, k) => {
    const ms = median(stMs[k]);
    const gflops = x.flops / (ms / 1000) / 1e9;
    const row = {
      threads,
      size: x.s,
      segNum,
      medianMs: ms,
      minMs: Math.min(...stMs[k]),
      maxMs: Math.max(...stMs[k]),
      gflop: x.flops / 1e9,
      gflops,
      matmulGflops: mmGflops,
      ratio: gflops / mmGflops,
      sessionMs,
    };
    results.push(row);
    log(
      `  ${segNum}x${x.s}x${x.s}: ${ms.toFixed(0)} ms/video (min ${row.minMs.toFixed(0)}, max ${row.maxMs.toFixed(0)}), ` +
        `${row.gflop.toFixed(1)} GFLOP -> ${gflops.toFixed(1)} GFLOP/s, ratio StNet/MatMul ${row.ratio.toFixed(3)}`,
    );
  });
}
if (args.json) console.log(JSON.stringify({ loadMs, buildMs, temporal: args.temporal, results }, null, 2));
