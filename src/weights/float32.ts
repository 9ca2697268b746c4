// Converts the readers' StoredTensors to float32 parameters with at most one copy of the weights alive.
//
// Fast path (float32, C order, the file's buffer owned by the loader): compact the data IN PLACE inside the
// file's buffer, each tensor moved down to the next 4-byte-aligned position and viewed as a Float32Array.
// This is safe because tensors are processed in increasing source offset, every tensor's output is no
// larger than its source, and the write position never passes the read position (headers/opcodes that are
// dropped are always larger than the <= 3 alignment bytes). Peak memory is the file itself; afterwards
// the buffer IS the slab. Other dtypes / Fortran order (rare in real weights) get their own Float32Array.
import { transcode } from 'node:buffer';
import { StnetError } from '../errors.js';
import type { Float32Param } from './types.js';
import {
  blobBytes,
  decodeLatin1Utf8,
  decodeTyped,
  ITEM_SIZE,
  ndArrayToFloat32,
  numelOf,
  orderIrrelevant,
  where,
  type StoredTensor,
} from './tensor.js';

export interface ToFloat32Options {
  /** Allow overwriting `source` (the loader's own copy of the file). */
  readonly inPlace: boolean;
  readonly path?: string;
}

function checkLength(t: StoredTensor, have: number, path: string | undefined): void {
  const need = numelOf(t.shape) * ITEM_SIZE[t.dtype];
  if (have !== need) {
    throw new StnetError(
      'E_WEIGHTS_CORRUPT',
      `${where(path)}parameter ${t.name}: ${t.dtype} shape [${t.shape.join(',')}] needs ${need} data bytes, the file holds ${have}`,
      { path },
    );
  }
}

function swap32InPlace(buf: Uint8Array, start: number, n: number): void {
  for (let i = start, end = start + n * 4; i < end; i += 4) {
    const a = buf[i]!;
    const b = buf[i + 1]!;
    buf[i] = buf[i + 3]!;
    buf[i + 1] = buf[i + 2]!;
    buf[i + 2] = b;
    buf[i + 3] = a;
  }
}

/**
 * Python 3's protocol-2 bytes (UTF-8 of a latin-1 string) -> the bytes, written at `dst` of the same buffer.
 * ICU's transcode is about 2.5x faster than a JS byte loop on random float bytes (the loop's branch on every
 * byte mispredicts half the time); it substitutes '?' for code points above 0xFF instead of failing, so the
 * result is checked: for latin-1 text, UTF-8 length = bytes + number of bytes >= 0x80.
 * Returns the bytes written or -1 for data that is not latin-1 UTF-8.
 */
function latin1FromUtf8(source: Uint8Array, offset: number, length: number, dst: number): number {
  if (typeof transcode !== 'function') return decodeLatin1Utf8(source, offset, length, source, dst);
  // 1 MiB pieces keep the temporaries small and in cache; a piece never ends between a lead byte and its
  // continuation byte (continuation bytes are 0b10xxxxxx).
  const end = offset + length;
  let src = offset;
  let o = dst;
  while (src < end) {
    let stop = Math.min(end, src + CHUNK);
    while (stop < end && (source[stop]! & 0xc0) === 0x80) stop--;
    let tmp: Uint8Array;
    try {
      tmp = transcode(source.subarray(src, stop), 'utf8', 'latin1');
    } catch {
      return -1;
    }
    if (tmp.length + countHighBytes(tmp) !== stop - src) return -1;
    source.set(tmp, o);
    o += tmp.length;
    src = stop;
  }
  return o - dst;
}

const CHUNK = 1 << 20;

/** Number of bytes >= 0x80, four bytes per step where the data is 4-byte aligned. */
function countHighBytes(b: Uint8Array): number {
  let k = 0;
  let high = 0;
  while (k < b.length && ((b.byteOffset + k) & 3) !== 0) high += b[k++]! >>> 7;
  const words = new Uint32Array(b.buffer, b.byteOffset + k, (b.length - k) >>> 2);
  for (let i = 0; i < words.length; i++) {
    // The high bit of each byte moved to its low bit, then the four summed into the top byte.
    high += Math.imul((words[i]! >>> 7) & 0x01010101, 0x01010101) >>> 24;
  }
  for (k += words.length * 4; k < b.length; k++) high += b[k]! >>> 7;
  return high;
}

/** Converts every tensor to float32 (C order). Returns them in the input order. */
export function toFloat32Params(source: Uint8Array, tensors: readonly StoredTensor[], opts: ToFloat32Options): Map<string, Float32Param> {
  const { path } = opts;
  const results = new Array<Float32Array>(tensors.length);
  const order = tensors.map((_, i) => i);
  const off = (t: StoredTensor): number => (t.blob.kind === 'bytes' ? -1 : t.blob.offset);
  order.sort((a, b) => off(tensors[a]!) - off(tensors[b]!));

  // Overlapping or shared source ranges (never written by Paddle or numpy) would be clobbered by compaction.
  let inPlace = opts.inPlace;
  let prevEnd = -1;
  for (const i of order) {
    const b = tensors[i]!.blob;
    if (b.kind === 'bytes') continue;
    if (b.offset < prevEnd) inPlace = false;
    prevEnd = b.offset + b.length;
  }

  let dst = 0;
  const base = source.byteOffset;
  for (const i of order) {
    const t = tensors[i]!;
    const n = numelOf(t.shape);
    const blob = t.blob;
    const aligned = dst + ((4 - ((base + dst) & 3)) & 3);
    // The last condition always holds for real files (see the top comment); if a crafted file broke it,
    // this tensor simply takes the copying path.
    const fast =
      inPlace && blob.kind !== 'bytes' && t.dtype === 'float32' && (!t.fortran || orderIrrelevant(t.shape)) && aligned <= blob.offset;
    if (fast) {
      dst = aligned;
      let written: number;
      if (blob.kind === 'range') {
        checkLength(t, blob.length, path);
        source.copyWithin(dst, blob.offset, blob.offset + blob.length);
        written = blob.length;
      } else {
        written = latin1FromUtf8(source, blob.offset, blob.length, dst);
        if (written < 0) {
          throw new StnetError('E_WEIGHTS_CORRUPT', `${where(path)}parameter ${t.name}: raw data string is not latin-1 encoded UTF-8`, { path });
        }
        checkLength(t, written, path);
      }
      if (!t.littleEndian) swap32InPlace(source, dst, n);
      results[i] = new Float32Array(source.buffer, base + dst, n);
      dst += written;
    } else {
      const bytes = blobBytes(source, blob, `parameter ${t.name}`, path);
      checkLength(t, bytes.length, path);
      results[i] = ndArrayToFloat32(decodeTyped(bytes, t.dtype, t.shape, t.littleEndian, t.fortran));
    }
  }
  const out = new Map<string, Float32Param>();
  tensors.forEach((t, i) => {
    out.set(t.name, { shape: Object.freeze([...t.shape]), data: results[i]! });
  });
  return out;
}
