// The reference's `imgs_transform` arithmetic, in float32 like NumPy: (pixel / 255 - mean) / std per RGB channel,
// HWC -> CHW. Every step is rounded to float32 as NumPy's float32 arrays are, so results are bit-identical.

import type { RgbImage } from './resize.js';

export const IMAGE_MEAN = [0.485, 0.456, 0.406] as const;
export const IMAGE_STD = [0.229, 0.224, 0.225] as const;

/** One lookup table per channel: the normalised float32 value of each of the 256 levels. [3 * 256] */
function buildLut(): Float32Array {
  const lut = new Float32Array(3 * 256);
  for (let c = 0; c < 3; c++) {
    const mean = Math.fround(IMAGE_MEAN[c]!);
    const std = Math.fround(IMAGE_STD[c]!);
    for (let v = 0; v < 256; v++) lut[c * 256 + v] = Math.fround(Math.fround(Math.fround(v / 255) - mean) / std);
  }
  return lut;
}
const LUT = buildLut();

/** The normalised value of one 8-bit level of channel `c` (0 R, 1 G, 2 B). */
export function normalizeLevel(level: number, c: number): number {
  return LUT[c * 256 + level]!;
}

/**
 * Normalises an RGB image into CHW float32: `out[c*H*W + y*W + x]`. Writes into `out` (at `offset`) when given,
 * so frames can go straight into their place in the clip tensor.
 */
export function normalizeToChw(img: RgbImage, out?: Float32Array, offset = 0): Float32Array {
  const plane = img.width * img.height;
  const dst = out ?? new Float32Array(3 * plane);
  if (dst.length < offset + 3 * plane) throw new RangeError(`normalizeToChw: output too small (${dst.length} < ${offset + 3 * plane})`);
  const d = img.data;
  for (let i = 0, p = 0; i < plane; i++, p += 3) {
    dst[offset + i] = LUT[d[p]!]!;
    dst[offset + plane + i] = LUT[256 + d[p + 1]!]!;
    dst[offset + 2 * plane + i] = LUT[512 + d[p + 2]!]!;
  }
  return dst;
}

/**
 * normalizeToChw for an image already split into planes ([3][plane] uint8, e.g. makeResizeCrop's): the same
 * table, so the same float32 values.
 */
export function normalizePlanes(planes: Uint8Array, out: Float32Array, offset = 0): void {
  const n = planes.length;
  const plane = n / 3;
  if (!Number.isInteger(plane)) throw new RangeError(`normalizePlanes: ${n} bytes is not three planes`);
  if (out.length < offset + n) throw new RangeError(`normalizePlanes: output too small (${out.length} < ${offset + n})`);
  for (let c = 0; c < 3; c++) {
    const base = c * plane;
    const lut = c * 256;
    for (let i = 0; i < plane; i++) out[offset + base + i] = LUT[lut + planes[base + i]!]!;
  }
}
