// StNet.load / predict / close: options are checked before any work, bad tensors and a closed model fail
// with typed errors, runs on one model may overlap.
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cudaAvailable } from '../src/graph/session.js';

/** Asked once, as StNet.load asks (a one-node CUDA session). */
const HAS_CUDA = await cudaAvailable();
import { StNet, checkLoadOptions } from '../src/stnet.js';
import { rejection } from './helpers/errors.js';
import { GOLDEN_SKIP_REASON, HAS_GOLDEN, goldenXz } from './helpers/golden.js';


const MISSING = join('/nonexistent-dir-for-stnet-tests', 'STNET.pdparams');

describe('StNet.load options (checked before the weights are touched)', () => {
  // The weights path does not exist: an option error proves the options were checked first.
  it.each<[string, Record<string, unknown>, RegExp]>([
    ['threads 0', { threads: 0 }, /Expected integer between 1 and 1024 for threads but received 0/],
    ['threads 1.5', { threads: 1.5 }, /for threads but received 1\.5/],
    ['threads as a string', { threads: '2' }, /for threads but received "2"/],
    ['useGpu as a string', { useGpu: 'yes' }, /Expected a boolean for useGpu but received "yes"/],
    ['empty weights path', { weights: '' }, /Expected a non-empty path string for weights but received ""/],
    ['a typo in an option name', { thread: 2 }, /Unknown option "thread" \(did you mean threads\?\)/],
    ['an unrelated unknown option', { fooBarBaz: 1 }, /Unknown option "fooBarBaz"; expected one of weights, threads, useGpu/],
  ])('%s -> E_INVALID_OPTION', async (_name, extra, message) => {
    const err = await rejection(StNet.load({ weights: MISSING, ...extra }));
    expect(err.code).toBe('E_INVALID_OPTION');
    expect(err.message).toMatch(message);
  });

  it('options that are not an object -> E_INVALID_OPTION', async () => {
    const err = await rejection(StNet.load(42 as never));
    expect(err.code).toBe('E_INVALID_OPTION');
    expect(err.message).toMatch(/Expected an object for options but received 42/);
  });

  it('defaults: all cores, CPU', () => {
    expect(checkLoadOptions({ weights: 'w' })).toEqual({ weights: 'w', threads: availableParallelism(), useGpu: false, precision: 'fp32' });
    expect(checkLoadOptions(undefined).threads).toBe(availableParallelism());
  });

  it('a weights path that does not exist -> E_WEIGHTS_NOT_FOUND naming it', async () => {
    const err = await rejection(StNet.load({ weights: MISSING, threads: 1 }));
    expect(err.code).toBe('E_WEIGHTS_NOT_FOUND');
    expect(err.message).toContain(MISSING);
  });

  it.skipIf(HAS_CUDA)('useGpu without a CUDA onnxruntime -> E_GPU_UNAVAILABLE with how to install it, before loading', async () => {
    const t0 = performance.now();
    const err = await rejection(StNet.load({ weights: MISSING, useGpu: true }));
    expect(err.code).toBe('E_GPU_UNAVAILABLE');
    expect(err.message).toMatch(/no CUDA provider .*--onnxruntime-node-install=cuda12/);
    expect(performance.now() - t0).toBeLessThan(1000);
  });
});

describe.skipIf(!HAS_GOLDEN)(`StNet with the golden weights${HAS_GOLDEN ? '' : ` (${GOLDEN_SKIP_REASON})`}`, () => {
  let model: StNet;
  const dims = [1, 2, 15, 64, 64];
  const input = new Float32Array(dims.reduce((a, b) => a * b, 1)).map((_, i) => Math.sin(i * 0.001));

  beforeAll(async () => {
    model = await StNet.load({ weights: await goldenXz('stnet_seed7_q.lodtensor'), threads: 1 });
  });
  afterAll(async () => {
    await model?.close();
  });

  it('reports its thread count and provider', () => {
    expect(model.threads).toBe(1);
    expect(model.provider).toBe('cpu');
  });

  it.each<[string, Float32Array, number[], RegExp]>([
    ['length does not match dims', new Float32Array(100), [1, 2, 15, 64, 64], /has 100 values but dims \[1, 2, 15, 64, 64\] need 122880/],
    ['wrong channel count', new Float32Array(2 * 3 * 64 * 64), [1, 2, 3, 64, 64], /Expected 15 channels/],
    ['spatial size too small', new Float32Array(2 * 15 * 16 * 16), [1, 2, 15, 16, 16], /H = W >= 32/],
  ])('predict with %s -> E_INVALID_INPUT', async (_name, data, badDims, message) => {
    const err = await rejection(model.predict(data, badDims));
    expect(err.code).toBe('E_INVALID_INPUT');
    expect(err.message).toMatch(message);
  });

  it('overlapping predict calls on one model both complete with the same result', async () => {
    const [a, b] = await Promise.all([model.predict(input, dims), model.predict(input, dims)]);
    expect(a.length).toBe(400);
    expect(Array.from(b)).toEqual(Array.from(a));
  });

  it('the event loop keeps running while a forward pass is in progress', async () => {
    const big = [1, 4, 15, 112, 112];
    const x = new Float32Array(4 * 15 * 112 * 112).fill(0.5);
    let ticks = 0;
    const timer = setInterval(() => ticks++, 2);
    const t0 = performance.now();
    try {
      await model.predict(x, big);
    } finally {
      clearInterval(timer);
    }
    const ms = performance.now() - t0;
    // A run that blocked the main thread would let the timer fire at most once.
    expect(ms).toBeGreaterThan(20);
    expect(ticks).toBeGreaterThanOrEqual(3);
  });

  it('close() then predict -> E_MODEL_CLOSED; close() twice is fine', async () => {
    const m = await StNet.load({ weights: await goldenXz('stnet_seed7_q.lodtensor'), threads: 1 });
    const pending = m.predict(input, dims); // started before close: must still finish
    await m.close();
    expect((await pending).length).toBe(400);
    const err = await rejection(m.predict(input, dims));
    expect(err.code).toBe('E_MODEL_CLOSED');
    expect(err.message).toMatch(/StNet\.load/);
    await expect(m.close()).resolves.toBeUndefined();
  });
});

// The onnxruntime worker is dist/graph/ort-worker.js, started with new Worker(new URL(...)); it must not depend
// on host flags such as --input-type=module. Runs the built package, as a user's ES-module script would.
const DIST = new URL('../dist/index.js', import.meta.url);
describe.skipIf(!HAS_GOLDEN)('StNet from a `node --input-type=module` script', () => {
  it('loads and predicts', async () => {
    const { existsSync } = await import('node:fs');
    const { execFile } = await import('node:child_process');
    const { fileURLToPath } = await import('node:url');
    if (!existsSync(fileURLToPath(DIST))) throw new Error('dist/ is missing: run `npm run build` (npm test does)');
    const weights = await goldenXz('stnet_seed7_q.lodtensor');
    const script = `
      import { StNet } from ${JSON.stringify(DIST.href)};
      const m = await StNet.load({ weights: ${JSON.stringify(weights)}, threads: 1 });
      const p = await m.predict(new Float32Array(2 * 15 * 32 * 32), [1, 2, 15, 32, 32]);
      console.log(JSON.stringify({ n: p.length, sum: p.reduce((a, b) => a + b, 0) }));
      await m.close();`;
    const stdout = await new Promise<string>((resolve, reject) => {
      execFile(process.execPath, ['--input-type=module', '-e', script], { timeout: 60_000 }, (err, out, errOut) =>
        err ? reject(new Error(`${err.message}\n${errOut}`)) : resolve(out),
      );
    });
    const r = JSON.parse(stdout) as { n: number; sum: number };
    expect(r.n).toBe(400);
    expect(r.sum).toBeCloseTo(1, 5);
  });
});
