// The loader's per-frame transform in one step: Pillow-exact BILINEAR resize of only the crop window, the
// reference's normalisation and the HWC -> CHW layout, run by a WebAssembly SIMD kernel (wasm/resample.ts) and
// written straight into the frame's slot of the clip tensor. It computes exactly what
// normalizeToChw(makeBilinearResizer(...)(frame)) computes (test/transforms/fused.test.ts compares them on many
// sizes), several times faster: the JS passes were most of loadVideo's own time (issue 10).
// Where WebAssembly SIMD is missing it falls back to those JS functions.

import { IMAGE_MEAN, IMAGE_STD, normalizeToChw } from './normalize.js';
import { bilinearCoefficients, checkResizeSizes, makeBilinearResizer, type Rect, type RgbImage } from './resize.js';
import { RESAMPLE_WASM_BASE64 } from './wasm/resample.wasm.js';

// The project compiles against lib ES2022 without the DOM, whose typings are where WebAssembly is declared; these
// are the few members used here (Node's global WebAssembly object at run time).
interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
interface WasmModule {
  readonly __wasmModule: unique symbol;
}
declare const WebAssembly: {
  Module: new (bytes: Uint8Array) => WasmModule;
  Instance: new (module: WasmModule, imports: object) => { readonly exports: object };
};

interface KernelExports {
  memory: WasmMemory;
  heapBase(): number;
  horizontal(src: number, srcStride: number, rowFirst: number, rows: number, hBounds: number, hK: number, hKsize: number, outW: number, tmp: number, tmpStride: number): void;
  verticalNormalize(tmp: number, tmpStride: number, rows: number, vBounds: number, vK: number, vKsize: number, outW: number, outH: number, out: number, norm: number): void;
  verticalU8(tmp: number, tmpStride: number, rows: number, vBounds: number, vK: number, vKsize: number, outW: number, outH: number, out: number): void;
}

/** Resize + crop + normalise + CHW for frames of one size. */
export interface FusedFrameTransform {
  /**
   * A frame-sized buffer (inWidth * inHeight * 3 bytes, RGB) the transform reads when `run` gets no image:
   * decoders write frames straight into it (it lives in the kernel's memory, so no copy is made).
   */
  readonly input: Uint8Array;
  /** Output size: the rectangle's width and height. */
  readonly width: number;
  readonly height: number;
  /** True when the WebAssembly SIMD kernel runs, false for the JS fallback. */
  readonly simd: boolean;
  /**
   * Transforms `src` (default: the frame in `input`) and writes its normalised planes [3, height, width] (float32)
   * into `out` at `offset`.
   */
  run(out: Float32Array, offset: number, src?: RgbImage): void;
}

const PRECISION_BITS = 22;

let compiled: WasmModule | null | undefined;
function kernelModule(): WasmModule | null {
  if (compiled === undefined) {
    try {
      compiled = new WebAssembly.Module(Buffer.from(RESAMPLE_WASM_BASE64, 'base64'));
    } catch {
      // A runtime without WebAssembly SIMD (Node >= 16.4 has it): the JS path gives the same values, slower.
      compiled = null;
    }
  }
  return compiled;
}

/** Per output index along one axis: [first input index * elementBytes, taps] pairs and the weights, `ksize` each. */
function axisTable(inSize: number, outSize: number, first: number, count: number): { bounds: Int32Array; kk: Int32Array; ksize: number } {
  if (inSize === outSize) {
    // Pillow skips the pass for an axis that keeps its size; one tap of weight 1.0 gives the same bytes:
    // (v << 22 + 1 << 21) >> 22 = v.
    const bounds = new Int32Array(count * 2);
    for (let i = 0; i < count; i++) {
      bounds[2 * i] = first + i;
      bounds[2 * i + 1] = 1;
    }
    return { bounds, kk: new Int32Array(count).fill(1 << PRECISION_BITS), ksize: 1 };
  }
  const c = bilinearCoefficients(inSize, outSize);
  return { bounds: c.bounds.slice(2 * first, 2 * (first + count)), kk: c.kk.slice(first * c.ksize, (first + count) * c.ksize), ksize: c.ksize };
}

const align16 = (n: number): number => Math.ceil(n / 16) * 16;

/** One kernel instance laid out for frames of one size: its input buffer and the resize of `input` into `out`. */
interface KernelRun {
  readonly k: KernelExports;
  /** The frame the passes read (in the kernel's memory). */
  readonly input: Uint8Array;
  readonly memory: ArrayBuffer;
  /** Where the vertical pass writes (`outBytes` bytes reserved, plus the 16-column spill). */
  readonly out: number;
  readonly norm: number;
  /** Horizontal pass over the rows the crop needs, into the planar uint8 scratch. */
  horizontal(): void;
  /** The vertical pass's arguments after `out` (tmp, tmpStride, rows, vBounds, vK, vKsize, outW, outH). */
  readonly vArgs: readonly [number, number, number, number, number, number, number, number];
}

function kernelRun(mod: WasmModule, inWidth: number, inHeight: number, outWidth: number, outHeight: number, roi: Rect, outBytes: number): KernelRun {
  const frameBytes = inWidth * inHeight * 3;
  const h = axisTable(inWidth, outWidth, roi.x, roi.width);
  for (let j = 0; j < roi.width; j++) h.bounds[2 * j]! *= 3; // the kernel takes byte offsets into the row
  const v = axisTable(inHeight, outHeight, roi.y, roi.height);
  // Input rows the vertical pass reads: only these go through the horizontal pass.
  const rowFirst = v.bounds[0]!;
  const rowEnd = v.bounds[2 * (roi.height - 1)]! + v.bounds[2 * (roi.height - 1) + 1]!;
  const rows = rowEnd - rowFirst;
  for (let i = 0; i < roi.height; i++) v.bounds[2 * i]! -= rowFirst;
  const tmpStride = align16(roi.width);

  const instance = new WebAssembly.Instance(mod, {});
  const k = instance.exports as unknown as KernelExports;
  // Layout of the kernel's memory, each part 16-byte aligned.
  let at = k.heapBase();
  const take = (bytes: number): number => {
    const p = at;
    at = align16(at + bytes);
    return p;
  };
  const norm = take(24);
  const hBounds = take(h.bounds.byteLength);
  const hK = take(h.kk.byteLength);
  const vBounds = take(v.bounds.byteLength);
  const vK = take(v.kk.byteLength);
  const src = take(frameBytes + 16); // each horizontal tap reads 8 bytes
  const tmp = take(3 * rows * tmpStride + 16);
  const out = take(outBytes + 64); // 16-column steps spill past the last row
  const pages = Math.ceil((at - k.memory.buffer.byteLength) / 65536);
  if (pages > 0) k.memory.grow(pages);
  const mem = k.memory.buffer; // fixed from here on: the memory does not grow again, so views stay valid
  new Float32Array(mem, norm, 6).set([...IMAGE_MEAN, ...IMAGE_STD].map(Math.fround));
  new Int32Array(mem, hBounds, h.bounds.length).set(h.bounds);
  new Int32Array(mem, hK, h.kk.length).set(h.kk);
  new Int32Array(mem, vBounds, v.bounds.length).set(v.bounds);
  new Int32Array(mem, vK, v.kk.length).set(v.kk);
  return {
    k,
    input: new Uint8Array(mem, src, frameBytes),
    memory: mem,
    out,
    norm,
    horizontal: () => k.horizontal(src, inWidth * 3, rowFirst, rows, hBounds, hK, h.ksize, roi.width, tmp, tmpStride),
    vArgs: [tmp, tmpStride, rows, vBounds, vK, v.ksize, roi.width, roi.height],
  };
}

/** Copies `img` into the kernel's input (unless it is that buffer), after checking its size. */
function takeFrame(input: Uint8Array, inWidth: number, inHeight: number, img: RgbImage | undefined): void {
  if (img === undefined) return;
  if (img.width !== inWidth || img.height !== inHeight || img.data.length !== input.length) {
    throw new RangeError(`transform built for ${inWidth}x${inHeight} got a ${img.width}x${img.height} image (${img.data.length} bytes)`);
  }
  if (img.data !== input) input.set(img.data);
}

/**
 * A fused transform from `inWidth` x `inHeight` frames: Pillow BILINEAR resize to `outWidth` x `outHeight`,
 * keeping only `roi` (the center crop), then (v / 255 - mean) / std per channel into CHW float32.
 * The same values as `normalizeToChw(makeBilinearResizer(inWidth, inHeight, outWidth, outHeight, roi)(frame))`.
 */
export function makeResizeNormalize(inWidth: number, inHeight: number, outWidth: number, outHeight: number, roi: Rect = { x: 0, y: 0, width: outWidth, height: outHeight }): FusedFrameTransform {
  checkResizeSizes(inWidth, inHeight, outWidth, outHeight, roi);
  const mod = kernelModule();
  if (!mod) return jsFallback(inWidth, inHeight, outWidth, outHeight, roi);
  const plane = roi.width * roi.height;
  const r = kernelRun(mod, inWidth, inHeight, outWidth, outHeight, roi, 3 * plane * 4);
  const result = new Float32Array(r.memory, r.out, 3 * plane); // [3, roi.height, roi.width]
  return {
    input: r.input,
    width: roi.width,
    height: roi.height,
    simd: true,
    run(dst: Float32Array, offset: number, img?: RgbImage): void {
      takeFrame(r.input, inWidth, inHeight, img);
      if (dst.length < offset + 3 * plane) throw new RangeError(`output too small (${dst.length} < ${offset + 3 * plane})`);
      r.horizontal();
      r.k.verticalNormalize(...r.vArgs, r.out, r.norm);
      dst.set(result, offset);
    },
  };
}

/** Resize + crop to planar uint8, the crop the timeline keeps per frame (normalised later, per window). */
export interface FusedCropTransform {
  /** As FusedFrameTransform's: a frame-sized buffer `run` reads when it gets no image. */
  readonly input: Uint8Array;
  readonly width: number;
  readonly height: number;
  readonly simd: boolean;
  /** The crop of `src` (default: the frame in `input`) as planes [3][height][width]; valid until the next run. */
  run(src?: RgbImage): Uint8Array;
}

/**
 * Pillow BILINEAR resize to `outWidth` x `outHeight`, keeping only `roi`, as planar uint8: the bytes of
 * `makeBilinearResizer(...)(frame)` (interleaved RGB) with the channels split into planes. normalizePlanes() of it
 * is what makeResizeNormalize writes.
 */
export function makeResizeCrop(inWidth: number, inHeight: number, outWidth: number, outHeight: number, roi: Rect = { x: 0, y: 0, width: outWidth, height: outHeight }): FusedCropTransform {
  checkResizeSizes(inWidth, inHeight, outWidth, outHeight, roi);
  const plane = roi.width * roi.height;
  const mod = kernelModule();
  if (!mod) {
    const resize = makeBilinearResizer(inWidth, inHeight, outWidth, outHeight, roi);
    const input = new Uint8Array(inWidth * inHeight * 3);
    const planes = new Uint8Array(3 * plane);
    return {
      input,
      width: roi.width,
      height: roi.height,
      simd: false,
      run(img?: RgbImage): Uint8Array {
        const d = resize(img ?? { width: inWidth, height: inHeight, data: input }).data;
        for (let i = 0, p = 0; i < plane; i++, p += 3) {
          planes[i] = d[p]!;
          planes[plane + i] = d[p + 1]!;
          planes[2 * plane + i] = d[p + 2]!;
        }
        return planes;
      },
    };
  }
  const r = kernelRun(mod, inWidth, inHeight, outWidth, outHeight, roi, 3 * plane);
  const result = new Uint8Array(r.memory, r.out, 3 * plane);
  return {
    input: r.input,
    width: roi.width,
    height: roi.height,
    simd: true,
    run(img?: RgbImage): Uint8Array {
      takeFrame(r.input, inWidth, inHeight, img);
      r.horizontal();
      r.k.verticalU8(...r.vArgs, r.out);
      return result;
    },
  };
}

function jsFallback(inWidth: number, inHeight: number, outWidth: number, outHeight: number, roi: Rect): FusedFrameTransform {
  const resize = makeBilinearResizer(inWidth, inHeight, outWidth, outHeight, roi);
  const input = new Uint8Array(inWidth * inHeight * 3);
  return {
    input,
    width: roi.width,
    height: roi.height,
    simd: false,
    run(dst: Float32Array, offset: number, img?: RgbImage): void {
      normalizeToChw(resize(img ?? { width: inWidth, height: inHeight, data: input }), dst, offset);
    },
  };
}
