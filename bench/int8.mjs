#!/usr/bin/env node
// int8 benchmark (not a test). Runs against dist/ (npx tsc -p . first).
// Prints: the forward time of the fp32 and the int8 graph at seg_num 25, 256x256, 2 threads, measured alternately
// (fp32, int8, fp32, int8, ...) in one process so that both see the same machine load, and the ratio
// fp32/int8 (target >= 2.5); then, each in a fresh process, the load time (file read + check + session) and the
// peak RSS of `StNet.load({ model })` for both files.
//
// Usage: node bench/int8.mjs [--weights W] [--threads 2] [--size 256] [--seg 25] [--runs 5]
//                            [--int8_layers conv1,resnet,temporal] [--calib_size 112] [--calib_seg 7]
// The int8 graph is calibrated on the bundled example clip; --calib_size/--calib_seg make that quicker (the speed
// does not depend on the ranges). Weights default: STNET_WEIGHTS, else the golden seed-7 weights.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = fileURLToPath(new URL('../', import.meta.url));
const dist = (p) => new URL(`../dist/${p}`, import.meta.url).href;
if (!existsSync(new URL('../dist/model/quantize.js', import.meta.url))) {
  console.error('bench/int8.mjs: dist/ is missing or stale; run `npx tsc -p .` first');
  process.exit(2);
}
const { buildStnetOnnx } = await import(dist('graph/stnet.js'));
const { ModelSession } = await import(dist('graph/session.js'));
const { loadWeights } = await import(dist('weights/index.js'));
const { buildInt8Model, DEFAULT_INT8_GROUPS } = await import(dist('model/quantize.js'));
const { GraphBuilder } = await import(dist('graph/onnx.js'));
const { quantizeStnetModel } = await import(dist('graph/quantize.js'));

const { values: args } = parseArgs({
  options: {
    weights: { type: 'string' },
    threads: { type: 'string', default: '2' },
    size: { type: 'string', default: '256' },
    seg: { type: 'string', default: '25' },
    runs: { type: 'string', default: '5' },
    int8_layers: { type: 'string' },
    calib_size: { type: 'string', default: '112' },
    calib_seg: { type: 'string', default: '7' },
  },
});
const threads = Number(args.threads);
const size = Number(args.size);
const segNum = Number(args.seg);
const runs = Math.max(3, Number(args.runs));
const groups = args.int8_layers ? args.int8_layers.split(',') : DEFAULT_INT8_GROUPS;

function goldenWeights() {
  const cached = `${root}.cache/test/stnet_seed7_q.pdparams`;
  if (existsSync(cached)) return cached;
  const src = `${root}../shared/fixtures/golden/stnet_seed7_q.pdparams.xz`;
  if (!existsSync(src)) {
    console.error('bench/int8.mjs: pass --weights or set STNET_WEIGHTS (golden weights not found)');
    process.exit(2);
  }
  mkdirSync(`${root}.cache/test`, { recursive: true });
  const r = spawnSync('xz', ['-dc', '--', src], { maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`xz failed: ${r.stderr}`);
  writeFileSync(cached, r.stdout);
  return cached;
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const weights = await loadWeights(args.weights ?? process.env.STNET_WEIGHTS ?? goldenWeights());
const fp32 = buildStnetOnnx(weights);
let t = performance.now();
const int8 = await buildInt8Model(fp32, { threads, groups, clip: { segNum: Number(args.calib_seg), shortSize: Number(args.calib_size), targetSize: Number(args.calib_size) } });
const quantizeMs = performance.now() - t;
console.log(`int8 graph (${groups.join(', ')}): calibrated + quantized in ${(quantizeMs / 1000).toFixed(1)} s; ${(fp32.length / 1048576).toFixed(1)} MiB fp32 -> ${(int8.length / 1048576).toFixed(1)} MiB int8`);

// Forward passes, alternated. (Copies with new Uint8Array: a Buffer's slice() is a view, and the session takes the memory.)
const dims = [1, segNum, 15, size, size];
const input = new Float32Array(dims.reduce((a, b) => a * b, 1)).map((_, i) => Math.sin(i * 0.37));
const sFp32 = await ModelSession.create(new Uint8Array(fp32), { threads, useGpu: false, transferModel: true });
const sInt8 = await ModelSession.create(new Uint8Array(int8), { threads, useGpu: false, transferModel: true });
await sFp32.run(input, dims); // warm-up
await sInt8.run(input, dims);
const times = { fp32: [], int8: [] };
for (let r = 0; r < runs; r++) {
  for (const [name, s] of [['fp32', sFp32], ['int8', sInt8]]) {
    t = performance.now();
    await s.run(input, dims);
    times[name].push(performance.now() - t);
  }
}
await sFp32.close();
await sInt8.close();
const mf = median(times.fp32);
const mi = median(times.int8);
console.log(`forward seg ${segNum}, ${size}x${size}, ${threads} threads, ${runs} alternated runs each (median):`);
console.log(`  fp32 ${mf.toFixed(0)} ms   [${times.fp32.map((x) => x.toFixed(0)).join(', ')}]`);
console.log(`  int8 ${mi.toFixed(0)} ms   [${times.int8.map((x) => x.toFixed(0)).join(', ')}]`);
console.log(`  ratio fp32/int8 ${(mf / mi).toFixed(2)}x (target >= 2.5x)`);

// Load time and peak RSS of each file, each in a fresh process.
const dir = mkdtempSync(join(tmpdir(), 'stnet-bench-int8-'));
try {
  const files = { fp32: join(dir, 'stnet.onnx'), int8: join(dir, 'stnet-int8.onnx') };
  writeFileSync(files.fp32, fp32);
  writeFileSync(files.int8, int8);
  const child = `
    const { StNet } = await import(${JSON.stringify(dist('stnet.js'))});
    const t = performance.now();
    const m = await StNet.load({ model: process.argv[1], threads: ${threads} });
    const ms = performance.now() - t;
    await m.close();
    // VmHWM (this process's own peak): getrusage's maxRSS survives exec on Linux, so a child would report the
    // bench process's peak instead of its own.
    let kb = process.resourceUsage().maxRSS;
    try {
      const m = /VmHWM:\\s+(\\d+) kB/.exec((await import('node:fs')).readFileSync('/proc/self/status', 'utf8'));
      if (m) kb = Number(m[1]);
    } catch {}
    console.log(JSON.stringify({ ms, maxRssMiB: kb / 1024 }));
  `;
  console.log('StNet.load({ model }) in a fresh process (read + check + onnxruntime session):');
  for (const name of ['fp32', 'int8']) {
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', child, files[name]], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`load of ${name} failed: ${r.stderr}`);
    const { ms, maxRssMiB } = JSON.parse(r.stdout.trim().split('\n').pop());
    console.log(`  ${name} load ${ms.toFixed(0)} ms, peak RSS ${maxRssMiB.toFixed(0)} MiB`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}

// The kernel: a chain of 4 ResNet stage-3 3x3 convs (128 -> 128 channels, 32x32, 25 frames) + ReLU, fp32 Conv
// against the same chain quantized (-> 4 QLinearConv, with one quantize/transpose at each end), alternated.
// Roughly the ceiling of the whole-network ratio on this CPU.
{
  const g = new GraphBuilder();
  const ranges = new Map([['x', { min: 0, max: 4 }]]);
  let x = 'x';
  for (let k = 0; k < 4; k++) {
    const w = new Float32Array(128 * 128 * 9).map((_, i) => Math.sin(i * 0.7 + k) * 0.05);
    const y = g.op('Conv', [x, g.float(`res_bench${k}_w`, [128, 128, 3, 3], w), g.float(`res_bench${k}_b`, [128], new Float32Array(128))], { kernel_shape: { ints: [3, 3] }, pads: { ints: [1, 1, 1, 1] } }, `res_bench${k}`);
    x = g.op('Relu', [y], {}, `res_bench${k}_relu`);
    ranges.set(x, { min: 0, max: 8 });
  }
  // The graph output is read through an Identity: a quantized tensor that is also a graph output would stop the fusion.
  const o = g.op('Identity', [x], {}, 'out');
  const conv = g.encode({ graphName: 'conv', inputs: [{ name: 'x', dims: [25, 128, 32, 32] }], outputs: [{ name: o, dims: [25, 128, 32, 32] }], producerVersion: 'bench' });
  const qconv = quantizeStnetModel(conv, ranges, { groups: ['resnet'] });
  const kdims = [25, 128, 32, 32];
  const kx = new Float32Array(25 * 128 * 32 * 32).map((_, i) => 2 + 2 * Math.sin(i * 0.13));
  const a = await ModelSession.create(conv, { threads, useGpu: false });
  const b = await ModelSession.create(qconv, { threads, useGpu: false });
  await a.run(kx, kdims);
  await b.run(kx, kdims);
  const kt = { fp32: [], int8: [] };
  for (let i = 0; i < 9; i++) {
    for (const [name, s] of [['fp32', a], ['int8', b]]) {
      t = performance.now();
      await s.run(kx, kdims);
      kt[name].push(performance.now() - t);
    }
  }
  await a.close();
  await b.close();
  console.log(`4 chained stage-3 3x3 convs + ReLU [25, 128, 32, 32], ${threads} threads, 9 alternated runs (median): fp32 Conv ${median(kt.fp32).toFixed(1)} ms, QLinearConv ${median(kt.int8).toFixed(1)} ms, ratio ${(median(kt.fp32) / median(kt.int8)).toFixed(2)}x`);
}
console.log('(machine shared with other jobs: compare the ratio, not the absolute times)');
