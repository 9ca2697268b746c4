// StNet.load({ precision: 'int8' }) end to end: calibrated on the bundled clip, cached in STNET_HOME under a key
// of the weights and the calibration, read back on the next load; the fp32 and int8 graphs of the same weights
// are different cache entries.
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkStnetModel } from '../../src/graph/model-file.js';
import { calibrationIdentity, defaultCalibrationVideos } from '../../src/model/quantize.js';
import { StNet } from '../../src/stnet.js';
import { graphCachePath } from '../../src/graph/cache.js';
import { int8Variant } from '../../src/model/load.js';
import { GOLDEN_SKIP_REASON, HAS_GOLDEN, goldenXz } from '../helpers/golden.js';

describe.skipIf(!HAS_GOLDEN)(`int8 graph cache${HAS_GOLDEN ? '' : ` (${GOLDEN_SKIP_REASON})`}`, () => {
  let dir: string;
  let weights: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'stnet-int8-cache-'));
    // A private copy: its identity (path, mtime) is the test's own.
    weights = join(dir, 'w.pdparams');
    copyFileSync(await goldenXz('stnet_seed7_q.pdparams'), weights);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('keys differ by precision and by calibration set', () => {
    const fp32 = graphCachePath(weights, dir);
    const int8 = graphCachePath(weights, dir, int8Variant(calibrationIdentity({})));
    const other = graphCachePath(weights, dir, int8Variant(calibrationIdentity({ calibration: [weights] })));
    const percentile = graphCachePath(weights, dir, int8Variant(calibrationIdentity({ method: 'percentile' })));
    expect(new Set([fp32, int8, other, percentile]).size).toBe(4);
    // The default calibration set is the bundled clip, named explicitly or not.
    expect(graphCachePath(weights, dir, int8Variant(calibrationIdentity({ calibration: defaultCalibrationVideos() })))).toBe(int8);
  });

  it('the first load calibrates and caches the int8 graph; the second reads it back', async () => {
    const home = join(dir, 'home');
    const input = new Float32Array(7 * 15 * 112 * 112).map((_, i) => Math.sin(i * 0.01));
    const dims = [1, 7, 15, 112, 112];
    const first = await StNet.load({ weights, precision: 'int8', threads: 2, cacheDir: home });
    let p1: Float32Array;
    try {
      expect(first.precision).toBe('int8');
      p1 = (await first.predict(input, dims)).slice();
    } finally {
      await first.close();
    }
    const cached = readdirSync(join(home, 'graphs')).filter((n) => n.endsWith('.onnx'));
    expect(cached).toHaveLength(1);
    const path = join(home, 'graphs', cached[0]!);
    expect(path).toBe(graphCachePath(weights, home, int8Variant(calibrationIdentity({}))));
    expect(checkStnetModel(new Uint8Array(readFileSync(path)), path).precision).toBe('int8');

    const inode = statSync(path).ino;
    const second = await StNet.load({ weights, precision: 'int8', threads: 2, cacheDir: home });
    try {
      expect(second.precision).toBe('int8');
      // Same graph, same numbers.
      expect(Array.from(await second.predict(input, dims))).toEqual(Array.from(p1));
    } finally {
      await second.close();
    }
    // Read, not rebuilt: a rebuilt graph is written to a temp file and renamed over the entry (a new inode).
    expect(readdirSync(join(home, 'graphs')).filter((n) => n.endsWith('.onnx'))).toEqual(cached);
    expect(statSync(path).ino).toBe(inode);
  }, 900_000);
});
