// Fidelity with the golden weights read from the pickle (.pdparams, fluid.save layout) instead of the
// LoDTensor stream: the same probabilities as the independent PyTorch reference.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { StNet } from '../../src/stnet.js';
import { GOLDEN_SKIP_REASON, HAS_GOLDEN, golden, goldenXz } from '../helpers/golden.js';

describe.skipIf(!HAS_GOLDEN)(`fidelity with pickle weights${HAS_GOLDEN ? '' : ` (${GOLDEN_SKIP_REASON})`}`, () => {
  it('every probability within 1e-4 of expected.json, same top-5 in order', async () => {
    const expected = JSON.parse(readFileSync(golden('expected.json'), 'utf8')) as { probs: number[]; top5: { class_id: number }[]; input_shape: number[] };
    const buf = readFileSync(golden('input.f32'));
    const input = new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
    const model = await StNet.load({ weights: await goldenXz('stnet_seed7_q.pdparams'), threads: 2 });
    try {
      const probs = await model.predict(input, expected.input_shape);
      let d = 0;
      for (let i = 0; i < 400; i++) d = Math.max(d, Math.abs(probs[i]! - expected.probs[i]!));
      console.log(`[fidelity] pickle weights: max |p - p_expected| = ${d.toExponential(3)}`);
      expect(d).toBeLessThanOrEqual(1e-4);
      const top5 = Array.from(probs, (v, i) => [v, i] as const)
        .sort((a, b) => b[0] - a[0])
        .slice(0, 5)
        .map(([, i]) => i);
      expect(top5).toEqual(expected.top5.map((t) => t.class_id));
    } finally {
      await model.close();
    }
  });
});
