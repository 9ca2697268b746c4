// AssemblyScript source of the WebAssembly SIMD kernel behind src/transforms/fused.ts: Pillow's separable
// BILINEAR resample of an RGB frame (horizontal pass, uint8 rounding, vertical pass) fused with the reference's
// normalisation, writing planar float32 (CHW), for the output rectangle (the center crop) only.
//
// Why AssemblyScript: Debian's clang is not on the CI image and would have to be installed with lld and a wasm
// sysroot, while hand-written text-format wasm (wabt) is hard to review; AssemblyScript is one npm devDependency,
// reads like the TypeScript around it and exposes every WebAssembly SIMD instruction used below as an intrinsic.
// The compiled module is committed as base64 in resample.wasm.ts (`npm run build:wasm` regenerates it;
// test/transforms/wasm-build.test.ts checks that the committed bytes are what this source compiles to).
//
// Arithmetic is Pillow's (libImaging/Resample.c, 8 bpc): 22-bit fixed-point weights, accumulator started at
// 1 << 21, result `clip8(acc)` = clamp(acc >> 22, 0, 255) (the arithmetic shift of a negative sum is negative,
// of a sum >= 1 << 30 is >= 256, so the clamp is the same function). Sums stay below 255 * 2^22 < 2^31.
// Normalisation is NumPy's float32 steps ((v / 255 - mean) / std), each a correctly rounded f32 operation here.
//
// Memory is laid out by the caller (fused.ts); nothing here allocates.

const PRECISION_BITS: i32 = 22;
const HALF: i32 = 1 << (PRECISION_BITS - 1);

/** First byte the caller may use. */
export function heapBase(): usize {
  return (__heap_base + 15) & ~15;
}

@inline
function clip8(acc: v128): v128 {
  return i32x4.min_s(i32x4.max_s(i32x4.shr_s(acc, PRECISION_BITS), i32x4.splat(0)), i32x4.splat(255));
}

/**
 * Horizontal pass over `rows` input rows starting at `rowFirst`, for `outW` output columns.
 * hBounds: per output column two i32, (byte offset of the first tap in the row, taps); hK: `hKsize` i32 weights
 * per column. Writes three uint8 planes [3][rows][tmpStride] at `tmp`. The source needs 8 readable bytes past
 * its end (each tap loads 8 bytes and keeps 3).
 */
export function horizontal(src: usize, srcStride: i32, rowFirst: i32, rows: i32, hBounds: usize, hK: usize, hKsize: i32, outW: i32, tmp: usize, tmpStride: i32): void {
  const plane: usize = <usize>rows * <usize>tmpStride;
  for (let y: i32 = 0; y < rows; y++) {
    const row: usize = src + <usize>(rowFirst + y) * <usize>srcStride;
    const t0: usize = tmp + <usize>y * <usize>tmpStride;
    for (let j: i32 = 0; j < outW; j++) {
      const b: usize = hBounds + (<usize>j << 3);
      let p: usize = row + <usize>load<i32>(b);
      const n: i32 = load<i32>(b, 4);
      let k: usize = hK + <usize>(j * hKsize) * 4;
      let acc = i32x4.splat(HALF);
      for (let t: i32 = 0; t < n; t++) {
        // [r, g, b, next r, ...] -> i32x4 [r, g, b, next r]: the 4th lane is computed and dropped.
        const px = i32x4.extend_low_i16x8_u(v128.load8x8_u(p));
        acc = i32x4.add(acc, i32x4.mul(px, i32x4.splat(load<i32>(k))));
        p += 3;
        k += 4;
      }
      const v = clip8(acc);
      const q: usize = t0 + <usize>j;
      store<u8>(q, <u8>i32x4.extract_lane(v, 0));
      store<u8>(q + plane, <u8>i32x4.extract_lane(v, 1));
      store<u8>(q + 2 * plane, <u8>i32x4.extract_lane(v, 2));
    }
  }
}

@inline
function normalize(v: v128, mean: v128, std: v128): v128 {
  return f32x4.div(f32x4.sub(f32x4.div(f32x4.convert_i32x4_s(v), f32x4.splat(255.0)), mean), std);
}

/**
 * Vertical pass over the three planes written by `horizontal` ([3][rows][tmpStride] uint8), 16 columns at a time
 * (so each row spills up to 15 values past its end: rows and planes go in increasing order, so each spill is
 * overwritten by the next row, and the caller leaves 64 bytes of room after the last one). vBounds: per output row
 * two i32, (first tmp row, taps); vK: `vKsize` i32 weights per row. `toU8`: store Pillow's uint8 result as planar
 * uint8 [3][outH][outW]; else normalise it into planar float32 [3][outH][outW] (`norm`: f32 mean[3], std[3]).
 * Inlined into the two exports below with a constant `toU8`, so each gets its own loop.
 */
@inline
function vertical(tmp: usize, tmpStride: i32, rows: i32, vBounds: usize, vK: usize, vKsize: i32, outW: i32, outH: i32, out: usize, norm: usize, toU8: bool): void {
  const plane: usize = <usize>rows * <usize>tmpStride;
  for (let c: i32 = 0; c < 3; c++) {
    const mean = f32x4.splat(toU8 ? 0 : load<f32>(norm + (<usize>c << 2)));
    const std = f32x4.splat(toU8 ? 1 : load<f32>(norm + 12 + (<usize>c << 2)));
    const src: usize = tmp + <usize>c * plane;
    for (let yy: i32 = 0; yy < outH; yy++) {
      const b: usize = vBounds + (<usize>yy << 3);
      const first: usize = src + <usize>load<i32>(b) * <usize>tmpStride;
      const n: i32 = load<i32>(b, 4);
      const k0: usize = vK + <usize>(yy * vKsize) * 4;
      const row: usize = <usize>(c * outH + yy) * <usize>outW;
      let o: usize = out + (toU8 ? row : row << 2);
      for (let x: i32 = 0; x < outW; x += 16) {
        let a0 = i32x4.splat(HALF);
        let a1 = a0;
        let a2 = a0;
        let a3 = a0;
        let p: usize = first + <usize>x;
        let k: usize = k0;
        for (let t: i32 = 0; t < n; t++) {
          const bytes = v128.load(p);
          const w = i32x4.splat(load<i32>(k));
          const lo = i16x8.extend_low_i8x16_u(bytes);
          const hi = i16x8.extend_high_i8x16_u(bytes);
          a0 = i32x4.add(a0, i32x4.mul(i32x4.extend_low_i16x8_u(lo), w));
          a1 = i32x4.add(a1, i32x4.mul(i32x4.extend_high_i16x8_u(lo), w));
          a2 = i32x4.add(a2, i32x4.mul(i32x4.extend_low_i16x8_u(hi), w));
          a3 = i32x4.add(a3, i32x4.mul(i32x4.extend_high_i16x8_u(hi), w));
          p += <usize>tmpStride;
          k += 4;
        }
        if (toU8) {
          // Each lane is already 0..255 after clip8, so the saturating narrows only repack.
          v128.store(o, i8x16.narrow_i16x8_u(i16x8.narrow_i32x4_u(clip8(a0), clip8(a1)), i16x8.narrow_i32x4_u(clip8(a2), clip8(a3))));
          o += 16;
        } else {
          v128.store(o, normalize(clip8(a0), mean, std));
          v128.store(o, normalize(clip8(a1), mean, std), 16);
          v128.store(o, normalize(clip8(a2), mean, std), 32);
          v128.store(o, normalize(clip8(a3), mean, std), 48);
          o += 64;
        }
      }
    }
  }
}

/** The loader's pass: planar float32 [3][outH][outW], normalised. */
export function verticalNormalize(tmp: usize, tmpStride: i32, rows: i32, vBounds: usize, vK: usize, vKsize: i32, outW: i32, outH: i32, out: usize, norm: usize): void {
  vertical(tmp, tmpStride, rows, vBounds, vK, vKsize, outW, outH, out, norm, false);
}

/** The timeline's pass: Pillow's uint8 result as planar uint8 [3][outH][outW] (its ring keeps these crops). */
export function verticalU8(tmp: usize, tmpStride: i32, rows: i32, vBounds: usize, vK: usize, vKsize: i32, outW: i32, outH: i32, out: usize): void {
  vertical(tmp, tmpStride, rows, vBounds, vK, vKsize, outW, outH, out, 0, true);
}
