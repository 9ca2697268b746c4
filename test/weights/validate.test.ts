// Validation against the 301-parameter table, without files: each kind of mismatch on its own.
import { describe, expect, test } from 'vitest';
import { checkFinite, validateShapes } from '../../src/weights/validate.js';
import { STNET_PARAMS } from '../../src/weights/index.js';
import { caught as error } from '../helpers/errors.js';

const all = STNET_PARAMS.map((p) => ({ name: p.name, shape: p.shape }));

describe('validateShapes', () => {
  test('the exact table passes', () => {
    expect(() => validateShapes(all, 'w')).not.toThrow();
  });
  test('a parameter with the wrong shape', () => {
    const e = error(() => validateShapes(all.map((p) => (p.name === 'conv3d_1.w_0' ? { name: p.name, shape: [1024, 1024, 3, 1] } : p)), 'w'));
    expect(e.code).toBe('E_WEIGHTS_SHAPE');
    expect(e.message).toBe(
      'w: weights do not match StNet-R50 (seglen 5, 400 classes; 301 parameters): 1 with the wrong shape: conv3d_1.w_0 (expected [1024,1024,3,1,1], got [1024,1024,3,1]). Use weights trained for StNet ResNet-50 Kinetics-400.',
    );
  });
  test('a missing parameter', () => {
    const e = error(() => validateShapes(all.filter((p) => p.name !== 'xception_bn2.w_2'), 'w'));
    expect(e.code).toBe('E_WEIGHTS_SHAPE');
    expect(e.message).toMatch(/: 1 missing: xception_bn2\.w_2\. Use weights/);
  });
  test('an unexpected parameter', () => {
    const e = error(() => validateShapes([...all, { name: 'fc_0.w_0_moment1_0', shape: [1024, 400] }], 'w'));
    expect(e.message).toMatch(/: 1 unexpected: fc_0\.w_0_moment1_0\. Use weights/);
  });
});

describe('checkFinite', () => {
  test('NaN, +Inf and -Inf are found; -0 and subnormals are fine', () => {
    const ok = new Map([['a', { shape: [3], data: Float32Array.of(-0, 1e-45, 3.4e38) }]]);
    expect(() => checkFinite(ok, 'w')).not.toThrow();
    const bad = new Map([
      ['a', { shape: [2], data: Float32Array.of(0, Infinity) }],
      ['b', { shape: [1], data: Float32Array.of(1) }],
      ['c', { shape: [3], data: Float32Array.of(NaN, 1, -Infinity) }],
    ]);
    const e = error(() => checkFinite(bad, 'w'));
    expect(e.code).toBe('E_WEIGHTS_NAN');
    expect(e.message).toBe('w: weights contain NaN or Inf in 2 parameter(s): a (Infinity at index 1 of 2), c (NaN at index 0 of 3). The weights are damaged: use another weights file.');
  });
});
