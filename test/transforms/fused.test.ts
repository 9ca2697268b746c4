// The fused WebAssembly transform (resize of the crop window + normalise + CHW) against the JS functions it
// replaces in the loader, and against Pillow's own bytes from the golden resize cases.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { GOLDEN_SKIP_REASON, HAS_GOLDEN, golden } from '../helpers/golden.js';
import { makeResizeCrop, makeResizeNormalize } from '../../src/transforms/fused.js';
import { groupScaleSize, makeBilinearResizer, type Rect, type RgbImage } from '../../src/transforms/resize.js';
import { normalizeLevel, normalizePlanes, normalizeToChw } from '../../src/transforms/normalize.js';
import { centerCropOffsets } from '../../src/transforms/crop.js';

/** Deterministic pseudo-random generator (LCG), so a failure names a reproducible case. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32;
}

function randomImage(width: number, height: number, next: () => number): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < data.length; i++) data[i] = Math.floor(next() * 256);
  return { width, height, data };
}

/** Runs the fused transform at an offset inside a larger array; checks the values around it are untouched. */
function fused(img: RgbImage, outW: number, outH: number, roi?: Rect): Float32Array {
  const t = makeResizeNormalize(img.width, img.height, outW, outH, roi);
  expect(t.simd).toBe(true);
  const n = 3 * t.width * t.height;
  const out = new Float32Array(n + 40).fill(-99);
  t.run(out, 17, img);
  expect(out.subarray(0, 17).every((v) => v === -99)).toBe(true);
  expect(out.subarray(17 + n).every((v) => v === -99)).toBe(true);
  return out.slice(17, 17 + n);
}

function jsReference(img: RgbImage, outW: number, outH: number, roi?: Rect): Float32Array {
  return normalizeToChw(makeBilinearResizer(img.width, img.height, outW, outH, roi)(img));
}

/** Index of the first value that differs bit for bit (-1: none). */
function firstDifference(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return 0;
  const ua = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const ub = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < ua.length; i++) if (ua[i] !== ub[i]) return i;
  return -1;
}

describe('makeResizeNormalize (WebAssembly SIMD) equals normalizeToChw(makeBilinearResizer(...))', () => {
  it('on 400 random sizes: downscales, upscales, odd widths, 1-pixel images and outputs, random windows', () => {
    const next = rng(20261201);
    const dim = (): number => {
      const r = next();
      return r < 0.15 ? 1 : r < 0.3 ? 2 + Math.floor(next() * 6) : 1 + Math.floor(next() * 90);
    };
    for (let t = 0; t < 400; t++) {
      const iw = dim();
      const ih = dim();
      const ow = dim();
      const oh = dim();
      const rw = 1 + Math.floor(next() * ow);
      const rh = 1 + Math.floor(next() * oh);
      const roi = { x: Math.floor(next() * (ow - rw + 1)), y: Math.floor(next() * (oh - rh + 1)), width: rw, height: rh };
      const img = randomImage(iw, ih, next);
      const at = firstDifference(fused(img, ow, oh, roi), jsReference(img, ow, oh, roi));
      expect(at, `case ${t}: ${iw}x${ih} -> ${ow}x${oh} roi ${JSON.stringify(roi)}`).toBe(-1);
    }
  });

  it.each([
    [320, 240], // SD: upscale to 341x256
    [340, 256], // short side already 256: both axes kept
    [1280, 720], // 720p: to 341x256, downscale by 3.75 (9-tap filter)
    [360, 640], // portrait
    [1920, 1080], // to 341x256: downscale by 5.6
    [3840, 2160],
    [257, 255], // odd sizes near the target
    [1, 1],
  ])('the loader case %ix%i -> 4:3 short side 256, center crop 256', (w, h) => {
    const [rw, rh] = groupScaleSize(w, h, 256);
    const c = centerCropOffsets(rw, rh, 256);
    const roi = { x: c.x, y: c.y, width: 256, height: 256 };
    const img = randomImage(w, h, rng(w * 7919 + h));
    expect(firstDifference(fused(img, rw, rh, roi), jsReference(img, rw, rh, roi))).toBe(-1);
  });

  it('normalises every 8-bit level of every channel exactly as the float32 table does', () => {
    // 256 x 1 image of levels 0..255 in R, 255..0 in G, (7 * i) mod 256 in B, size kept: no resampling.
    const data = new Uint8Array(256 * 3);
    for (let i = 0; i < 256; i++) data.set([i, 255 - i, (7 * i) % 256], 3 * i);
    const out = fused({ width: 256, height: 1, data }, 256, 1);
    for (let i = 0; i < 256; i++) {
      expect(out[i]).toBe(normalizeLevel(i, 0));
      expect(out[256 + i]).toBe(normalizeLevel(255 - i, 1));
      expect(out[512 + i]).toBe(normalizeLevel((7 * i) % 256, 2));
    }
  });

  it('reads the frame from its own input buffer when run gets no image, and can be run again', () => {
    const img = randomImage(97, 61, rng(5));
    const t = makeResizeNormalize(97, 61, 130, 81, { x: 3, y: 2, width: 64, height: 77 });
    expect(t.input.length).toBe(97 * 61 * 3);
    t.input.set(img.data);
    const a = new Float32Array(3 * 64 * 77);
    t.run(a, 0);
    expect(firstDifference(a, jsReference(img, 130, 81, { x: 3, y: 2, width: 64, height: 77 }))).toBe(-1);
    const other = randomImage(97, 61, rng(6));
    t.run(a, 0, other);
    expect(firstDifference(a, jsReference(other, 130, 81, { x: 3, y: 2, width: 64, height: 77 }))).toBe(-1);
  });

  it('rejects a frame of the wrong size, a window outside the output and an output that is too small', () => {
    const t = makeResizeNormalize(4, 4, 2, 2);
    expect(() => t.run(new Float32Array(12), 0, { width: 3, height: 4, data: new Uint8Array(36) })).toThrow(/built for 4x4 got a 3x4/);
    expect(() => t.run(new Float32Array(11), 0)).toThrow(/output too small \(11 < 12\)/);
    expect(() => t.run(new Float32Array(12), 1)).toThrow(/output too small/);
    expect(() => makeResizeNormalize(4, 4, 2, 2, { x: 1, y: 0, width: 2, height: 2 })).toThrow(/outside the 2x2 output/);
    expect(() => makeResizeNormalize(0, 4, 2, 2)).toThrow(/Expected integer >= 1 for inWidth but received 0/);
  });
});

interface Block { offset: number; length: number; sum: number }
interface ResizeCase { name: string; in_w: number; in_h: number; out_w: number; out_h: number; input: Block; output: Block }

describe.skipIf(!HAS_GOLDEN)(`makeResizeNormalize vs Pillow 9.4 (resize_cases)${HAS_GOLDEN ? '' : `: skipped, ${GOLDEN_SKIP_REASON}`}`, () => {
  const meta = HAS_GOLDEN ? (JSON.parse(readFileSync(golden('resize_cases.json'), 'utf8')) as { cases: ResizeCase[] }) : { cases: [] };
  const bytes = HAS_GOLDEN ? new Uint8Array(readFileSync(golden('resize_cases.u8'))) : new Uint8Array(0);
  const block = (b: Block): Uint8Array => bytes.subarray(b.offset, b.offset + b.length);
  it.each(meta.cases.map((c) => [c.name, c] as const))('%s: the normalised planes of Pillow\'s output', (_name, c) => {
    const out = fused({ width: c.in_w, height: c.in_h, data: block(c.input) }, c.out_w, c.out_h);
    const want = normalizeToChw({ width: c.out_w, height: c.out_h, data: block(c.output) });
    expect(firstDifference(out, want)).toBe(-1);
  });
});

/** makeBilinearResizer's interleaved RGB bytes, split into planes [3][h][w]. */
function planesOf(img: RgbImage): Uint8Array {
  const n = img.width * img.height;
  const out = new Uint8Array(3 * n);
  for (let i = 0; i < n; i++) for (let c = 0; c < 3; c++) out[c * n + i] = img.data[3 * i + c]!;
  return out;
}

describe('makeResizeCrop (the timeline crop: the same kernel, stopping at uint8 planes)', () => {
  it('equals makeBilinearResizer split into planes, on 300 random sizes and windows', () => {
    const next = rng(20261202);
    const dim = (): number => (next() < 0.2 ? 1 + Math.floor(next() * 4) : 1 + Math.floor(next() * 90));
    for (let t = 0; t < 300; t++) {
      const [iw, ih, ow, oh] = [dim(), dim(), dim(), dim()];
      const rw = 1 + Math.floor(next() * ow);
      const rh = 1 + Math.floor(next() * oh);
      const roi = { x: Math.floor(next() * (ow - rw + 1)), y: Math.floor(next() * (oh - rh + 1)), width: rw, height: rh };
      const img = randomImage(iw, ih, next);
      const k = makeResizeCrop(iw, ih, ow, oh, roi);
      expect(k.simd).toBe(true);
      const got = k.run(img);
      expect(got.length).toBe(3 * rw * rh);
      expect(Buffer.compare(Buffer.from(got), Buffer.from(planesOf(makeBilinearResizer(iw, ih, ow, oh, roi)(img)))), `case ${t}: ${iw}x${ih} -> ${ow}x${oh} roi ${JSON.stringify(roi)}`).toBe(0);
    }
  });

  it('normalizePlanes of the crop is what makeResizeNormalize writes (the loader case 1280x720 -> 256 crop)', () => {
    const [rw, rh] = groupScaleSize(1280, 720, 256);
    const c = centerCropOffsets(rw, rh, 256);
    const roi = { x: c.x, y: c.y, width: 256, height: 256 };
    const img = randomImage(1280, 720, rng(42));
    const planes = makeResizeCrop(1280, 720, rw, rh, roi).run(img);
    const out = new Float32Array(5 + 3 * 256 * 256).fill(-99);
    normalizePlanes(planes, out, 5);
    expect(out.subarray(0, 5).every((v) => v === -99)).toBe(true);
    expect(firstDifference(out.subarray(5), fused(img, rw, rh, roi))).toBe(-1);
    expect(() => normalizePlanes(planes, new Float32Array(10))).toThrow(/output too small/);
  });

  it('reads its own input buffer when run gets no image; a frame of the wrong size is refused', () => {
    const img = randomImage(97, 61, rng(7));
    const k = makeResizeCrop(97, 61, 130, 81, { x: 3, y: 2, width: 64, height: 77 });
    k.input.set(img.data);
    const want = planesOf(makeBilinearResizer(97, 61, 130, 81, { x: 3, y: 2, width: 64, height: 77 })(img));
    expect(Buffer.compare(Buffer.from(k.run()), Buffer.from(want))).toBe(0);
    expect(() => k.run(randomImage(96, 61, rng(8)))).toThrow(/transform built for 97x61 got a 96x61 image/);
  });
});
