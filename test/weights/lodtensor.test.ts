import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { decodeLodTensorRecord, readLodTensorStream } from '../../src/weights/index.js';
import { halfToNumber } from '../../src/weights/tensor.js';
import { golden, GOLDEN_SKIP_REASON, HAS_GOLDEN } from '../helpers/golden.js';
import { encodeValues, lodTensorRecord, lodTensorStream, toHalfBits, type DType } from '../helpers/weights-writers.js';
import { expectCode } from '../helpers/errors.js';

interface CaseRecord {
  index: number;
  name: string;
  dtype: string;
  data_type: number;
  dims: number[];
  lod: number[][];
  numel: number;
  offset: number;
  record_bytes: number;
  desc_len: number;
  data_offset: number;
  sum: number;
  first: number | boolean | null;
  last: number | boolean | null;
  values?: (number | boolean)[];
  values_str?: string[];
  bits_hex?: string[];
}

describe.skipIf(!HAS_GOLDEN)(`golden lodtensor_cases.bin (written by Python) ${HAS_GOLDEN ? '' : GOLDEN_SKIP_REASON}`, () => {
  const buf = HAS_GOLDEN ? readFileSync(golden('lodtensor_cases.bin')) : new Uint8Array();
  const jsonText = HAS_GOLDEN ? readFileSync(golden('lodtensor_cases.json'), 'utf8') : '{"records": []}';
  const expected = JSON.parse(jsonText) as { records: CaseRecord[] };

  test('every record: header fields, offsets, dims, LoD', () => {
    const records = readLodTensorStream(buf);
    expect(records).toHaveLength(12);
    records.forEach((r, i) => {
      const e = expected.records[i]!;
      expect({ dtype: r.dtype, dataType: r.dataType, dims: r.dims, lod: r.lod, offset: r.offset, byteLength: r.byteLength, descLength: r.descLength, dataOffset: r.dataOffset }).toEqual({
        dtype: e.dtype,
        dataType: e.data_type,
        dims: e.dims,
        lod: e.lod,
        offset: e.offset,
        byteLength: e.record_bytes,
        descLength: e.desc_len,
        dataOffset: e.data_offset,
      });
    });
  });

  test('every record: values (floats bit-exact, fp16 bits, int64 exact via BigInt), sums', () => {
    const records = readLodTensorStream(buf);
    records.forEach((r, i) => {
      const e = expected.records[i]!;
      const a = decodeLodTensorRecord(buf, r);
      expect(a.data.length).toBe(e.numel);
      if (e.values_str !== undefined) {
        expect([...(a.data as BigInt64Array)].map(String)).toEqual(e.values_str);
        // The JSON's integer sum is beyond 2^53: compare with its digits as written, not JSON.parse's double.
        const rawSum = new RegExp(`"name": "${e.name}"[\\s\\S]*?"sum": (-?\\d+)`).exec(jsonText)![1];
        expect(String([...(a.data as BigInt64Array)].reduce((x, y) => x + y, 0n))).toBe(rawSum);
        return;
      }
      const nums = a.dtype === 'float16' ? [...(a.data as Uint16Array)].map(halfToNumber) : [...(a.data as Float32Array)].map(Number);
      if (e.bits_hex !== undefined) expect([...(a.data as Uint16Array)].map((b) => b.toString(16).padStart(4, '0'))).toEqual(e.bits_hex);
      if (e.values !== undefined) {
        // toEqual tells -0 from 0 and compares floats exactly.
        expect(nums).toEqual(e.values.map(Number)); // bool values are true/false in the JSON
      }
      const sum = nums.reduce((x, y) => x + y, 0);
      expect(Math.abs(sum - e.sum)).toBeLessThanOrEqual(1e-9 * Math.max(1, Math.abs(e.sum)));
      if (e.numel > 0) {
        expect(nums[0]).toBe(Number(e.first));
        expect(nums[nums.length - 1]).toBe(Number(e.last));
      }
    });
  });
});

describe('records written by the test writer round-trip', () => {
  const cases: [DType, number[], (number | bigint)[]][] = [
    ['float32', [2, 3], [1, -2.5, 3.25, 1e-30, -0, 65504]],
    ['float64', [3], [0.1, -1e300, 1e-300]],
    ['float16', [4], [1, -2, 65504, 6.103515625e-5]],
    ['int64', [3], [-1n, 9007199254740993n, -4611686018427387904n]],
    ['int32', [1], [-123456]],
    ['int16', [2], [-300, 300]],
    ['int8', [2], [-128, 127]],
    ['uint8', [2, 1, 1, 2], [0, 255, 7, 128]],
    ['bool', [3], [1, 0, 1]],
    ['float32', [0, 4], []],
    ['float32', [2, 1, 130, 3], Array.from({ length: 780 }, (_, i) => i / 8)],
  ];
  test.each(cases)('%s %j', (dtype, dims, values) => {
    for (const packedDims of [false, true]) {
      const buf = lodTensorRecord({ dtype, dims, values, packedDims });
      const [r] = readLodTensorStream(buf);
      expect(r!.dims).toEqual(dims);
      expect(r!.dtype).toBe(dtype);
      const a = decodeLodTensorRecord(buf, r!);
      if (dtype === 'float16') expect([...(a.data as Uint16Array)]).toEqual(values.map((v) => toHalfBits(Number(v))));
      else if (dtype === 'int64') expect([...(a.data as BigInt64Array)]).toEqual(values);
      else if (dtype === 'float32') expect([...(a.data as Float32Array)]).toEqual(values.map((v) => Math.fround(Number(v))));
      else expect([...(a.data as Float32Array)]).toEqual(values.map(Number));
    }
  });

  test('LoD levels are read and skipped; records follow each other', () => {
    const buf = lodTensorStream([
      { dtype: 'float32', dims: [5, 2], values: Array.from({ length: 10 }, (_, i) => i), lod: [[0, 2, 5], [0, 1, 3, 5, 7, 10]] },
      { dtype: 'int32', dims: [2], values: [4, 5] },
    ]);
    const records = readLodTensorStream(buf);
    expect(records.map((r) => r.lod)).toEqual([[[0, 2, 5], [0, 1, 3, 5, 7, 10]], []]);
    expect([...decodeLodTensorRecord(buf, records[1]!).data]).toEqual([4, 5]);
  });
});

describe('bad LoDTensor data', () => {
  const rec = lodTensorRecord({ dtype: 'float32', dims: [1024, 256, 1, 1], data: encodeValues('float32', new Float32Array(1024 * 256)) });
  const names = ['res4f_branch2c_weights'];

  test('truncated inside the data: names the record, bytes needed and remaining', () => {
    expectCode(
      () => readLodTensorStream(rec.subarray(0, rec.length - 1048564), { names, path: 'w.bin' }),
      'E_WEIGHTS_TRUNCATED',
      /^w\.bin: weights file truncated: record 0 \(res4f_branch2c_weights\) needs 1048576 bytes for its data \(float32 \[1024,256,1,1\]\), 12 remain$/,
    );
  });
  test.each([
    [2, /needs 4 bytes for its LoDTensor version, 2 remain/],
    [10, /needs 8 bytes for its lod_level, 6 remain/],
    [14, /needs 4 bytes for its tensor version, 2 remain/],
    [22, /needs \d+ bytes for its TensorDesc, \d remain/],
  ])('truncated in the header at %i bytes', (n, re) => {
    expectCode(() => readLodTensorStream(rec.subarray(0, n), { names }), 'E_WEIGHTS_TRUNCATED', re);
  });
  test('wrong version, unknown data type, bad LoD size: E_WEIGHTS_CORRUPT', () => {
    expectCode(() => readLodTensorStream(lodTensorRecord({ dtype: 'float32', dims: [1], values: [1], version: 7 })), 'E_WEIGHTS_CORRUPT', /LoDTensor version 7 at byte 0, expected 0/);
    expectCode(() => readLodTensorStream(lodTensorRecord({ dtype: 'float32', dims: [1], values: [1], tensorVersion: 1 })), 'E_WEIGHTS_CORRUPT', /tensor version 1, expected 0/);
    expectCode(() => readLodTensorStream(lodTensorRecord({ dtype: 'float32', dims: [1], values: [1], dataTypeCode: 8 })), 'E_WEIGHTS_CORRUPT', /unsupported data_type 8/);
    const badLod = lodTensorRecord({ dtype: 'float32', dims: [1], values: [1], lod: [[0, 1]] });
    new DataView(badLod.buffer).setBigUint64(12, 7n, true);
    expectCode(() => readLodTensorStream(badLod), 'E_WEIGHTS_CORRUPT', /LoD level 0 byte size 7 is not a multiple of 8/);
  });
});
