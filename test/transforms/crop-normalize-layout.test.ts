import { describe, expect, it } from 'vitest';
import { centerCropOffsets, cropRgb, roundHalfEven } from '../../src/transforms/crop.js';
import { normalizeLevel, normalizeToChw } from '../../src/transforms/normalize.js';
import { clipDims, frameOffset, packSuperImage } from '../../src/transforms/layout.js';

describe('roundHalfEven (Python 3 round)', () => {
  it.each([
    [42.5, 42], [43.5, 44], [18.5, 18], [0.5, 0], [1.5, 2], [2.5, 2], [0, 0], [7, 7], [3.2, 3], [3.7, 4],
  ])('round(%d) = %d', (x, want) => expect(roundHalfEven(x)).toBe(want));
});

describe('centerCropOffsets', () => {
  it.each([
    // [w, h, target, x, y]
    [341, 256, 256, 42, 0], // the documented 341-wide case: 42, not 43
    [340, 256, 256, 42, 0],
    [149, 112, 112, 18, 0],
    [112, 149, 112, 0, 18],
    [256, 341, 256, 0, 42],
    [343, 256, 256, 44, 0], // 43.5 -> 44
    [256, 256, 256, 0, 0],
    [113, 112, 112, 0, 0], // 0.5 -> 0
    [115, 112, 112, 2, 0], // 1.5 -> 2
  ])('%ix%i crop %i -> x=%i y=%i', (w, h, t, x, y) => {
    expect(centerCropOffsets(w, h, t)).toEqual({ x, y });
  });

  it('refuses frames smaller than the crop, as the reference asserts', () => {
    expect(() => centerCropOffsets(100, 300, 112)).toThrow(/at least 112x112 .* received 100x300/);
  });
});

describe('cropRgb', () => {
  it('copies the window', () => {
    // 4x3 image, pixel (x, y) = [10y + x, 100 + 10y + x, 200 + x]
    const data = new Uint8Array(4 * 3 * 3);
    for (let y = 0; y < 3; y++) for (let x = 0; x < 4; x++) data.set([10 * y + x, 100 + 10 * y + x, 200 + x], (y * 4 + x) * 3);
    const c = cropRgb({ width: 4, height: 3, data }, 1, 1, 2, 2);
    expect([...c.data]).toEqual([11, 111, 201, 12, 112, 202, 21, 121, 201, 22, 122, 202]);
    expect(() => cropRgb({ width: 4, height: 3, data }, 3, 0, 2, 2)).toThrow(/does not fit/);
  });
});

describe('normalize', () => {
  it('matches float32 (v/255 - mean)/std for known levels', () => {
    // float32 reference values computed independently: numpy float32 semantics, (0/255-0.485)/0.229 etc.
    expect(normalizeLevel(0, 0)).toBeCloseTo(-2.117904, 5);
    expect(normalizeLevel(255, 0)).toBeCloseTo(2.2489083, 5);
    expect(normalizeLevel(0, 1)).toBeCloseTo(-2.0357141, 5);
    expect(normalizeLevel(255, 2)).toBeCloseTo(2.64, 5);
    // Exact float32 results of the reference's NumPy steps, computed with NumPy 2.4 outside this code:
    // (np.float32(v) / 255 - mean_f32) / std_f32 for v in 0, 1, 127, 128, 254, 255.
    const numpy = [
      [-2.1179039478302, -2.1007792949676514, 0.0569397434592247, 0.07406462728977203, 2.231783390045166, 2.248908281326294],
      [-2.0357141494750977, -2.018207311630249, 0.18767505884170532, 0.20518219470977783, 2.4110641479492188, 2.4285714626312256],
      [-1.804444432258606, -1.7870151996612549, 0.4090632498264313, 0.4264925718307495, 2.6225709915161133, 2.640000104904175],
    ];
    [0, 1, 127, 128, 254, 255].forEach((v, i) => {
      for (let c = 0; c < 3; c++) expect(normalizeLevel(v, c)).toBe(numpy[c]![i]);
    });
  });

  it('writes HWC RGB as CHW planes', () => {
    // 2x1 image: pixel0 = (0, 128, 255), pixel1 = (255, 0, 128)
    const out = normalizeToChw({ width: 2, height: 1, data: new Uint8Array([0, 128, 255, 255, 0, 128]) });
    expect([...out]).toEqual([
      normalizeLevel(0, 0), normalizeLevel(255, 0),
      normalizeLevel(128, 1), normalizeLevel(0, 1),
      normalizeLevel(255, 2), normalizeLevel(128, 2),
    ]);
    const big = new Float32Array(10).fill(9);
    normalizeToChw({ width: 1, height: 1, data: new Uint8Array([0, 0, 0]) }, big, 4);
    expect(big[3]).toBe(9);
    expect(big[4]).toBe(normalizeLevel(0, 0));
    expect(big[7]).toBe(9);
    expect(() => normalizeToChw({ width: 2, height: 2, data: new Uint8Array(12) }, new Float32Array(5))).toThrow(/too small/);
  });
});

describe('layout (super-image packing)', () => {
  it('dims are [1, segNum, seglen*3, size, size]', () => {
    expect(clipDims(25, 5, 256)).toEqual([1, 25, 15, 256, 256]);
  });

  it('channel = 3 * frameInSegment + rgb, segment-major', () => {
    // segNum 2, seglen 3, size 1: every frame is 3 values (R, G, B) = (10k, 10k+1, 10k+2) for sampled frame k
    const frames = Array.from({ length: 6 }, (_, k) => new Float32Array([10 * k, 10 * k + 1, 10 * k + 2]));
    const packed = packSuperImage(frames, 2, 3, 1);
    expect([...packed]).toEqual([0, 1, 2, 10, 11, 12, 20, 21, 22, 30, 31, 32, 40, 41, 42, 50, 51, 52]);
    expect(frameOffset(4, 3, 2)).toBe((1 * 9 + 3) * 4); // segment 1, frame 1 -> channel 3 of segment 1
    expect(() => packSuperImage(frames.slice(1), 2, 3, 1)).toThrow(/expected 6 frames, got 5/);
  });
});
