// Deterministic StNet weights of the right shapes, made here (no fixture needed): enough to build the graph.
import { STNET_PARAMS } from '../../src/weights/index.js';
import type { Float32Param } from '../../src/weights/types.js';

/** Deterministic small weights of the right shapes (variances 1), enough to build and count the graph. */
export function syntheticWeights(): Map<string, Float32Param> {
  let seed = 12345;
  const w = new Map<string, Float32Param>();
  for (const p of STNET_PARAMS) {
    const data = new Float32Array(p.shape.reduce((a, b) => a * b, 1));
    const isVariance = p.name.endsWith('_variance') || p.name.endsWith('.w_2');
    for (let i = 0; i < data.length; i++) {
      seed = (seed * 1103515245 + 12345) >>> 0;
      data[i] = isVariance ? 1 : (seed / 2 ** 32 - 0.5) * 0.1;
    }
    w.set(p.name, { shape: p.shape, data });
  }
  return w;
}

