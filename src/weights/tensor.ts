// The format-neutral tensor that every reader produces before conversion to float32: dtype, shape, byte
// order, memory order and where its bytes are. Readers do not copy data; they point into the file's buffer,
// so that float32.ts can convert everything with at most one copy (usually none).
import { StnetError } from '../errors.js';

export type DType = 'bool' | 'int8' | 'uint8' | 'int16' | 'int32' | 'int64' | 'float16' | 'float32' | 'float64';

export const ITEM_SIZE: Readonly<Record<DType, number>> = {
  bool: 1,
  int8: 1,
  uint8: 1,
  int16: 2,
  int32: 4,
  int64: 8,
  float16: 2,
  float32: 4,
  float64: 8,
};

/** Where a tensor's raw bytes are. */
export type Blob =
  /** `length` bytes at `offset` of the source buffer, as stored. */
  | { readonly kind: 'range'; readonly offset: number; readonly length: number }
  /**
   * A Python-3 protocol-2 pickle stores bytes as `_codecs.encode(<str>, 'latin1')`, the str being UTF-8 in the
   * file: `length` UTF-8 bytes at `offset` that decode to one byte per code point (all <= 0xFF).
   */
  | { readonly kind: 'latin1-utf8'; readonly offset: number; readonly length: number }
  /** Bytes that are already separate from the source buffer (small values, test writers). */
  | { readonly kind: 'bytes'; readonly bytes: Uint8Array };

export interface StoredTensor {
  readonly name: string;
  readonly dtype: DType;
  readonly shape: readonly number[];
  readonly littleEndian: boolean;
  /** True when the bytes are in Fortran (column-major) order. */
  readonly fortran: boolean;
  readonly blob: Blob;
}

/** A decoded tensor with its own storage, in C order and native (little-endian) byte order. */
export interface NdArray {
  readonly dtype: DType;
  readonly shape: readonly number[];
  /** float16 comes as its raw bits (Uint16Array); int64 as BigInt64Array; bool as 0/1 Uint8Array. */
  readonly data: TypedData;
}

export type TypedData =
  | Float32Array
  | Float64Array
  | Uint16Array
  | Int8Array
  | Uint8Array
  | Int16Array
  | Int32Array
  | BigInt64Array;

export function numelOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function formatShape(shape: readonly number[]): string {
  return `[${shape.join(',')}]`;
}

/** IEEE 754 binary16 bits -> number (exact: every half value is a float32 value). */
export function halfToNumber(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac === 0 ? sign * Infinity : NaN;
  return sign * (1024 + frac) * 2 ** (exp - 25);
}

/** Decodes the UTF-8 of a latin-1-only string into its bytes, `length` source bytes from `src`, writing at `dst`.
 * `dst <= src` may overlap (every code point takes at least as many source bytes as it writes).
 * Returns the number of bytes written, or -1 when a code point is above 0xFF or the UTF-8 is malformed. */
export function decodeLatin1Utf8(buf: Uint8Array, src: number, length: number, out: Uint8Array, dst: number): number {
  const end = src + length;
  let o = dst;
  let i = src;
  while (i < end) {
    const b = buf[i]!;
    if (b < 0x80) {
      out[o++] = b;
      i++;
    } else if ((b === 0xc2 || b === 0xc3) && i + 1 < end) {
      const c = buf[i + 1]!;
      if ((c & 0xc0) !== 0x80) return -1;
      out[o++] = ((b & 0x03) << 6) | (c & 0x3f);
      i += 2;
    } else {
      return -1;
    }
  }
  return o - dst;
}

/**
 * The bytes of a blob, for the generic (non-float32-in-place) paths. A plain range is a view into `source`, not a
 * copy: every caller hands the result straight to decodeTyped, which makes the one aligned copy it keeps.
 */
export function blobBytes(source: Uint8Array, blob: Blob, what: string, path?: string): Uint8Array {
  if (blob.kind === 'bytes') return blob.bytes;
  if (blob.kind === 'range') return source.subarray(blob.offset, blob.offset + blob.length);
  const out = new Uint8Array(blob.length);
  const n = decodeLatin1Utf8(source, blob.offset, blob.length, out, 0);
  if (n < 0) {
    throw new StnetError('E_WEIGHTS_CORRUPT', `${where(path)}${what}: raw data string is not latin-1 encoded UTF-8`, { path });
  }
  return out.subarray(0, n);
}

/** A real copy (Buffer#slice would return a view into the same memory). */
export function copyBytes(b: Uint8Array, start: number, end: number): Uint8Array {
  return new Uint8Array(b.subarray(start, end));
}

export function where(path: string | undefined): string {
  return path === undefined ? '' : `${path}: `;
}

/** Reorders a Fortran-ordered flat array into C order (shape is the logical shape). */
export function fortranToC<T extends TypedData>(src: T, shape: readonly number[]): T {
  const n = src.length;
  const out = new (src.constructor as new (n: number) => T)(n);
  const rank = shape.length;
  if (rank < 2) {
    out.set(src as never);
    return out;
  }
  // Fortran strides: stride[0] = 1, stride[k] = stride[k-1] * shape[k-1]. Walk C order with a counter.
  const fstride = new Array<number>(rank);
  fstride[0] = 1;
  for (let k = 1; k < rank; k++) fstride[k] = fstride[k - 1]! * shape[k - 1]!;
  const idx = new Array<number>(rank).fill(0);
  let f = 0;
  for (let c = 0; c < n; c++) {
    (out as unknown as Record<number, unknown>)[c] = (src as unknown as Record<number, unknown>)[f];
    for (let k = rank - 1; k >= 0; k--) {
      idx[k]!++;
      f += fstride[k]!;
      if (idx[k]! < shape[k]!) break;
      f -= fstride[k]! * shape[k]!;
      idx[k] = 0;
    }
  }
  return out;
}

/** True when Fortran and C order hold the bytes in the same sequence (at most one dim larger than 1). */
export function orderIrrelevant(shape: readonly number[]): boolean {
  let big = 0;
  for (const d of shape) if (d > 1) big++;
  return big <= 1;
}

const CTORS = {
  bool: Uint8Array,
  uint8: Uint8Array,
  int8: Int8Array,
  int16: Int16Array,
  float16: Uint16Array,
  int32: Int32Array,
  float32: Float32Array,
  int64: BigInt64Array,
  float64: Float64Array,
} as const;

/** Decodes raw bytes (as stored) into a typed array in C order, native (little-endian) byte order. */
export function decodeTyped(bytes: Uint8Array, dtype: DType, shape: readonly number[], littleEndian: boolean, fortran: boolean): NdArray {
  const n = numelOf(shape);
  const size = ITEM_SIZE[dtype];
  // One aligned copy; big-endian data is byte-swapped in it, then viewed as the typed array.
  const own = new Uint8Array(n * size);
  own.set(bytes.subarray(0, n * size));
  if (!littleEndian && size > 1) {
    for (let i = 0; i < own.length; i += size) own.subarray(i, i + size).reverse();
  }
  let data: TypedData = new CTORS[dtype](own.buffer, 0, n);
  if (dtype === 'bool') for (let i = 0; i < n; i++) data[i] = data[i] ? 1 : 0;
  if (fortran && !orderIrrelevant(shape)) data = fortranToC(data, shape);
  return { dtype, shape: [...shape], data };
}

let HALF_TABLE: Float32Array | undefined;
/** All 65536 float16 values as float32, built once (256 KiB): a lookup per value instead of arithmetic. */
export function halfTable(): Float32Array {
  if (HALF_TABLE === undefined) {
    HALF_TABLE = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) HALF_TABLE[h] = halfToNumber(h);
  }
  return HALF_TABLE;
}

/** Converts a decoded array to float32 (float16/64 and integers alike; bool -> 0/1). */
export function ndArrayToFloat32(a: NdArray): Float32Array {
  const d = a.data;
  if (d instanceof Float32Array) return d;
  const out = new Float32Array(d.length);
  if (a.dtype === 'float16') {
    const table = halfTable();
    for (let i = 0; i < d.length; i++) out[i] = table[d[i] as number]!;
  } else if (d instanceof BigInt64Array) {
    for (let i = 0; i < d.length; i++) out[i] = Number(d[i]!);
  } else {
    // TypedArray#set converts between number element types natively (float64 -> float32 rounds to nearest).
    out.set(d);
  }
  return out;
}
