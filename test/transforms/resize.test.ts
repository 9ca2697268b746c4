import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { GOLDEN_SKIP_REASON, HAS_GOLDEN, golden } from '../helpers/golden.js';
import { bilinearCoefficients, groupScaleSize, makeBilinearResizer, resizeBilinear, type RgbImage } from '../../src/transforms/resize.js';
import { cropRgb } from '../../src/transforms/crop.js';

interface Block { offset: number; length: number; sum: number }
interface ResizeCase {
  index: number; name: string; in_w: number; in_h: number; out_w: number; out_h: number;
  input: Block; horizontal_pass: Block & { w: number; h: number }; output: Block;
}

describe('groupScaleSize (reference 4:3 rule)', () => {
  it.each([
    // [w, h, S, expected]
    [160, 120, 112, [149, 112]],
    [192, 108, 112, [149, 112]], // 16:9 forced to 4:3, not 199x112
    [108, 192, 112, [112, 149]],
    [320, 240, 256, [341, 256]],
    [340, 256, 256, [340, 256]], // short side already 256: untouched
    [256, 400, 256, [256, 400]],
    [1920, 1080, 256, [341, 256]],
    [1080, 1920, 256, [256, 341]],
    [100, 100, 256, [341, 256]], // square: w >= h branch
    [256, 256, 256, [256, 256]],
    [3, 2, 112, [149, 112]], // tiny frames are upscaled
    [161, 121, 7, [9, 7]], // int(7*4/3) = 9
  ])('%ix%i with S=%i -> %j', (w, h, s, expected) => {
    expect(groupScaleSize(w, h, s)).toEqual(expected);
  });

  it('rejects non-positive sizes', () => {
    expect(() => groupScaleSize(0, 10, 256)).toThrow(/Expected integer >= 1 for width but received 0/);
    expect(() => groupScaleSize(10, 10, 1.5)).toThrow(/shortSize/);
  });
});

describe('bilinearCoefficients', () => {
  it('upscale 2->4 uses 2-tap weights that sum to 2^22', () => {
    const c = bilinearCoefficients(2, 4);
    expect(c.ksize).toBe(3);
    // centre of output 0 is 0.25 -> input 0 only (the other tap falls off the edge), weight 1.0
    expect([...c.bounds]).toEqual([0, 1, 0, 2, 0, 2, 1, 1]);
    expect(c.kk[0]).toBe(1 << 22);
    expect(c.kk[3] + c.kk[4]).toBe(1 << 22);
    expect([c.kk[3], c.kk[4]]).toEqual([3145728, 1048576]); // 0.75 / 0.25
  });

  it('downscale by 3 widens the support to 3 input pixels each side (antialiasing)', () => {
    const c = bilinearCoefficients(9, 3);
    expect(c.ksize).toBe(7);
    // centres 1.5, 4.5, 7.5: [int(c - 3 + 0.5), int(c + 3 + 0.5)) clamped to [0, 9)
    expect([...c.bounds]).toEqual([0, 5, 2, 6, 5, 4]);
  });
});

describe.skipIf(!HAS_GOLDEN)(`resizeBilinear vs Pillow 9.4 (resize_cases)${HAS_GOLDEN ? '' : `: skipped, ${GOLDEN_SKIP_REASON}`}`, () => {
  const meta = HAS_GOLDEN ? (JSON.parse(readFileSync(golden('resize_cases.json'), 'utf8')) as { cases: ResizeCase[] }) : { cases: [] };
  const bytes = HAS_GOLDEN ? new Uint8Array(readFileSync(golden('resize_cases.u8'))) : new Uint8Array();
  const block = (b: Block): Uint8Array => bytes.subarray(b.offset, b.offset + b.length);

  it('has all 16 cases', () => {
    expect(meta.cases).toHaveLength(16);
  });

  it.each(meta.cases.map((c) => [c.name, c] as const))('%s: output and horizontal pass equal every byte', (_name, c) => {
    const input: RgbImage = { width: c.in_w, height: c.in_h, data: block(c.input) };
    const hp = resizeBilinear(input, c.out_w, c.in_h);
    expect(hp.data.length).toBe(c.horizontal_pass.length);
    expect(Buffer.from(hp.data).equals(Buffer.from(block(c.horizontal_pass)))).toBe(true);
    const out = resizeBilinear(input, c.out_w, c.out_h);
    expect([out.width, out.height]).toEqual([c.out_w, c.out_h]);
    const want = block(c.output);
    let differing = 0;
    for (let i = 0; i < want.length; i++) if (out.data[i] !== want[i]) differing++;
    expect(differing).toBe(0);
    expect(out.data.reduce((a, v) => a + v, 0)).toBe(c.output.sum);
  });

  it('a region of interest gives the same pixels as cropping the full resize', () => {
    for (const c of meta.cases.filter((k) => k.out_w >= 4 && k.out_h >= 4)) {
      const input: RgbImage = { width: c.in_w, height: c.in_h, data: block(c.input) };
      const roi = { x: 1, y: Math.floor(c.out_h / 3), width: c.out_w - 2, height: Math.ceil(c.out_h / 2) };
      const part = makeBilinearResizer(c.in_w, c.in_h, c.out_w, c.out_h, roi)(input);
      const full = cropRgb({ width: c.out_w, height: c.out_h, data: block(c.output) }, roi.x, roi.y, roi.width, roi.height);
      expect(Buffer.from(part.data).equals(Buffer.from(full.data)), c.name).toBe(true);
    }
  });
});

describe('makeBilinearResizer input checks', () => {
  it('rejects an image of the wrong size and an roi outside the output', () => {
    const r = makeBilinearResizer(4, 4, 2, 2);
    expect(() => r({ width: 3, height: 4, data: new Uint8Array(36) })).toThrow(/built for 4x4 got a 3x4/);
    expect(() => makeBilinearResizer(4, 4, 2, 2, { x: 1, y: 0, width: 2, height: 2 })).toThrow(/outside the 2x2 output/);
  });
});
