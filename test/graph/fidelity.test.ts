// The test that matters: the golden weights through our graph on onnxruntime give the probabilities that an
// independent PyTorch implementation of the reference architecture computed (../shared/fixtures/golden).
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StNet } from '../../src/stnet.js';
import { GOLDEN_SKIP_REASON, HAS_GOLDEN, golden, goldenXz } from '../helpers/golden.js';

interface Expected {
  input_shape: number[];
  top5: { class_id: number; prob: number }[];
  probs: number[];
  logits: number[];
}

function readF32(path: string): Float32Array {
  const buf = readFileSync(path);
  // Copy into an aligned buffer of its own: Buffer pools may start at an odd offset.
  return new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

function top5(p: ArrayLike<number>): number[] {
  return Array.from(p, (v, i) => [v, i] as const)
    .sort((x, y) => y[0] - x[0])
    .slice(0, 5)
    .map(([, i]) => i);
}

describe.skipIf(!HAS_GOLDEN)('fidelity against the golden fixture (' + (HAS_GOLDEN ? 'present' : GOLDEN_SKIP_REASON) + ')', () => {
  let expected: Expected;
  let input: Float32Array;
  let dims: number[];
  let model: StNet;

  beforeAll(async () => {
    expected = JSON.parse(readFileSync(golden('expected.json'), 'utf8')) as Expected;
    input = readF32(golden('input.f32'));
    dims = expected.input_shape; // [1, 7, 15, 112, 112]
    model = await StNet.load({ weights: await goldenXz('stnet_seed7_q.lodtensor'), threads: 2 });
  });
  afterAll(async () => {
    await model?.close();
  });

  it('LoDTensor-stream weights: every probability within 1e-4, logits within 1e-3, same top-5 in order', async () => {
    expect(dims).toEqual([1, 7, 15, 112, 112]);
    const { probs, logits } = await model.forward(input, dims);
    expect(probs.length).toBe(400);
    const dp = maxAbsDiff(probs, expected.probs);
    const dl = maxAbsDiff(logits, expected.logits);
    console.log(`[fidelity] lodtensor weights: max |p - p_expected| = ${dp.toExponential(3)}, max |logit diff| = ${dl.toExponential(3)}`);
    expect(dp).toBeLessThanOrEqual(1e-4);
    expect(dl).toBeLessThanOrEqual(1e-3);
    expect(top5(probs)).toEqual(expected.top5.map((t) => t.class_id));
    const sum = probs.reduce((a, b) => a + b, 0);
    expect(Math.abs(sum - 1)).toBeLessThan(1e-5);
  });

  it('a batch of two videos gives each video its own row (B and segNum are kept apart)', async () => {
    // Second video: the same segments in reverse order. Temporal conv and xception see a different sequence,
    // so a batch/time mix-up inside the graph would change the rows.
    const seg = input.length / 7;
    const reversed = new Float32Array(input.length);
    for (let t = 0; t < 7; t++) reversed.set(input.subarray((6 - t) * seg, (7 - t) * seg), t * seg);
    const single = await model.predict(reversed, dims);
    expect(maxAbsDiff(single, expected.probs)).toBeGreaterThan(1e-3); // the order of segments matters

    const both = new Float32Array(input.length * 2);
    both.set(input, 0);
    both.set(reversed, input.length);
    const probs = await model.predict(both, [2, 7, 15, 112, 112]);
    expect(probs.length).toBe(800);
    expect(maxAbsDiff(probs.subarray(0, 400), expected.probs)).toBeLessThanOrEqual(1e-4);
    expect(maxAbsDiff(probs.subarray(400), single)).toBeLessThanOrEqual(1e-6);
  });

  it('segNum and the spatial size are free at run time', async () => {
    // The first 3 segments, centre 64x64 of each: a [1, 3, 15, 64, 64] input.
    const hw = 112;
    const crop = new Float32Array(3 * 15 * 64 * 64);
    let k = 0;
    for (let p = 0; p < 3 * 15; p++) {
      for (let y = 24; y < 88; y++) {
        const row = p * hw * hw + y * hw;
        for (let x = 24; x < 88; x++) crop[k++] = input[row + x]!;
      }
    }
    const probs = await model.predict(crop, [1, 3, 15, 64, 64]);
    expect(probs.length).toBe(400);
    expect(Math.abs(probs.reduce((a, b) => a + b, 0) - 1)).toBeLessThan(1e-5);
    expect(maxAbsDiff(probs, expected.probs)).toBeGreaterThan(1e-4);
  });
});
