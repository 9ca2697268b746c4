// Writers for every weights format the loader reads, byte for byte as Paddle / CPython / numpy write them,
// so tests (weights, graph, download, CLI) can make weights files of any format, size and flaw.
// - LoDTensor records and combined streams (Paddle 1.x SerializeToStream / save_combine)
// - pickles of dicts of numpy arrays: protocols 2-5, the Python 2 and Python 3 spellings (Py3 protocol 2
//   stores bytes as _codecs.encode(<str>, 'latin1') with the str as UTF-8), numpy 1 (`numpy.core`) and
//   numpy 2 (`numpy._core`) module names, dict or OrderedDict, memo indices past 255
// - one-file-per-parameter directories, PaddleHub module folders, .tar/.tar.gz archives of them
// - makeRandomStnetWeights(): a full-size valid set of the 301 StNet parameters
import { transcode } from 'node:buffer';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tar from 'tar';
import { STNET_PARAMS, STNET_SORTED_NAMES } from '../../src/weights/stnet-params.js';
import type { Float32Param } from '../../src/weights/types.js';

export type DType = 'bool' | 'int8' | 'uint8' | 'int16' | 'int32' | 'int64' | 'float16' | 'float32' | 'float64';

export const ITEM: Record<DType, number> = { bool: 1, int8: 1, uint8: 1, int16: 2, int32: 4, int64: 8, float16: 2, float32: 4, float64: 8 };

const PADDLE_CODE: Record<DType, number> = { bool: 0, int16: 1, int32: 2, int64: 3, float16: 4, float32: 5, float64: 6, uint8: 20, int8: 21 };
const NUMPY_CODE: Record<DType, string> = { bool: 'b1', int8: 'i1', uint8: 'u1', int16: 'i2', int32: 'i4', int64: 'i8', float16: 'f2', float32: 'f4', float64: 'f8' };

// ---------------------------------------------------------------- numbers -> bytes

/** float -> IEEE binary16 bits, round to nearest even (like numpy's astype(float16)). */
const SCRATCH_F32 = new Float32Array(1);
const SCRATCH_U32 = new Uint32Array(SCRATCH_F32.buffer);
export function toHalfBits(v: number): number {
  SCRATCH_F32[0] = v;
  const x = SCRATCH_U32[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant !== 0 ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant = (mant | 0x800000) >>> 0;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rem > mid || (rem === mid && (half & 1) === 1)) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (half & 1) === 1)) half++;
  return sign | half;
}

/** Encodes values (C order as given) as raw bytes of `dtype`. int64 accepts bigint. */
export function encodeValues(dtype: DType, values: ArrayLike<number | bigint>, littleEndian = true): Uint8Array {
  const n = values.length;
  const out = new Uint8Array(n * ITEM[dtype]);
  const dv = new DataView(out.buffer);
  for (let i = 0; i < n; i++) {
    const v = values[i]!;
    const num = typeof v === 'bigint' ? Number(v) : v;
    switch (dtype) {
      case 'bool':
        out[i] = num ? 1 : 0;
        break;
      case 'uint8':
        dv.setUint8(i, num);
        break;
      case 'int8':
        dv.setInt8(i, num);
        break;
      case 'int16':
        dv.setInt16(i * 2, num, littleEndian);
        break;
      case 'int32':
        dv.setInt32(i * 4, num, littleEndian);
        break;
      case 'int64':
        dv.setBigInt64(i * 8, typeof v === 'bigint' ? v : BigInt(num), littleEndian);
        break;
      case 'float16':
        dv.setUint16(i * 2, toHalfBits(num), littleEndian);
        break;
      case 'float32':
        dv.setFloat32(i * 4, num, littleEndian);
        break;
      case 'float64':
        dv.setFloat64(i * 8, num, littleEndian);
        break;
    }
  }
  return out;
}

/** Reorders C-order values into Fortran order for `shape`. */
export function cToFortran<T>(values: ArrayLike<T>, shape: readonly number[]): T[] {
  const n = values.length;
  const out = new Array<T>(n);
  const rank = shape.length;
  const idx = new Array<number>(rank).fill(0);
  for (let c = 0; c < n; c++) {
    let f = 0;
    let stride = 1;
    for (let k = 0; k < rank; k++) {
      f += idx[k]! * stride;
      stride *= shape[k]!;
    }
    out[f] = values[c]!;
    for (let k = rank - 1; k >= 0; k--) {
      if (++idx[k]! < shape[k]!) break;
      idx[k] = 0;
    }
  }
  return out;
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

function varint(v: number): number[] {
  const out: number[] = [];
  let x = v;
  while (x >= 0x80) {
    out.push((x % 0x80) | 0x80);
    x = Math.floor(x / 0x80);
  }
  out.push(x);
  return out;
}

// ---------------------------------------------------------------- LoDTensor

export interface LodRecordSpec {
  dtype: DType;
  dims: readonly number[];
  /** Raw little-endian C-order data; or values to encode. */
  data?: Uint8Array;
  values?: ArrayLike<number | bigint>;
  lod?: readonly (readonly number[])[];
  /** Write dims packed (proto3 style) instead of Paddle's non-packed proto2 encoding. */
  packedDims?: boolean;
  /** Override header fields to make bad records. */
  version?: number;
  tensorVersion?: number;
  dataTypeCode?: number;
}

export function lodTensorRecord(spec: LodRecordSpec): Uint8Array {
  const data = spec.data ?? encodeValues(spec.dtype, spec.values ?? [], true);
  const desc: number[] = [0x08, ...varint(spec.dataTypeCode ?? PADDLE_CODE[spec.dtype])];
  if (spec.packedDims) {
    const body = spec.dims.flatMap((d) => varint(d));
    desc.push(0x12, ...varint(body.length), ...body);
  } else {
    for (const d of spec.dims) desc.push(0x10, ...varint(d));
  }
  const lod = spec.lod ?? [];
  const head = new Uint8Array(4 + 8 + lod.reduce((n, l) => n + 8 + 8 * l.length, 0) + 4 + 4);
  const dv = new DataView(head.buffer);
  let o = 0;
  dv.setUint32(o, spec.version ?? 0, true);
  o += 4;
  dv.setBigUint64(o, BigInt(lod.length), true);
  o += 8;
  for (const level of lod) {
    dv.setBigUint64(o, BigInt(level.length * 8), true);
    o += 8;
    for (const x of level) {
      dv.setBigUint64(o, BigInt(x), true);
      o += 8;
    }
  }
  dv.setUint32(o, spec.tensorVersion ?? 0, true);
  o += 4;
  dv.setInt32(o, desc.length, true);
  return concat([head, Uint8Array.from(desc), data]);
}

export function lodTensorStream(records: readonly LodRecordSpec[]): Uint8Array {
  return concat(records.map(lodTensorRecord));
}

// ---------------------------------------------------------------- pickle

export interface PickleArraySpec {
  dtype: DType;
  shape: readonly number[];
  /** Values in logical C order (encoded per byteOrder/fortran) ... */
  values?: ArrayLike<number | bigint>;
  /** ... or the raw bytes exactly as they should be stored. */
  raw?: Uint8Array;
  bigEndian?: boolean;
  fortran?: boolean;
}

export interface PickleOptions {
  protocol: 2 | 3 | 4 | 5;
  /** 'py2': str keys/bytes as BINSTRING; 'py3' (default). Only meaningful with protocol 2. */
  writer?: 'py2' | 'py3';
  /** numpy module spelling: numpy 1 (`numpy.core`, default) or numpy 2 (`numpy._core`). */
  numpy?: 1 | 2;
  container?: 'dict' | 'OrderedDict';
  /** Emit FRAME opcodes (protocol >= 4, default true). */
  frames?: boolean;
}

class PickleWriter {
  private parts: number[] = [];
  private big: Uint8Array[] = [];
  private memo = new Map<string, number>();
  private nextMemo = 0;
  constructor(readonly opts: PickleOptions) {}

  flush(): void {
    if (this.parts.length > 0) {
      this.big.push(Uint8Array.from(this.parts));
      this.parts = [];
    }
  }
  op(...bytes: number[]): void {
    for (const b of bytes) this.parts.push(b);
  }
  raw(bytes: Uint8Array): void {
    this.flush();
    this.big.push(bytes);
  }
  u32(v: number): void {
    this.op(v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff);
  }
  u64(v: number): void {
    this.u32(v % 2 ** 32);
    this.u32(Math.floor(v / 2 ** 32));
  }
  put(): number {
    const i = this.nextMemo++;
    if (this.opts.protocol >= 4) this.op(0x94);
    else if (i < 256) this.op(0x71, i);
    else {
      this.op(0x72);
      this.u32(i);
    }
    return i;
  }
  get(i: number): void {
    if (i < 256) this.op(0x68, i);
    else {
      this.op(0x6a);
      this.u32(i);
    }
  }
  unicode(s: string): void {
    const b = new TextEncoder().encode(s);
    if (this.opts.protocol >= 4 && b.length < 256) this.op(0x8c, b.length);
    else {
      this.op(0x58);
      this.u32(b.length);
    }
    this.raw(b);
    this.put();
  }
  /** Python 2 str: raw bytes. */
  binstring(b: Uint8Array): void {
    if (b.length < 256) this.op(0x55, b.length);
    else {
      this.op(0x54);
      this.u32(b.length);
    }
    this.raw(b);
    this.put();
  }
  global(module: string, name: string): void {
    const key = `${module}.${name}`;
    const seen = this.memo.get(key);
    if (seen !== undefined) {
      this.get(seen);
      return;
    }
    if (this.opts.protocol >= 4) {
      this.unicode(module);
      this.unicode(name);
      this.op(0x93);
    } else {
      this.op(0x63, ...new TextEncoder().encode(`${module}\n${name}\n`));
    }
    this.memo.set(key, this.put());
  }
  str(s: string): void {
    if (this.opts.writer === 'py2') this.binstring(Uint8Array.from(s, (c) => c.charCodeAt(0)));
    else this.unicode(s);
  }
  /** Python `bytes` as each writer spells it. */
  bytes(b: Uint8Array): void {
    const { protocol, writer } = this.opts;
    if (protocol === 2 && writer === 'py2') {
      this.binstring(b);
      return;
    }
    if (protocol === 2 && b.length === 0) {
      // CPython 3, protocol 2, empty bytes: bytes() with the module under its Python 2 name.
      this.global('__builtin__', 'bytes');
      this.op(0x29, 0x52);
      this.put();
      return;
    }
    if (protocol === 2) {
      // CPython 3, protocol 2: _codecs.encode(b.decode('latin1'), 'latin1'), the str written as UTF-8.
      this.global('_codecs', 'encode');
      const utf8 = latin1ToUtf8(b);
      this.op(0x58);
      this.u32(utf8.length);
      this.raw(utf8);
      this.put();
      this.unicode('latin1');
      this.op(0x86);
      this.put();
      this.op(0x52);
      this.put();
      return;
    }
    if (b.length < 256) this.op(0x43, b.length);
    else if (b.length < 2 ** 32) {
      this.op(0x42);
      this.u32(b.length);
    } else {
      this.op(0x8e);
      this.u64(b.length);
    }
    this.raw(b);
    this.put();
  }
  int(v: number): void {
    if (v >= 0 && v < 256) this.op(0x4b, v);
    else if (v >= 0 && v < 65536) this.op(0x4d, v & 0xff, v >> 8);
    else {
      this.op(0x4a);
      this.u32(v >>> 0);
    }
  }
  tuple(items: (() => void)[]): void {
    if (items.length === 0) {
      this.op(0x29); // CPython does not memoize the empty tuple
      return;
    }
    if (items.length <= 3) {
      for (const f of items) f();
      this.op([0x85, 0x86, 0x87][items.length - 1]!);
    } else {
      this.op(0x28);
      for (const f of items) f();
      this.op(0x74);
    }
    this.put();
  }
  dtype(d: DType, bigEndian: boolean): void {
    this.global('numpy', 'dtype');
    this.tuple([() => this.str(NUMPY_CODE[d]), () => this.op(0x89), () => this.op(0x88)]);
    this.op(0x52);
    this.put();
    const order = ITEM[d] === 1 ? '|' : bigEndian ? '>' : '<';
    this.tuple([() => this.int(3), () => this.str(order), () => this.op(0x4e), () => this.op(0x4e), () => this.op(0x4e), () => this.int(-1), () => this.int(-1), () => this.int(0)]);
    this.op(0x62);
  }
  array(a: PickleArraySpec): void {
    const core = this.opts.numpy === 2 ? 'numpy._core' : 'numpy.core';
    const raw = arrayBytes(a);
    if (this.opts.protocol === 5) {
      // ndarray.__reduce_ex__(5): _frombuffer(PickleBuffer(a), dtype, shape, order); in-band -> BYTEARRAY8.
      this.global(`${core}.numeric`, '_frombuffer');
      this.op(0x28);
      this.op(0x96);
      this.u64(raw.length);
      this.raw(raw);
      this.put();
      this.dtype(a.dtype, a.bigEndian === true);
      this.tuple(a.shape.map((d) => () => this.int(d)));
      this.str(a.fortran ? 'F' : 'C');
      this.op(0x74);
      this.put();
      this.op(0x52);
      this.put();
      return;
    }
    this.global(`${core}.multiarray`, '_reconstruct');
    this.tuple([() => this.global('numpy', 'ndarray'), () => this.tuple([() => this.int(0)]), () => this.bytes(Uint8Array.of(0x62))]);
    this.op(0x52);
    this.put();
    this.tuple([
      () => this.int(1),
      () => this.tuple(a.shape.map((d) => () => this.int(d))),
      () => this.dtype(a.dtype, a.bigEndian === true),
      () => this.op(a.fortran ? 0x88 : 0x89),
      () => this.bytes(raw),
    ]);
    this.op(0x62);
  }
  /** The bytes written so far, as they are (no header added). */
  take(): Uint8Array {
    this.flush();
    return concat(this.big);
  }
  build(entries: readonly (readonly [string, PickleArraySpec])[]): Uint8Array {
    const { protocol } = this.opts;
    this.op(0x80, protocol);
    const ordered = this.opts.container === 'OrderedDict';
    if (ordered && this.opts.writer === 'py2') {
      // Python 2: OrderedDict.__reduce__ -> (OrderedDict, ([[k, v], ...],))
      this.global('collections', 'OrderedDict');
      this.op(0x5d);
      this.put();
      this.op(0x28);
      for (const [k, v] of entries) {
        this.op(0x5d);
        this.put();
        this.op(0x28);
        this.str(k);
        this.array(v);
        this.op(0x65);
      }
      this.op(0x65);
      this.op(0x85);
      this.put();
      this.op(0x52);
      this.put();
    } else {
      if (ordered) {
        this.global('collections', 'OrderedDict');
        this.op(0x29, 0x52);
        this.put();
      } else {
        this.op(0x7d);
        this.put();
      }
      // CPython batches SETITEMS by 1000.
      for (let i = 0; i < entries.length; i += 1000) {
        this.op(0x28);
        for (const [k, v] of entries.slice(i, i + 1000)) {
          this.str(k);
          this.array(v);
        }
        this.op(0x75);
      }
    }
    this.op(0x2e);
    this.flush();
    const body = concat(this.big);
    if (protocol < 4 || this.opts.frames === false) return body;
    // One FRAME after PROTO covering the rest (CPython frames in 64 KiB pieces; one frame is equally valid).
    const framed = new Uint8Array(body.length + 9);
    framed.set(body.subarray(0, 2), 0);
    framed[2] = 0x95;
    new DataView(framed.buffer).setBigUint64(3, BigInt(body.length - 2), true);
    framed.set(body.subarray(2), 11);
    return framed;
  }
}

/** UTF-8 of the str whose code points are the bytes (what `bytes.decode('latin1')` + UTF-8 gives). */
export function latin1ToUtf8(b: Uint8Array): Uint8Array {
  // Node's latin1 -> utf8 transcoding (native; a JS loop takes seconds for full-size weights). The golden
  // pickle, written by CPython, checks the reader independently of this writer.
  return transcode(b, 'latin1', 'utf8');
}

function arrayBytes(a: PickleArraySpec): Uint8Array {
  if (a.raw !== undefined) return a.raw;
  const values = a.values ?? [];
  const ordered = a.fortran ? cToFortran(values, a.shape) : values;
  return encodeValues(a.dtype, ordered, a.bigEndian !== true);
}

/** A pickle of name -> numpy array as CPython + numpy write it. */
export function writePickle(entries: readonly (readonly [string, PickleArraySpec])[], opts: PickleOptions): Uint8Array {
  return new PickleWriter(opts).build(entries);
}

/**
 * A protocol-2 pickle whose dict value calls a global: e.g. `os.system('touch /tmp/x')` via GLOBAL+REDUCE
 * (`stack` = true uses protocol 4's STACK_GLOBAL).
 */
export function writeMaliciousPickle(module: string, name: string, arg: string, stack = false): Uint8Array {
  const w = new PickleWriter({ protocol: stack ? 4 : 2, frames: false });
  w.op(0x80, stack ? 4 : 2);
  w.op(0x7d);
  w.put();
  w.str('conv1_weights');
  w.global(module, name);
  w.tuple([() => w.str(arg)]);
  w.op(0x52);
  w.op(0x73, 0x2e);
  return w.take();
}

// ---------------------------------------------------------------- full StNet weights

/**
 * A full, valid set of the 301 StNet parameters (33,223,248 float32 values, creation order): uniform
 * He-scaled conv/fc weights, BN scale near 1, variance in [0.5, 1.5), small offsets and biases.
 * Delete or replace entries of the returned Map to make flawed sets.
 */
export function makeRandomStnetWeights(seed = 1): Map<string, Float32Param> {
  const out = new Map<string, Float32Param>();
  let st = seed >>> 0 || 1;
  // xorshift32 inlined (a closure call per value makes 33M values take seconds): uniform in [0, 1).
  const fill = (data: Float32Array, mul: number, add: number): void => {
    for (let i = 0; i < data.length; i++) {
      st ^= st << 13;
      st ^= st >>> 17;
      st ^= st << 5;
      data[i] = ((st >>> 0) / 2 ** 32) * mul + add;
    }
  };
  for (const p of STNET_PARAMS) {
    const n = p.shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    const fanIn = p.shape.length > 1 ? (p.kind === 'fc_weight' ? p.shape[0]! : n / p.shape[0]!) : 1;
    const bound = Math.sqrt(6 / fanIn); // uniform(-bound, bound) has the He variance 2 / fanIn
    switch (p.kind) {
      case 'bn_scale':
        fill(data, 0.2, 0.9);
        break;
      case 'bn_variance':
        fill(data, 1, 0.5);
        break;
      case 'bn_mean':
      case 'bn_offset':
      case 'conv_bias':
      case 'fc_bias':
        fill(data, 0.1, -0.05);
        break;
      default:
        fill(data, 2 * bound, -bound);
    }
    out.set(p.name, { shape: p.shape, data });
  }
  return out;
}

function f32Bytes(a: Float32Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

export interface StnetWriteOptions {
  /** Store as this dtype (values converted; float32 default). */
  dtype?: 'float32' | 'float16' | 'float64';
}

function paramBytes(p: Float32Param, dtype: 'float32' | 'float16' | 'float64'): Uint8Array {
  return dtype === 'float32' ? f32Bytes(p.data) : encodeValues(dtype, p.data);
}

/** The combined LoDTensor stream (`STNET_final.pdparams`): records in sorted name order. */
export function writeStnetStream(weights: ReadonlyMap<string, Float32Param>, opts: StnetWriteOptions = {}): Uint8Array {
  const dtype = opts.dtype ?? 'float32';
  const names = STNET_SORTED_NAMES.filter((n) => weights.has(n)).concat([...weights.keys()].filter((n) => !STNET_SORTED_NAMES.includes(n)).sort());
  return lodTensorStream(names.map((n) => ({ dtype, dims: weights.get(n)!.shape, data: paramBytes(weights.get(n)!, dtype) })));
}

/** `fluid.save`'s pickle (`STNET.pdparams`): dict in creation order. */
export function writeStnetPickle(weights: ReadonlyMap<string, Float32Param>, opts: Partial<PickleOptions> & StnetWriteOptions = {}): Uint8Array {
  const dtype = opts.dtype ?? 'float32';
  const entries = [...weights].map(([n, p]) => [n, { dtype, shape: p.shape, raw: paramBytes(p, dtype) }] as const);
  return writePickle(entries, { protocol: 2, ...opts });
}

export const HUB_PREFIX = '@HUB_stnet_kinetics400@';

/**
 * One LoDTensor file per parameter (`stnet_kinetics.tar.gz` layout), or with `hub` a PaddleHub module folder
 * (`<dir>/model/@HUB_stnet_kinetics400@<name>` beside `__model__`, `module_desc.pb`, ...). Returns the folder
 * holding the parameter files.
 */
export function writeStnetDirectory(dir: string, weights: ReadonlyMap<string, Float32Param>, opts: StnetWriteOptions & { hub?: boolean } = {}): string {
  const dtype = opts.dtype ?? 'float32';
  const paramDir = opts.hub ? join(dir, 'model') : dir;
  mkdirSync(paramDir, { recursive: true });
  for (const [n, p] of weights) {
    writeFileSync(join(paramDir, opts.hub ? HUB_PREFIX + n : n), lodTensorRecord({ dtype, dims: p.shape, data: paramBytes(p, dtype) }));
  }
  if (opts.hub) {
    // Files a real module has beside the parameters; the loader must ignore them.
    writeFileSync(join(paramDir, '__model__'), Uint8Array.of(0x0a, 0x02, 0x08, 0x00));
    writeFileSync(join(dir, 'module_desc.pb'), Uint8Array.of(0x0a, 0x00));
    mkdirSync(join(dir, 'python'), { recursive: true });
    writeFileSync(join(dir, 'python', 'processor.py'), 'class Processor: pass\n');
  }
  return paramDir;
}

/** A .tar (or .tar.gz with gzip) of `dir`'s contents, entries under `prefix/` when given. */
export async function writeTar(file: string, dir: string, opts: { gzip?: boolean; prefix?: string } = {}): Promise<void> {
  const { readdirSync } = await import('node:fs');
  await tar.c({ file, cwd: dir, gzip: opts.gzip ?? false, portable: true, prefix: opts.prefix }, readdirSync(dir));
}

/**
 * A full, valid set whose values are exact in float16 and compress well (for archives): parameter k holds
 * ((k * 7 + j) % 64 - 32) / 64 at flat index j, so a swapped or shifted parameter shows.
 */
export function makePatternStnetWeights(): Map<string, Float32Param> {
  const out = new Map<string, Float32Param>();
  STNET_PARAMS.forEach((p, k) => {
    const n = p.shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    for (let j = 0; j < n; j++) data[j] = (((k * 7 + j) % 64) - 32) / 64;
    // BN variances must stay positive for a model built from them.
    if (p.kind === 'bn_variance') for (let j = 0; j < n; j++) data[j] = 0.5 + (((k + j) % 16) / 32);
    out.set(p.name, { shape: p.shape, data });
  });
  return out;
}
