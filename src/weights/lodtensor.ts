// Paddle 1.x LoDTensor serialization (docs/reference.md §6b), one record per parameter file, and the combined
// stream (6c: `save_combine`, records back to back in sorted-name order, no header, no names).
// Record, all little-endian: uint32 version 0 | uint64 lod_level | per level: uint64 byte size + that many
// bytes of uint64 offsets | uint32 tensor version 0 | int32 L | L bytes TensorDesc protobuf | raw C-order data.
//
// The TensorDesc has two fields (1: data_type varint, 2: dims repeated int64). A tiny varint reader is
// clearer and faster here than loading a protobuf schema for two fields, and it reads the packed and the
// non-packed encodings of `dims` alike.
import { StnetError } from '../errors.js';
import { decodeTyped, ITEM_SIZE, numelOf, where, type DType, type NdArray, type StoredTensor } from './tensor.js';

/** Paddle `VarType.Type` codes of the dtypes a tensor can hold. */
export const PADDLE_DTYPES: Readonly<Record<number, DType>> = {
  0: 'bool',
  1: 'int16',
  2: 'int32',
  3: 'int64',
  4: 'float16',
  5: 'float32',
  6: 'float64',
  20: 'uint8',
  21: 'int8',
};

export interface LodTensorRecord {
  /** Position in the stream (0-based). */
  readonly index: number;
  /** Byte offset of the record in the buffer. */
  readonly offset: number;
  readonly byteLength: number;
  readonly dtype: DType;
  /** Paddle's data_type code. */
  readonly dataType: number;
  readonly dims: readonly number[];
  /** LoD offsets per level (empty for parameters). */
  readonly lod: readonly (readonly number[])[];
  readonly descLength: number;
  /** Byte offset of the raw data in the buffer. */
  readonly dataOffset: number;
  readonly dataLength: number;
}

export interface ReadLodTensorOptions {
  /** Name of record i, for error messages (e.g. the sorted StNet names). */
  readonly names?: readonly string[];
  /** The file, for error messages. */
  readonly path?: string;
  /** Stop after this many records (a single-parameter file holds exactly one). */
  readonly maxRecords?: number;
}

// Sanity bounds that let a corrupt header fail with a clear message instead of a huge allocation.
const MAX_LOD_LEVELS = 16;
const MAX_DESC_LENGTH = 1 << 16;
const MAX_RANK = 16;

class Reader {
  pos: number;
  constructor(
    readonly buf: Uint8Array,
    readonly view: DataView,
    start: number,
    readonly path: string | undefined,
    readonly what: string,
  ) {
    this.pos = start;
  }

  need(n: number, part: string): void {
    const remain = this.buf.length - this.pos;
    if (remain < n) {
      throw new StnetError(
        'E_WEIGHTS_TRUNCATED',
        `${where(this.path)}weights file truncated: ${this.what} needs ${n} bytes for its ${part}, ${remain} remain`,
        { path: this.path },
      );
    }
  }

  u32(part: string): number {
    this.need(4, part);
    const v = this.view.getUint32(this.pos, true);
    this.pos += 4;
    return v;
  }

  i32(part: string): number {
    this.need(4, part);
    const v = this.view.getInt32(this.pos, true);
    this.pos += 4;
    return v;
  }

  u64(part: string): number {
    this.need(8, part);
    const v = this.view.getBigUint64(this.pos, true);
    this.pos += 8;
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) this.corrupt(`${part} ${v} is out of range`);
    return Number(v);
  }

  corrupt(msg: string): never {
    throw new StnetError('E_WEIGHTS_CORRUPT', `${where(this.path)}bad LoDTensor ${this.what}: ${msg}`, { path: this.path });
  }
}

function recordLabel(index: number, names: readonly string[] | undefined): string {
  const name = names?.[index];
  return name === undefined ? `record ${index}` : `record ${index} (${name})`;
}

/** Parses the TensorDesc protobuf: field 1 data_type (varint), field 2 dims (int64, packed or not). */
function parseTensorDesc(r: Reader, end: number): { dataType: number; dims: number[] } {
  const buf = r.buf;
  let pos = r.pos;
  const varint = (): number => {
    let result = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      if (pos >= end) r.corrupt('TensorDesc ends inside a varint');
      const b = buf[pos++]!;
      result += (b & 0x7f) * mul;
      if ((b & 0x80) === 0) {
        if (result > Number.MAX_SAFE_INTEGER) r.corrupt('TensorDesc value out of range (negative or > 2^53)');
        return result;
      }
      mul *= 128;
    }
    return r.corrupt('TensorDesc varint longer than 10 bytes');
  };
  let dataType = -1;
  const dims: number[] = [];
  while (pos < end) {
    const key = varint();
    const field = Math.floor(key / 8);
    const wire = key & 7;
    if (field === 1 && wire === 0) dataType = varint();
    else if (field === 2 && wire === 0) dims.push(varint());
    else if (field === 2 && wire === 2) {
      const len = varint();
      const stop = pos + len;
      if (stop > end) r.corrupt('packed dims run past the TensorDesc');
      while (pos < stop) dims.push(varint());
    } else if (wire === 0) varint();
    else if (wire === 2) pos += varint();
    else if (wire === 1) pos += 8;
    else if (wire === 5) pos += 4;
    else r.corrupt(`unsupported protobuf wire type ${wire} in TensorDesc`);
    if (dims.length > MAX_RANK) r.corrupt(`more than ${MAX_RANK} dims`);
  }
  if (pos !== end) r.corrupt('TensorDesc field runs past its length');
  if (dataType < 0) r.corrupt('TensorDesc has no data_type');
  return { dataType, dims };
}

/** Parses one record at `offset`. */
export function readLodTensorRecord(buf: Uint8Array, offset: number, index: number, opts: ReadLodTensorOptions = {}): LodTensorRecord {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const label = recordLabel(index, opts.names);
  const r = new Reader(buf, view, offset, opts.path, label);
  const version = r.u32('LoDTensor version');
  if (version !== 0) r.corrupt(`LoDTensor version ${version} at byte ${offset}, expected 0 (not a Paddle 1.x LoDTensor?)`);
  const lodLevel = r.u64('lod_level');
  if (lodLevel > MAX_LOD_LEVELS) r.corrupt(`lod_level ${lodLevel} at byte ${offset + 4} is implausible`);
  const lod: number[][] = [];
  for (let l = 0; l < lodLevel; l++) {
    const size = r.u64(`LoD level ${l} size`);
    if (size % 8 !== 0) r.corrupt(`LoD level ${l} byte size ${size} is not a multiple of 8`);
    r.need(size, `LoD level ${l}`);
    const level: number[] = [];
    for (let k = 0; k < size / 8; k++) level.push(r.u64('LoD offset'));
    lod.push(level);
  }
  const tensorVersion = r.u32('tensor version');
  if (tensorVersion !== 0) r.corrupt(`tensor version ${tensorVersion}, expected 0`);
  const descLength = r.i32('TensorDesc length');
  if (descLength < 0 || descLength > MAX_DESC_LENGTH) r.corrupt(`TensorDesc length ${descLength} is implausible`);
  r.need(descLength, 'TensorDesc');
  const descEnd = r.pos + descLength;
  const { dataType, dims } = parseTensorDesc(r, descEnd);
  r.pos = descEnd;
  const dtype = PADDLE_DTYPES[dataType];
  if (dtype === undefined) r.corrupt(`unsupported data_type ${dataType} (supported: ${Object.keys(PADDLE_DTYPES).join(', ')})`);
  const dataLength = numelOf(dims) * ITEM_SIZE[dtype];
  if (!Number.isSafeInteger(dataLength)) r.corrupt(`dims ${JSON.stringify(dims)} are too large`);
  r.need(dataLength, `data (${dtype} ${JSON.stringify(dims)})`);
  return {
    index,
    offset,
    byteLength: r.pos + dataLength - offset,
    dtype,
    dataType,
    dims,
    lod,
    descLength,
    dataOffset: r.pos,
    dataLength,
  };
}

/** Parses records back to back until the end of the buffer (or `maxRecords`). */
export function readLodTensorStream(buf: Uint8Array, opts: ReadLodTensorOptions = {}): LodTensorRecord[] {
  const records: LodTensorRecord[] = [];
  let offset = 0;
  const max = opts.maxRecords ?? Infinity;
  while (offset < buf.length && records.length < max) {
    const rec = readLodTensorRecord(buf, offset, records.length, opts);
    records.push(rec);
    offset += rec.byteLength;
  }
  return records;
}

/** Records as format-neutral tensors; record i gets `names[i]` (or `record_<i>` past the list). */
export function lodRecordsToTensors(records: readonly LodTensorRecord[], names: readonly string[]): StoredTensor[] {
  return records.map((rec) => ({
    name: names[rec.index] ?? `record_${rec.index}`,
    dtype: rec.dtype,
    shape: rec.dims,
    littleEndian: true,
    fortran: false,
    blob: { kind: 'range', offset: rec.dataOffset, length: rec.dataLength },
  }));
}

/** Generic use: one record's data as its own typed array (float16 as raw bits, int64 as BigInt64Array). */
export function decodeLodTensorRecord(buf: Uint8Array, rec: LodTensorRecord): NdArray {
  return decodeTyped(buf.subarray(rec.dataOffset, rec.dataOffset + rec.dataLength), rec.dtype, rec.dims, true, false);
}
