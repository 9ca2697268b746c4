// StNet.load's precision and model options: bad values are refused before any work, a model file that is not
// a StNet graph this project wrote is a typed error and nothing is cached, a good one runs.
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import onnxProto from 'onnx-proto';
import { GraphBuilder } from '../../src/graph/onnx.js';
import { buildStnetOnnx } from '../../src/graph/stnet.js';
import { StNet, checkLoadOptions } from '../../src/stnet.js';
import { loadWeights } from '../../src/weights/index.js';
import { rejects } from '../helpers/errors.js';
import { GOLDEN_SKIP_REASON, HAS_GOLDEN, goldenXz } from '../helpers/golden.js';

const MISSING = join('/nonexistent-dir-for-stnet-tests', 'STNET.pdparams');

describe('StNet.load precision options (checked before the weights are touched)', () => {
  it.each<[string, Record<string, unknown>, RegExp]>([
    ['precision fp16', { precision: 'fp16' }, /Expected "fp32" or "int8" for precision but received "fp16"/],
    ['precision as a number', { precision: 8 }, /Expected "fp32" or "int8" for precision but received 8/],
    ['int8 with useGpu', { precision: 'int8', useGpu: true }, /precision 'int8' runs on the CPU only .*drop useGpu/],
    ['calibration with fp32', { calibration: ['a.mp4'] }, /calibration only applies to precision 'int8'/],
    ['calibration not an array', { precision: 'int8', calibration: 'a.mp4' }, /Expected a non-empty array of video paths for calibration but received "a.mp4"/],
    ['an empty calibration list', { precision: 'int8', calibration: [] }, /Expected a non-empty array of video paths for calibration/],
    ['model and weights', { model: 'm.onnx' }, /give either model \(a graph file\) or weights, not both/],
    ['an empty model path', { model: '' }, /Expected a non-empty path string for model/],
  ])('%s -> E_INVALID_OPTION', async (_name, extra, message) => {
    await rejects(StNet.load({ weights: MISSING, ...extra }), 'E_INVALID_OPTION', message);
  });

  it('precision defaults to fp32', () => {
    expect(checkLoadOptions({ weights: 'w' }).precision).toBe('fp32');
    expect(checkLoadOptions({ weights: 'w', precision: 'int8' }).precision).toBe('int8');
  });
});

describe('StNet.load({ model }) with files that are not StNet graphs: E_MODEL_FORMAT, nothing cached', () => {
  let dir: string;
  let home: string;
  const file = (name: string, bytes: Uint8Array | string): string => {
    const p = join(dir, name);
    writeFileSync(p, bytes);
    return p;
  };

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'stnet-model-file-'));
    home = join(dir, 'home');
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const load = (model: string): Promise<StNet> => StNet.load({ model, threads: 1, cacheDir: home });

  it('a text file -> not an ONNX model', async () => {
    await rejects(load(file('notes.onnx', 'just some text, not protobuf\n')), 'E_MODEL_FORMAT', /notes\.onnx (is not a complete ONNX model|is not an ONNX model|is not a StNet graph)/);
    expect(existsSync(home)).toBe(false);
  });

  it('an empty file', async () => {
    await rejects(load(file('empty.onnx', new Uint8Array(0))), 'E_MODEL_FORMAT', /empty\.onnx is empty \(0 bytes\)/);
    expect(existsSync(home)).toBe(false);
  });

  it('an ONNX model from another producer', async () => {
    const g = new GraphBuilder();
    const out = g.op('Relu', ['x'], {}, 'y');
    const bytes = g.encode({ graphName: 'other', inputs: [{ name: 'x', dims: [1] }], outputs: [{ name: out, dims: [1] }], producerVersion: '1' });
    const m = onnxProto.onnx.ModelProto.decode(bytes);
    m.producerName = 'pytorch';
    await rejects(load(file('other.onnx', onnxProto.onnx.ModelProto.encode(m).finish())), 'E_MODEL_FORMAT', /is not a StNet graph written by stnet \(producer "pytorch"/);
  });

  it("this project's writer, but not StNet's inputs", async () => {
    const g = new GraphBuilder();
    const out = g.op('Relu', ['x'], {}, 'y');
    const bytes = g.encode({ graphName: 'relu', inputs: [{ name: 'x', dims: [1, 2] }], outputs: [{ name: out, dims: [1, 2] }], producerVersion: '1' });
    await rejects(load(file('relu.onnx', bytes)), 'E_MODEL_FORMAT', /does not have StNet's input \(expected one float input image \[batch, seg_num, 15, H, W\], found x \[1,2\]\)/);
    expect(existsSync(home)).toBe(false);
  });

  it('a file that does not exist -> E_INVALID_OPTION "not found"', async () => {
    await rejects(load(join(dir, 'missing.onnx')), 'E_INVALID_OPTION', /model file .*missing\.onnx not found/);
  });

  describe.skipIf(!HAS_GOLDEN)(`with the golden graph${HAS_GOLDEN ? '' : ` (${GOLDEN_SKIP_REASON})`}`, () => {
    let fp32: Uint8Array;
    // biome-ignore lint/suspicious/noDuplicateTestHooks: this nested describe builds its own fixture (the golden graph)
    beforeAll(async () => {
      fp32 = buildStnetOnnx(await loadWeights(await goldenXz('stnet_seed7_q.pdparams')));
    }, 120_000);

    it.each([0.5, 0.999])('truncated to %d of its size', async (fraction) => {
      const cut = fp32.subarray(0, Math.floor(fp32.length * fraction));
      await rejects(load(file(`cut-${fraction}.onnx`, cut)), 'E_MODEL_FORMAT', /is not a complete ONNX model \(truncated|is incomplete|is not a StNet graph/);
      expect(existsSync(home)).toBe(false);
    });

    it('a complete fp32 graph runs (and is not copied into the cache); asking it for int8 is refused', async () => {
      const path = file('stnet.onnx', fp32);
      await rejects(StNet.load({ model: path, precision: 'int8', threads: 1, cacheDir: home }), 'E_INVALID_OPTION', /precision "int8" was asked for, but .*stnet\.onnx is a fp32 graph/);
      const model = await load(path);
      try {
        expect(model.precision).toBe('fp32');
        expect(model.weightsPath).toBeUndefined();
        const dims = [1, 1, 15, 32, 32];
        const probs = await model.predict(new Float32Array(15 * 32 * 32).fill(0.1), dims);
        expect(probs.length).toBe(400);
        expect(probs.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 4);
      } finally {
        await model.close();
      }
      expect(existsSync(home) ? readdirSync(home) : []).toEqual([]);
    }, 120_000);
  });
});
