// The in-place float32 conversion (float32.ts): tensors moved down inside the file's own buffer.
import { describe, expect, test } from 'vitest';
import { toFloat32Params } from '../../src/weights/float32.js';
import type { StoredTensor } from '../../src/weights/tensor.js';
import { encodeValues, latin1ToUtf8 } from '../helpers/weights-writers.js';
import { expectCode } from '../helpers/errors.js';

/** Lays out byte blocks with `gap` junk bytes before each, like headers in a real file. */
function layout(blocks: Uint8Array[], gap: number, lead = 0): { buf: Uint8Array; offsets: number[] } {
  const total = lead + blocks.reduce((n, b) => n + gap + b.length, 0);
  const backing = new Uint8Array(total + 8);
  const buf = backing.subarray(lead ? 1 : 0, (lead ? 1 : 0) + total); // lead: a buffer that starts unaligned
  buf.fill(0xee);
  const offsets: number[] = [];
  let o = lead;
  for (const b of blocks) {
    o += gap;
    buf.set(b, o);
    offsets.push(o);
    o += b.length;
  }
  return { buf, offsets };
}

describe('toFloat32Params', () => {
  const a = [1.5, -2, 3.25, 0];
  const b = [0.1, -1e300, 7];
  const c = [-0, 65504, 1e-3];
  const f = (xs: number[]): number[] => xs.map(Math.fround);

  test.each([0, 1])('in place: float32 LE, float64 between them, float32 BE; views 4-byte aligned (lead %i)', (lead) => {
    const blocks = [encodeValues('float32', a), encodeValues('float64', b), encodeValues('float32', c, false)];
    const { buf, offsets } = layout(blocks, 5, lead);
    const tensors: StoredTensor[] = [
      { name: 'a', dtype: 'float32', shape: [4], littleEndian: true, fortran: false, blob: { kind: 'range', offset: offsets[0]!, length: 16 } },
      { name: 'b', dtype: 'float64', shape: [3], littleEndian: true, fortran: false, blob: { kind: 'range', offset: offsets[1]!, length: 24 } },
      { name: 'c', dtype: 'float32', shape: [3], littleEndian: false, fortran: false, blob: { kind: 'range', offset: offsets[2]!, length: 12 } },
    ];
    const out = toFloat32Params(buf, tensors, { inPlace: true });
    expect([...out.get('a')!.data]).toEqual(f(a));
    expect([...out.get('b')!.data]).toEqual(f(b));
    expect([...out.get('c')!.data]).toEqual(f(c));
    // a and c live in the source buffer itself (no copy), aligned; b (float64) got its own array.
    expect(out.get('a')!.data.buffer).toBe(buf.buffer);
    expect(out.get('c')!.data.buffer).toBe(buf.buffer);
    expect(out.get('b')!.data.buffer).not.toBe(buf.buffer);
    for (const k of ['a', 'c']) expect(out.get(k)!.data.byteOffset % 4).toBe(0);
  });

  test('Python-3 latin-1 strings decode in place; a blob shared by two tensors disables in-place', () => {
    const raw = encodeValues('float32', a);
    const { buf, offsets } = layout([latin1ToUtf8(raw), raw], 7);
    const utf8Len = offsets[1]! - offsets[0]! - 7;
    const t1: StoredTensor = { name: 'u', dtype: 'float32', shape: [2, 2], littleEndian: true, fortran: false, blob: { kind: 'latin1-utf8', offset: offsets[0]!, length: utf8Len } };
    const out = toFloat32Params(buf, [t1], { inPlace: true });
    expect([...out.get('u')!.data]).toEqual(f(a));

    const { buf: buf2, offsets: o2 } = layout([raw], 3);
    const shared = { kind: 'range', offset: o2[0]!, length: 16 } as const;
    const twice: StoredTensor[] = [
      { name: 'x', dtype: 'float32', shape: [4], littleEndian: true, fortran: false, blob: shared },
      { name: 'y', dtype: 'float32', shape: [2, 2], littleEndian: true, fortran: true, blob: shared },
    ];
    const o = toFloat32Params(buf2, twice, { inPlace: true });
    expect([...o.get('x')!.data]).toEqual(f(a));
    // Fortran [2,2]: stored a0 a1 a2 a3 = (0,0) (1,0) (0,1) (1,1) -> C order a0 a2 a1 a3.
    expect([...o.get('y')!.data]).toEqual(f([a[0]!, a[2]!, a[1]!, a[3]!]));
  });

  test('data size not matching the shape, and non-latin-1 strings: E_WEIGHTS_CORRUPT naming the parameter', () => {
    const raw = encodeValues('float32', a);
    const t: StoredTensor = { name: 'fc_0.b_0', dtype: 'float32', shape: [5], littleEndian: true, fortran: false, blob: { kind: 'range', offset: 0, length: 16 } };
    expect(() => toFloat32Params(raw, [t], { inPlace: true, path: 'w' })).toThrowError(/^w: parameter fc_0\.b_0: float32 shape \[5\] needs 20 data bytes, the file holds 16$/);
    const bad = Uint8Array.from([0xe2, 0x82, 0xac, 0x41]); // U+20AC is not latin-1
    const u: StoredTensor = { name: 'p', dtype: 'float32', shape: [1], littleEndian: true, fortran: false, blob: { kind: 'latin1-utf8', offset: 0, length: 4 } };
    expectCode(() => toFloat32Params(bad, [u], { inPlace: true }), 'E_WEIGHTS_CORRUPT', /parameter p: raw data string is not latin-1 encoded UTF-8/);
  });
});
