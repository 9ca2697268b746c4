// Pillow-exact BILINEAR resize (Pillow 9.x `Image.resize(size, Image.BILINEAR)`, libImaging/Resample.c) and the
// reference reader's 4:3 size rule. The reference resizes with Pillow, so a plain 2-tap bilinear would change the
// tensor: Pillow widens the triangle filter when it downscales (antialiasing), normalises weights in double,
// turns them into 22-bit fixed point and rounds to uint8 between the horizontal and the vertical pass.

import { checkInteger } from '../errors.js';

/** An 8-bit RGB image, row-major HWC (`data.length === width * height * 3`). */
export interface RgbImage {
  readonly width: number;
  readonly height: number;
  readonly data: Uint8Array;
}

/** A rectangle of the output image (x, y, width, height), used to compute only what a crop keeps. */
export interface Rect {
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
}

/**
 * The reference's `group_scale` size rule (reference.md 2b): if the short side already equals `shortSize` the
 * frame is kept as is; otherwise the short side becomes `shortSize` and the long side `int(shortSize * 4 / 3)`,
 * whatever the frame's aspect ratio (a 16:9 frame becomes 4:3).
 * Returns `[width, height]`.
 */
export function groupScaleSize(width: number, height: number, shortSize: number): [number, number] {
  checkInteger('width', width, 1);
  checkInteger('height', height, 1);
  checkInteger('shortSize', shortSize, 1);
  if ((width <= height && width === shortSize) || (height <= width && height === shortSize)) return [width, height];
  // Python int(S*4.0/3) truncates; S*4/3 is computed in double exactly as Python does.
  const long = Math.trunc((shortSize * 4.0) / 3);
  return width < height ? [shortSize, long] : [long, shortSize];
}

const PRECISION_BITS = 32 - 8 - 2; // Resample.c: 22 fractional bits
const HALF = 1 << (PRECISION_BITS - 1);
const CLIP_HIGH = 1 << (PRECISION_BITS + 8); // >= this saturates to 255

/** Per-output-pixel filter taps along one axis, in Pillow's fixed point. */
export interface AxisCoefficients {
  /** Taps per output pixel (`kk` stride). */
  readonly ksize: number;
  /** First input index used by output pixel i: `bounds[2i]`; number of taps: `bounds[2i+1]`. */
  readonly bounds: Int32Array;
  /** Fixed-point weights, `ksize` per output pixel (unused taps are 0). */
  readonly kk: Int32Array;
}

/** Pillow's `precompute_coeffs` + `normalize_coeffs_8bpc` for the bilinear (triangle, support 1) filter. */
export function bilinearCoefficients(inSize: number, outSize: number): AxisCoefficients {
  const scale = inSize / outSize;
  const filterscale = scale < 1.0 ? 1.0 : scale;
  const support = 1.0 * filterscale;
  const ksize = Math.ceil(support) * 2 + 1;
  const bounds = new Int32Array(outSize * 2);
  const kk = new Int32Array(outSize * ksize);
  const weights = new Float64Array(ksize);
  const ss = 1.0 / filterscale;
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    // C casts (int) truncate toward zero; the clamps below make the sign irrelevant.
    let xmin = Math.trunc(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    let xmax = Math.trunc(center + support + 0.5);
    if (xmax > inSize) xmax = inSize;
    xmax -= xmin;
    let ww = 0.0;
    for (let x = 0; x < xmax; x++) {
      let t = (x + xmin - center + 0.5) * ss;
      if (t < 0) t = -t;
      const w = t < 1.0 ? 1.0 - t : 0.0;
      weights[x] = w;
      ww += w;
    }
    for (let x = 0; x < xmax; x++) {
      const w = ww !== 0.0 ? weights[x]! / ww : weights[x]!;
      // normalize_coeffs_8bpc: round half away from zero into 22-bit fixed point (triangle weights are >= 0).
      kk[xx * ksize + x] = w < 0 ? Math.trunc(-0.5 + w * (1 << PRECISION_BITS)) : Math.trunc(0.5 + w * (1 << PRECISION_BITS));
    }
    bounds[xx * 2] = xmin;
    bounds[xx * 2 + 1] = xmax;
  }
  return { ksize, bounds, kk };
}

function clip8(ss: number): number {
  if (ss >= CLIP_HIGH) return 255;
  if (ss <= 0) return 0;
  return ss >> PRECISION_BITS;
}

/** The sizes and output window of a resize: positive integers, the window inside the output (else RangeError). */
export function checkResizeSizes(inWidth: number, inHeight: number, outWidth: number, outHeight: number, roi: Rect): void {
  checkInteger('inWidth', inWidth, 1);
  checkInteger('inHeight', inHeight, 1);
  checkInteger('outWidth', outWidth, 1);
  checkInteger('outHeight', outHeight, 1);
  if (roi.x < 0 || roi.y < 0 || roi.width < 1 || roi.height < 1 || roi.x + roi.width > outWidth || roi.y + roi.height > outHeight) {
    throw new RangeError(`roi ${JSON.stringify(roi)} is outside the ${outWidth}x${outHeight} output`);
  }
}

/**
 * A resize from one fixed size to another, coefficients computed once (all frames of a video share them).
 * `roi` restricts the work to a rectangle of the output (e.g. the center crop); the pixels it returns are
 * identical to the same rectangle of the full resize, because each output pixel depends only on its own taps.
 */
export function makeBilinearResizer(
  inWidth: number,
  inHeight: number,
  outWidth: number,
  outHeight: number,
  roi: Rect = { x: 0, y: 0, width: outWidth, height: outHeight },
): (src: RgbImage) => RgbImage {
  checkResizeSizes(inWidth, inHeight, outWidth, outHeight, roi);
  // Pillow skips a pass when that axis keeps its size (and returns a copy when both do).
  const needH = outWidth !== inWidth;
  const needV = outHeight !== inHeight;
  const hc = needH ? bilinearCoefficients(inWidth, outWidth) : undefined;
  const vc = needV ? bilinearCoefficients(inHeight, outHeight) : undefined;

  // Rows of the input the vertical pass will read for the roi rows (all roi rows when there is no vertical pass).
  let rowFirst = roi.y;
  let rowEnd = roi.y + roi.height;
  if (vc) {
    rowFirst = vc.bounds[roi.y * 2]!;
    const last = roi.y + roi.height - 1;
    rowEnd = vc.bounds[last * 2]! + vc.bounds[last * 2 + 1]!;
  }
  const tmpRows = rowEnd - rowFirst;
  const rw = roi.width;

  return (src: RgbImage): RgbImage => {
    if (src.width !== inWidth || src.height !== inHeight || src.data.length !== inWidth * inHeight * 3) {
      throw new RangeError(`resizer built for ${inWidth}x${inHeight} got a ${src.width}x${src.height} image (${src.data.length} bytes)`);
    }
    const s = src.data;
    // Intermediate: rows rowFirst..rowEnd-1 of the horizontal pass, only the roi columns. [tmpRows, rw, 3]
    const tmp = new Uint8Array(tmpRows * rw * 3);
    if (hc) {
      const ksize = hc.ksize;
      const bounds = hc.bounds;
      const kk = hc.kk;
      const rowBytes = inWidth * 3;
      let o = 0;
      for (let y = 0; y < tmpRows; y++) {
        const rowOff = (y + rowFirst) * rowBytes;
        for (let xx = roi.x; xx < roi.x + rw; xx++) {
          let k = xx * ksize;
          let p = rowOff + bounds[xx * 2]! * 3;
          const end = p + bounds[xx * 2 + 1]! * 3;
          let s0 = HALF;
          let s1 = HALF;
          let s2 = HALF;
          for (; p < end; p += 3, k++) {
            const w = kk[k]!;
            s0 += s[p]! * w;
            s1 += s[p + 1]! * w;
            s2 += s[p + 2]! * w;
          }
          tmp[o++] = clip8(s0);
          tmp[o++] = clip8(s1);
          tmp[o++] = clip8(s2);
        }
      }
    } else {
      for (let y = 0; y < tmpRows; y++) {
        const from = ((y + rowFirst) * inWidth + roi.x) * 3;
        tmp.set(s.subarray(from, from + rw * 3), y * rw * 3);
      }
    }
    if (!vc) return { width: rw, height: roi.height, data: tmp };

    const out = new Uint8Array(roi.height * rw * 3);
    const { ksize, bounds, kk } = vc;
    const rowStride = rw * 3;
    let o = 0;
    for (let yy = roi.y; yy < roi.y + roi.height; yy++) {
      const ymin = bounds[yy * 2]! - rowFirst;
      const ymax = bounds[yy * 2 + 1]!;
      const k0 = yy * ksize;
      for (let c = 0; c < rowStride; c++) {
        let acc = HALF;
        let p = ymin * rowStride + c;
        for (let y = 0; y < ymax; y++, p += rowStride) acc += tmp[p]! * kk[k0 + y]!;
        out[o++] = clip8(acc);
      }
    }
    return { width: rw, height: roi.height, data: out };
  };
}

/** Pillow `Image.resize((outWidth, outHeight), Image.BILINEAR)` of an RGB image. */
export function resizeBilinear(src: RgbImage, outWidth: number, outHeight: number): RgbImage {
  return makeBilinearResizer(src.width, src.height, outWidth, outHeight)(src);
}
