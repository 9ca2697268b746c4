// Converts the readers' StoredTensors to float32 parameters with at most one copy of the weights alive.
//
// Fast path (float32, C order, the file's buffer owned by the loader): compact the data IN PLACE inside the
// file's buffer, each tensor moved down to the next 4-byte-aligned position and viewed as a Float32Array.
// This is safe because tensors are processed in increasing source offset, every tensor's output is no
// larger than its source, and the write position never passes the read position (headers/opcodes that are
// dropped are always larger than the <= 3 alignment bytes). Peak memory is the file itself; afterwards
// the buffer IS the slab. Other dtypes / Fortran order (rare in real weights) get their own Float32Array.
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
    const fast = inPlace && blob.kind !== 'bytes' && t.dtype === 'float32' && (!t.fortran || orderIrrelevant(t.shape));
    if (fast) {
      dst += (4 - ((base + dst) & 3)) & 3;
      if (dst > blob.offset) throw new Error(`internal: compaction overtook the reader at ${t.name}`);
      let written: number;
      if (blob.kind === 'range') {
        checkLength(t, blob.length, path);
        source.copyWithin(dst, blob.offset, blob.offset + blob.length);
        written = blob.length;
      } else {
        written = decodeLatin1Utf8(source, blob.offset, blob.length, source, dst);
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
  tensors.forEach((t, i) => out.set(t.name, { shape: Object.freeze([...t.shape]), data: results[i]! }));
  return out;
}
