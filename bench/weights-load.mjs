#!/usr/bin/env node
// Weights load time and memory, against the built dist/ (run `npx tsc -p .` first).
// For the golden full-size weights as a pickle (.pdparams, protocol 2 written by Python 3) and as a
// combined LoDTensor stream: median load time of several loads, and RSS before/after/peak of the first
// load in a fresh process (each format in its own child, so one format's garbage cannot skew the other).
// Prints figures; not a test.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, renameSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { goldenFile } from './lib.mjs';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const GOLDEN = join(ROOT, '..', 'shared', 'fixtures', 'golden');
const CACHE = join(ROOT, '.cache', 'test');
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const MiB = 2 ** 20;

/** A golden file, decompressed (the caller has checked that the fixtures are there). */
function decompressed(name) {
  const path = goldenFile(name);
  if (path === undefined) throw new Error(`bench/weights-load: ${name}.xz not found in ${GOLDEN}`);
  return path;
}

/**
 * The golden weights re-written as a protocol-4 pickle (what `fluid.save` writes on Python 3.8+: BINBYTES
 * data, STACK_GLOBAL), cached beside the others. Minimal writer: no FRAME, no memo (both optional).
 */
async function protocol4Copy(streamFile) {
  const out = join(CACHE, 'bench-stnet_seed7_q.p4.pdparams');
  if (existsSync(out) && statSync(out).mtimeMs >= statSync(streamFile).mtimeMs) return out;
  const { loadWeights } = await import(join(ROOT, 'dist', 'weights', 'index.js'));
  const weights = await loadWeights(streamFile);
  const parts = [];
  const op = (...b) => parts.push(Uint8Array.from(b));
  const u32 = (v) => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24];
  const str = (s) => {
    const b = Buffer.from(s, 'utf8');
    op(0x8c, b.length);
    parts.push(b);
  };
  const global = (module, name) => {
    str(module);
    str(name);
    op(0x93);
  };
  op(0x80, 4, 0x7d, 0x28); // PROTO 4, EMPTY_DICT, MARK
  for (const [name, p] of weights) {
    str(name);
    // _reconstruct(ndarray, (0,), b'b')
    global('numpy.core.multiarray', '_reconstruct');
    global('numpy', 'ndarray');
    op(0x4b, 0, 0x85, 0x43, 1, 0x62, 0x87, 0x52);
    // BUILD state (1, shape, dtype, False, data)
    op(0x28, 0x4b, 1);
    op(0x28, ...p.shape.flatMap((d) => (d < 256 ? [0x4b, d] : [0x4d, d & 0xff, d >> 8])), 0x74);
    global('numpy', 'dtype');
    str('f4');
    op(0x89, 0x88, 0x87, 0x52);
    op(0x28, 0x4b, 3);
    str('<');
    op(0x4e, 0x4e, 0x4e, 0x4a, 0xff, 0xff, 0xff, 0xff, 0x4a, 0xff, 0xff, 0xff, 0xff, 0x4b, 0, 0x74, 0x62, 0x89);
    op(0x42, ...u32(p.data.byteLength));
    parts.push(new Uint8Array(p.data.buffer, p.data.byteOffset, p.data.byteLength));
    op(0x74, 0x62);
  }
  op(0x75, 0x2e); // SETITEMS, STOP
  const { writeFileSync } = await import('node:fs');
  writeFileSync(`${out}.tmp`, Buffer.concat(parts));
  // The copy must load to the same arrays, or its timing means nothing; only then is it cached.
  const again = await loadWeights(`${out}.tmp`);
  for (const [name, p] of weights) {
    const q = again.get(name).data;
    if (Buffer.compare(Buffer.from(q.buffer, q.byteOffset, q.byteLength), Buffer.from(p.data.buffer, p.data.byteOffset, p.data.byteLength)) !== 0) {
      throw new Error(`protocol-4 copy differs at ${name}`);
    }
  }
  renameSync(`${out}.tmp`, out);
  return out;
}

/**
 * This process's peak RSS. On Linux, VmHWM from /proc: getrusage's maxRSS also counts the parent's memory
 * at fork (Linux carries it across exec), which would charge this process for the parent's weights.
 */
function peakRss() {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
    if (m) return Number(m[1]) * 1024;
  } catch {
    // not Linux
  }
  return process.resourceUsage().maxRSS * 1024;
}

async function child(file) {
  const { loadWeights } = await import(join(ROOT, 'dist', 'weights', 'index.js'));
  const rssBefore = process.memoryUsage().rss;
  let t = performance.now();
  let w = await loadWeights(file);
  const first = performance.now() - t;
  const rssAfter = process.memoryUsage().rss;
  const peak = peakRss();
  let values = 0;
  for (const p of w.values()) values += p.data.length;
  const buffers = new Set([...w.values()].map((p) => p.data.buffer));
  const held = [...buffers].reduce((n, b) => n + b.byteLength, 0);
  w = null;
  const times = [first];
  for (let i = 1; i < RUNS; i++) {
    globalThis.gc?.();
    t = performance.now();
    w = await loadWeights(file);
    times.push(performance.now() - t);
    w = null;
  }
  times.sort((a, b) => a - b);
  // Baseline measured in the same process: only reading the file into a fresh Buffer (what any loader must
  // do), so the load/read ratio says what parsing and conversion add, however loaded the machine is.
  const { readWhole } = await import(join(ROOT, 'dist', 'weights', 'io.js'));
  const { size } = await import('node:fs').then((fs) => fs.statSync(file));
  const reads = [];
  for (let i = 0; i < RUNS; i++) {
    globalThis.gc?.();
    t = performance.now();
    await readWhole(file, size);
    reads.push(performance.now() - t);
  }
  reads.sort((a, b) => a - b);
  const median = (xs) => xs[Math.floor(xs.length / 2)];
  process.stdout.write(JSON.stringify({ file, values, held, rssBefore, rssAfter, peak, times, median: median(times), readMedian: median(reads) }));
}

async function main() {
  if (process.argv[2] === '--child') return child(process.argv[3]);
  if (!existsSync(join(ROOT, 'dist', 'weights', 'index.js'))) throw new Error('dist/ missing: run `npx tsc -p .` first');
  if (!existsSync(GOLDEN)) {
    console.log(`weights-load: golden fixtures not found at ${GOLDEN}; nothing to measure`);
    return;
  }
  const stream = decompressed('stnet_seed7_q.lodtensor');
  const cases = [
    ['pickle (protocol 2, Py3 latin1 strings)', decompressed('stnet_seed7_q.pdparams')],
    ['pickle (protocol 4, the same weights re-written: BINBYTES data)', await protocol4Copy(stream)],
    ['LoDTensor combined stream', stream],
  ];
  const { loadavg, cpus } = await import('node:os');
  console.log(`weights-load: ${RUNS} loads each, node ${process.version}, ${cpus().length} CPUs, load average ${loadavg().map((x) => x.toFixed(1)).join(' ')} (timings are only comparable within one run)`);
  for (const [label, file] of cases) {
    const out = await new Promise((resolve, reject) => {
      const c = spawn(process.execPath, ['--expose-gc', fileURLToPath(import.meta.url), '--child', file], { stdio: ['ignore', 'pipe', 'inherit'] });
      let s = '';
      c.stdout.on('data', (d) => (s += d));
      c.on('close', (code) => (code === 0 ? resolve(JSON.parse(s)) : reject(new Error(`child failed (${code})`))));
    });
    const size = statSync(file).size;
    const weights = out.values * 4;
    console.log(`\n${label}: ${(size / MiB).toFixed(1)} MiB file, ${(weights / MiB).toFixed(1)} MiB of float32 weights`);
    console.log(`  load time: median ${out.median.toFixed(0)} ms (sorted runs: ${out.times.map((x) => x.toFixed(0)).join(', ')} ms)`);
    console.log(`  reading the file alone: median ${out.readMedian.toFixed(0)} ms; load / read = ${(out.median / out.readMedian).toFixed(2)}`);
    console.log(`  RSS before ${(out.rssBefore / MiB).toFixed(0)} MiB, after first load ${(out.rssAfter / MiB).toFixed(0)} MiB (+${((out.rssAfter - out.rssBefore) / MiB).toFixed(0)} MiB = ${((out.rssAfter - out.rssBefore) / weights).toFixed(2)}x the weights), peak ${(out.peak / MiB).toFixed(0)} MiB (+${((out.peak - out.rssBefore) / MiB).toFixed(0)} MiB = ${((out.peak - out.rssBefore) / weights).toFixed(2)}x)`);
    console.log(`  buffers the weights keep alive: ${(out.held / MiB).toFixed(1)} MiB (${(out.held / weights).toFixed(2)}x the weights)`);
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
