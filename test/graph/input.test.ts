// Input tensor validation: every bad tensor a user can pass fails before onnxruntime, with E_INVALID_INPUT
// and a message that says what is wrong.
import { describe, expect, it } from 'vitest';
import { MIN_SPATIAL, checkInputTensor } from '../../src/graph/input.js';
import { caught } from '../helpers/errors.js';


const zeros = (dims: number[]): Float32Array => new Float32Array(dims.reduce((a, b) => a * b, 1));

describe('checkInputTensor', () => {
  it('accepts [B, segNum, 15, H, W] float32 data of the right length', () => {
    expect(() => checkInputTensor(zeros([1, 7, 15, 112, 112]), [1, 7, 15, 112, 112])).not.toThrow();
    expect(() => checkInputTensor(zeros([2, 1, 15, 32, 32]), [2, 1, 15, 32, 32])).not.toThrow();
  });

  const bad: Array<[string, unknown, unknown, RegExp]> = [
    ['data length does not match dims', zeros([1, 7, 15, 112, 112]).subarray(1), [1, 7, 15, 112, 112], /has 1317119 values but dims \[1, 7, 15, 112, 112\] need 1317120/],
    ['data longer than dims', zeros([2, 7, 15, 112, 112]), [1, 7, 15, 112, 112], /has 2634240 values but dims .* need 1317120/],
    ['wrong channel count (3: RGB frames, not super-images)', zeros([1, 7, 3, 112, 112]), [1, 7, 3, 112, 112], /Expected 15 channels .* received 3/],
    ['spatial size too small for the network', zeros([1, 7, 15, 16, 16]), [1, 7, 15, 16, 16], new RegExp(`H = W >= ${MIN_SPATIAL} .* received 16x16`)],
    ['non-square frames', zeros([1, 7, 15, 112, 96]), [1, 7, 15, 112, 96], /square frames .* H 112, W 96/],
    ['rank 4 dims', zeros([7, 15, 112, 112]), [7, 15, 112, 112], /rank 5.*\[7, 15, 112, 112\] \(rank 4\)/],
    ['zero batch', new Float32Array(0), [0, 7, 15, 112, 112], /positive integer for dims\[0\] \(B\) but received 0/],
    ['zero segments', new Float32Array(0), [1, 0, 15, 112, 112], /dims\[1\] \(segNum\) but received 0/],
    ['fractional dim', zeros([1, 7, 15, 112, 112]), [1, 7, 15, 112.5, 112], /dims\[3\] \(H\) but received 112.5/],
    ['dims not an array', zeros([1, 1, 15, 32, 32]), '1x1x15x32x32', /rank 5\) but received 1x1x15x32x32/],
    ['data not a Float32Array', new Float64Array(15 * 32 * 32), [1, 1, 15, 32, 32], /Float32Array .* received Float64Array/],
    ['data a plain array', [1, 2, 3], [1, 1, 15, 32, 32], /Float32Array .* received Array/],
  ];
  it.each(bad)('%s -> E_INVALID_INPUT', (_name, data, dims, message) => {
    const err = caught(() => checkInputTensor(data, dims));
    expect(err.code).toBe('E_INVALID_INPUT');
    expect(err.message).toMatch(message);
  });

  it.each([
    ['NaN', Number.NaN],
    ['Infinity', Number.POSITIVE_INFINITY],
    ['-Infinity', Number.NEGATIVE_INFINITY],
  ])('%s in the data -> E_INVALID_INPUT naming the index and coordinates', (name, value) => {
    const dims = [2, 3, 15, 32, 32];
    const data = zeros(dims);
    // [1, 2, 4, 5, 6] in C order
    const index = (((1 * 3 + 2) * 15 + 4) * 32 + 5) * 32 + 6;
    data[index] = value;
    const err = caught(() => checkInputTensor(data, dims));
    expect(err.code).toBe('E_INVALID_INPUT');
    expect(err.message).toContain(`${name} at index ${index} ([1, 2, 4, 5, 6])`);
  });

  it('large finite values are accepted (float32 max does not overflow the check)', () => {
    const data = zeros([1, 1, 15, 32, 32]).fill(3.4e38);
    expect(() => checkInputTensor(data, [1, 1, 15, 32, 32])).not.toThrow();
  });
});
