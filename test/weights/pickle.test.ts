import { existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { readPickleArrays } from '../../src/weights/index.js';
import { readPickle } from '../../src/weights/pickle.js';
import { halfToNumber, type NdArray } from '../../src/weights/tensor.js';
import { caught } from '../helpers/errors.js';
import { golden, GOLDEN_SKIP_REASON, HAS_GOLDEN } from '../helpers/golden.js';
import { toHalfBits, writeMaliciousPickle, writePickle, type PickleArraySpec, type PickleOptions } from '../helpers/weights-writers.js';

const FIXTURES = fileURLToPath(new URL('../fixtures/weights/', import.meta.url));

const NUMPY_TO_DTYPE: Record<string, string> = {
  '<f4': 'float32', '>f4': 'float32', '<f8': 'float64', '>f8': 'float64', '<f2': 'float16', '<i8': 'int64', '<i4': 'int32',
  '<i2': 'int16', '>i2': 'int16', '|i1': 'int8', '|u1': 'uint8', '|b1': 'bool',
};

/** Values as plain numbers (float16 decoded from its bits, int64 via Number: callers use it below 2^53). */
function numbers(a: NdArray): number[] {
  if (a.dtype === 'float16') return [...(a.data as Uint16Array)].map(halfToNumber);
  if (a.data instanceof BigInt64Array) return [...a.data].map(Number);
  return [...(a.data as Float32Array)];
}


describe.skipIf(!HAS_GOLDEN)(`golden pickle_cases.pdparams (protocol 2, CPython + numpy) ${HAS_GOLDEN ? '' : GOLDEN_SKIP_REASON}`, () => {
  interface Expected {
    dtype: string;
    shape: number[];
    fortran_order_in_pickle: boolean;
    size: number;
    sum: number;
    first_c_order: number[];
    last_c_order: number[];
    sum_sq?: number;
    sum_index_weighted?: number;
    values?: unknown;
  }
  const json = HAS_GOLDEN ? (JSON.parse(readFileSync(golden('pickle_cases.expected.json'), 'utf8')) as { keys_in_insertion_order: string[]; arrays: Record<string, Expected> }) : null;

  test('every array: keys in order, dtype, shape, values, sums (Fortran order handled)', () => {
    const arrays = readPickleArrays(readFileSync(golden('pickle_cases.pdparams')));
    expect([...arrays.keys()]).toEqual(json!.keys_in_insertion_order);
    const close = (a: number, b: number): void => expect(Math.abs(a - b)).toBeLessThanOrEqual(1e-9 * Math.max(1, Math.abs(b)));
    let fortranSeen = 0;
    for (const [name, e] of Object.entries(json!.arrays)) {
      const a = arrays.get(name)!;
      expect(a.dtype, name).toBe(NUMPY_TO_DTYPE[e.dtype]);
      expect(a.shape, name).toEqual(e.shape);
      const v = numbers(a);
      expect(v.length).toBe(e.size);
      if (e.fortran_order_in_pickle) fortranSeen++;
      if (e.values !== undefined) expect(v, name).toEqual([e.values].flat(10));
      expect(v.slice(0, e.first_c_order.length), name).toEqual(e.first_c_order);
      expect(v.slice(v.length - e.last_c_order.length), name).toEqual(e.last_c_order);
      close(v.reduce((s, x) => s + x, 0), e.sum);
      if (e.sum_sq !== undefined) close(v.reduce((s, x) => s + x * x, 0), e.sum_sq);
      if (e.sum_index_weighted !== undefined) close(v.reduce((s, x, i) => s + i * x, 0), e.sum_index_weighted);
    }
    expect(fortranSeen).toBe(2);
  });
});

describe('pickles written by CPython 3.11 + numpy 2 (test/fixtures/weights, protocols 2-5)', () => {
  interface Expected {
    dtype: string;
    shape: number[];
    fortran: boolean;
    values: number[];
    bits?: number[];
    values_str?: string[];
  }
  const json = JSON.parse(readFileSync(join(FIXTURES, 'py311_np2_expected.json'), 'utf8')) as { keys: string[]; arrays: Record<string, Expected> };
  test.each([2, 3, 4, 5])('protocol %i', (proto) => {
    const arrays = readPickleArrays(readFileSync(join(FIXTURES, `py311_np2_p${proto}.pkl`)));
    expect([...arrays.keys()]).toEqual(json.keys);
    for (const [name, e] of Object.entries(json.arrays)) {
      const a = arrays.get(name)!;
      expect(a.dtype, name).toBe(NUMPY_TO_DTYPE[e.dtype.replace('=', '<')] ?? NUMPY_TO_DTYPE[e.dtype]);
      expect(a.shape, name).toEqual(e.shape);
      if (e.values_str !== undefined) expect([...(a.data as BigInt64Array)].map(String), name).toEqual(e.values_str);
      else expect(numbers(a), name).toEqual(e.values);
      if (e.bits !== undefined) expect([...(a.data as Uint16Array)], name).toEqual(e.bits);
    }
  });
});

describe('pickles from the test writer round-trip', () => {
  const entries: [string, PickleArraySpec][] = [
    ['f32_2x3', { dtype: 'float32', shape: [2, 3], values: [1, -2.5, 3.25, 0.1, -0, 65504] }],
    ['f32_be_fortran_2x3x2', { dtype: 'float32', shape: [2, 3, 2], values: Array.from({ length: 12 }, (_, i) => i - 5.5), bigEndian: true, fortran: true }],
    ['f64_be', { dtype: 'float64', shape: [3], values: [0.1, -1e300, 1e-300], bigEndian: true }],
    ['f16', { dtype: 'float16', shape: [4], values: [1, 65504, -0.5, 6.103515625e-5] }],
    ['i64', { dtype: 'int64', shape: [3], values: [-1n, 9007199254740993n, -4611686018427387904n] }],
    ['i32_fortran', { dtype: 'int32', shape: [3, 2], values: [1, 2, 3, 4, 5, 6], fortran: true }],
    ['i16_be', { dtype: 'int16', shape: [2], values: [-300, 300], bigEndian: true }],
    ['i8', { dtype: 'int8', shape: [3], values: [-128, 127, 0] }],
    ['u8', { dtype: 'uint8', shape: [2, 2], values: [0, 255, 7, 128] }],
    ['bool', { dtype: 'bool', shape: [3], values: [1, 0, 1] }],
    ['scalar', { dtype: 'float32', shape: [], values: [7.5] }],
    ['empty', { dtype: 'float64', shape: [0, 4], values: [] }],
    ['big_f32', { dtype: 'float32', shape: [1000], values: Array.from({ length: 1000 }, (_, i) => Math.fround(Math.sin(i) * 100)) }],
    [`long_key_${'k'.repeat(300)}`, { dtype: 'float32', shape: [1], values: [3] }],
    // Enough entries for memo indices past 255 (LONG_BINPUT / LONG_BINGET).
    ...Array.from({ length: 40 }, (_, i): [string, PickleArraySpec] => [`pad_${i}`, { dtype: 'float32', shape: [1], values: [i] }]),
  ];
  const variants: [string, PickleOptions][] = [
    ['protocol 2, Python 3 (_codecs.encode latin1 strings)', { protocol: 2 }],
    ['protocol 2, Python 2 (BINSTRING)', { protocol: 2, writer: 'py2' }],
    ['protocol 2, Python 2, OrderedDict', { protocol: 2, writer: 'py2', container: 'OrderedDict' }],
    ['protocol 2, Python 3, OrderedDict, numpy 2', { protocol: 2, container: 'OrderedDict', numpy: 2 }],
    ['protocol 3', { protocol: 3 }],
    ['protocol 4 (FRAME, STACK_GLOBAL, MEMOIZE)', { protocol: 4 }],
    ['protocol 4, numpy 2, OrderedDict, no frames', { protocol: 4, numpy: 2, container: 'OrderedDict', frames: false }],
    ['protocol 5 (_frombuffer, BYTEARRAY8)', { protocol: 5 }],
    ['protocol 5, numpy 2', { protocol: 5, numpy: 2 }],
  ];
  test.each(variants)('%s', (_label, opts) => {
    const arrays = readPickleArrays(writePickle(entries, opts));
    expect([...arrays.keys()]).toEqual(entries.map(([k]) => k));
    for (const [name, spec] of entries) {
      const a = arrays.get(name)!;
      expect(a.dtype, name).toBe(spec.dtype);
      expect(a.shape, name).toEqual(spec.shape);
      const values = Array.from(spec.values ?? []);
      if (spec.dtype === 'int64') expect([...(a.data as BigInt64Array)], name).toEqual(values);
      else if (spec.dtype === 'float16') expect([...(a.data as Uint16Array)], name).toEqual(values.map((v) => toHalfBits(Number(v))));
      else expect(numbers(a), name).toEqual(values.map((v) => (spec.dtype === 'float32' ? Math.fround(Number(v)) : Number(v))));
    }
  });
});

describe('refused and bad pickles', () => {
  test.each([
    ['os', 'system', false],
    ['posix', 'system', false],
    ['builtins', 'eval', true],
    ['subprocess', 'Popen', true],
    ['numpy', 'load', false],
  ] as const)('%s.%s is refused at its GLOBAL opcode, before anything could call it', (module, name, stack) => {
    const marker = join(tmpdir(), `stnet-pwned-${process.pid}-${module}`);
    const bytes = writeMaliciousPickle(module, name, `touch ${marker}`, stack);
    const err = caught(() => readPickle(bytes, { path: 'evil.pdparams' }));
    expect(err.code).toBe('E_PICKLE_FORBIDDEN');
    expect(err.message).toMatch(new RegExp(`^evil\\.pdparams: pickle refers to the Python global ${module}\\.${name} \\(at byte \\d+\\).*nothing was run`));
    // The offset is the global's own opcode (GLOBAL, or STACK_GLOBAL after its two strings), which comes
    // before the REDUCE that would call it.
    const at = Number(/at byte (\d+)/.exec(err.message)![1]);
    expect(bytes[at]).toBe(stack ? 0x93 : 0x63);
    expect(bytes.indexOf(0x52, at)).toBeGreaterThan(at);
    expect(existsSync(marker)).toBe(false);
  });

  test('INST and EXT opcodes (other ways to name a global) are refused too', () => {
    const inst = Uint8Array.from([0x80, 0x02, 0x28, 0x8c, 0x07, ...Buffer.from('touch x'), 0x69, ...Buffer.from('os\nsystem\n'), 0x2e]);
    expect(caught(() => readPickle(inst)).message).toMatch(/global os\.system/);
    const ext = Uint8Array.from([0x80, 0x02, 0x82, 0x01, 0x2e]);
    const e = caught(() => readPickle(ext));
    expect(e.code).toBe('E_PICKLE_FORBIDDEN');
    expect(e.message).toMatch(/extension registry \(EXT opcode at byte 2\)/);
  });

  test('protocol 5 out-of-band buffers: a clear error', () => {
    const bytes = Uint8Array.from([0x80, 0x05, 0x97, 0x2e]);
    const e = caught(() => readPickle(bytes));
    expect(e.code).toBe('E_WEIGHTS_CORRUPT');
    expect(e.message).toMatch(/NEXT_BUFFER: protocol 5 out-of-band buffers are not supported/);
  });

  test('truncated inside an array: names the parameter and the byte counts', () => {
    for (const opts of [{ protocol: 2 }, { protocol: 2, writer: 'py2' }, { protocol: 4 }] as PickleOptions[]) {
      const bytes = writePickle([['conv1_weights', { dtype: 'float32', shape: [64, 15, 7, 7], values: new Float32Array(47040).fill(0.5) }]], opts);
      const e = caught(() => readPickle(bytes.subarray(0, bytes.length - 100000), { path: 'w.pdparams' }));
      expect(e.code).toBe('E_WEIGHTS_TRUNCATED');
      expect(e.message).toMatch(/^w\.pdparams: weights file truncated: pickle (BINUNICODE|BINSTRING|BINBYTES) at byte \d+ \(reading parameter conv1_weights\) needs \d+ bytes, \d+ remain$/);
    }
    const e = caught(() => readPickle(Uint8Array.from([0x80, 0x02, 0x7d])));
    expect(e.code).toBe('E_WEIGHTS_TRUNCATED');
    expect(e.message).toMatch(/STOP opcode/);
  });

  test('unsupported dtype, non-dict top level, non-array values: E_WEIGHTS_CORRUPT', () => {
    const good = Buffer.from(writePickle([['a', { dtype: 'float64', shape: [2], values: [1, 2] }]], { protocol: 3 }));
    const complex = Buffer.from(good);
    complex.set(Buffer.from('c16'.slice(0, 2)), good.indexOf('f8'));
    expect(caught(() => readPickle(complex)).message).toMatch(/unsupported numpy dtype 'c1'/);
    expect(caught(() => readPickle(Uint8Array.from([0x80, 0x02, 0x5d, 0x2e]))).message).toMatch(/pickle holds a list, expected a dict of numpy arrays/);
    expect(caught(() => readPickle(Uint8Array.from([0x80, 0x02, 0x7d, 0x8c, 0x01, 0x61, 0x4b, 0x05, 0x73, 0x2e]))).message).toMatch(/entry a is a number, expected a numpy array/);
    expect(caught(() => readPickle(Uint8Array.from([0x80, 0x02, 0xff]))).message).toMatch(/unsupported opcode 0xff/);
  });
});
