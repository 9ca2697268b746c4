// The ONNX model itself: its interface (opset, symbolic dims, outputs), the FLOP count walked from its nodes,
// the builder's own parameter checks, and export-onnx.
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countFlops } from '../../src/graph/flops.js';
import { GraphBuilder, OPSET, decodeModel } from '../../src/graph/onnx.js';
import { ModelSession } from '../../src/graph/session.js';
import { buildStnetOnnx } from '../../src/graph/stnet.js';
import { exportOnnx } from '../../src/model/export.js';
import { StNet } from '../../src/stnet.js';
import { loadWeights } from '../../src/weights/index.js';
import type { Float32Param, StnetWeights } from '../../src/weights/types.js';
import { GOLDEN_SKIP_REASON, HAS_GOLDEN, goldenXz } from '../helpers/golden.js';
import { syntheticWeights } from '../helpers/synthetic-weights.js';
import { expectCode } from '../helpers/errors.js';

/**
 * Conv + fc MACs of StNet-R50 for input [B, T, 15, S, S], computed from the architecture description
 * (spec 5b) independently of the graph builder.
 */
function referenceMacs(b: number, t: number, s: number): number {
  const out = (size: number, k: number, stride: number, pad: number): number => Math.floor((size + 2 * pad - k) / stride) + 1;
  const n = b * t;
  let macs = 0;
  let size = out(s, 7, 2, 3);
  macs += n * 64 * size * size * 15 * 49; // conv1
  size = out(size, 3, 2, 1); // max pool
  let cin = 64;
  for (const [blocks, width, stride] of [[3, 64, 1], [4, 128, 2], [6, 256, 2], [3, 512, 2]] as const) {
    for (let k = 0; k < blocks; k++) {
      const st = k === 0 ? stride : 1;
      const inSize = size;
      macs += n * width * inSize * inSize * cin; // 1x1 reduce
      size = out(inSize, 3, st, 1);
      macs += n * width * size * size * width * 9; // 3x3 (strided)
      macs += n * width * 4 * size * size * width; // 1x1 expand
      if (k === 0) macs += n * width * 4 * size * size * cin; // projection shortcut
      cin = width * 4;
    }
    if (width === 128 || width === 256) macs += n * cin * size * size * cin * 3; // temporal conv3d k(3,1,1)
  }
  // Xception over time: depthwise 3 taps on 2048 and 1024 channels, 1x1 2048->1024 (twice), 1024->1024.
  macs += b * t * (2048 * 3 + 2048 * 1024 + 1024 * 3 + 1024 * 1024 + 2048 * 1024);
  macs += b * 1024 * 400; // fc
  return macs;
}

describe('the ONNX model', () => {
  let model: Uint8Array;
  let weights: Map<string, Float32Param>;
  beforeAll(() => {
    weights = syntheticWeights();
    model = buildStnetOnnx(weights);
  });

  it(`declares opset ${OPSET}, input image [batch, seg_num, 15, height, width] and outputs probs/logits [batch, 400] and embedding [batch, 1024]`, () => {
    const m = decodeModel(model);
    expect(m.opsetImport.map((o) => [o.domain, Number(o.version)])).toEqual([['', 15]]);
    const dims = (v: (typeof m.graph.input)[number]): Array<string | number> =>
      v.type!.tensorType!.shape!.dim!.map((d) => (d.dimParam ? d.dimParam : Number(d.dimValue)));
    expect(m.graph.input.map((i) => [i.name, dims(i)])).toEqual([['image', ['batch', 'seg_num', 15, 'height', 'width']]]);
    expect(m.graph.output.map((o) => [o.name, dims(o)])).toEqual([
      ['probs', ['batch', 400]],
      ['logits', ['batch', 400]],
      ['embedding', ['batch', 1024]],
    ]);
    const ops = m.graph.node.map((nd) => nd.opType);
    // 53 ResNet convs (BN folded: no BatchNormalization left for them) + 2 temporal + 5 xception convs.
    expect(ops.filter((o) => o === 'Conv').length).toBe(60);
    // Only the BNs that cannot be folded stay: two temporal BNs (after ReLU) and xception_bn (before a padded conv).
    expect(ops.filter((o) => o === 'BatchNormalization').length).toBe(3);
  });

  it.each([
    [1, 7, 112],
    [2, 3, 64],
    [1, 25, 224],
    [1, 25, 256],
  ])('FLOPs from the graph for [%i, %i, 15, S, S] with S = %i match the architecture', (b, t, s) => {
    const f = countFlops(model, [b, t, 15, s, s]);
    expect(f.macs).toBe(referenceMacs(b, t, s));
    expect(f.flops).toBe(2 * f.macs);
    expect(f.outputShapes).toEqual({ probs: [b, 400], logits: [b, 400], embedding: [b, 1024] });
  });

  it('a missing parameter -> E_WEIGHTS_SHAPE naming it', () => {
    const w = new Map(weights);
    w.delete('res4f_branch2c_weights');
    expect(() => buildStnetOnnx(w)).toThrow(expect.objectContaining({ code: 'E_WEIGHTS_SHAPE', message: expect.stringMatching(/res4f_branch2c_weights is missing/) }));
  });

  it('a mis-shaped parameter -> E_WEIGHTS_SHAPE with both shapes', () => {
    const w = new Map(weights);
    w.set('conv3d_0.w_0', { shape: [512, 512, 3, 1], data: new Float32Array(512 * 512 * 3) });
    expectCode(() => buildStnetOnnx(w as StnetWeights), 'E_WEIGHTS_SHAPE', /conv3d_0\.w_0 has shape \[512, 512, 3, 1\], expected \[512, 512, 3, 1, 1\]/);
  });

  it('temporalConv conv3d and conv2d formulations compute the same numbers', async () => {
    const w = weights;
    const dims = [1, 3, 15, 32, 32];
    const x = new Float32Array(3 * 15 * 32 * 32).map((_, i) => Math.cos(i * 0.01));
    const a = await ModelSession.create(model, { threads: 1, useGpu: false });
    const b = await ModelSession.create(buildStnetOnnx(w, { temporalConv: 'conv3d' }), { threads: 1, useGpu: false });
    try {
      const [pa, pb] = [await a.runAll(x, dims), await b.runAll(x, dims)];
      const la = pa.logits!;
      const lb = pb.logits!;
      let d = 0;
      for (let i = 0; i < 400; i++) d = Math.max(d, Math.abs(la[i]! - lb[i]!));
      expect(d).toBeLessThan(1e-4);
    } finally {
      await a.close();
      await b.close();
    }
  });
});

describe('ModelSession errors', () => {
  it('bytes that are not an ONNX model -> E_RUNTIME with onnxruntime\'s reason', async () => {
    await expect(ModelSession.create(new Uint8Array([1, 2, 3, 4]), { threads: 1, useGpu: false })).rejects.toMatchObject({
      code: 'E_RUNTIME',
      message: expect.stringMatching(/onnxruntime could not create the session: .+/),
    });
  });

  it('a run that onnxruntime rejects -> E_RUNTIME naming the input dims; the session stays usable', async () => {
    const g = new GraphBuilder();
    const w = g.float('w', [3, 2], new Float32Array([1, 2, 3, 4, 5, 6]));
    const y = g.op('MatMul', ['x', w], {}, 'y');
    const bytes = g.encode({ graphName: 't', inputs: [{ name: 'x', dims: ['n', 3] }], outputs: [{ name: y, dims: ['n', 2] }], producerVersion: 'test' });
    const s = await ModelSession.create(bytes, { threads: 1, useGpu: false });
    try {
      await expect(s.run(new Float32Array(4), [1, 4])).rejects.toMatchObject({ code: 'E_RUNTIME', message: expect.stringContaining('on input [1, 4]') });
      expect(Array.from(await s.run(new Float32Array([1, 1, 1]), [1, 3]))).toEqual([9, 12]);
    } finally {
      await s.close();
    }
    await expect(s.run(new Float32Array(3), [1, 3])).rejects.toMatchObject({ code: 'E_MODEL_CLOSED' });
  });
});

describe('ModelSession runAll({ handOver })', () => {
  it('a whole-buffer input moves to the worker (detached, same result); a view or a WebAssembly memory is copied instead', async () => {
    const g = new GraphBuilder();
    const w = g.float('w', [3, 2], new Float32Array([1, 2, 3, 4, 5, 6]));
    const y = g.op('MatMul', ['x', w], {}, 'y');
    const bytes = g.encode({ graphName: 't', inputs: [{ name: 'x', dims: ['n', 3] }], outputs: [{ name: y, dims: ['n', 2] }], producerVersion: 'test' });
    const s = await ModelSession.create(bytes, { threads: 1, useGpu: false });
    try {
      const whole = new Float32Array([1, 0, 2, 0, 1, 1]);
      expect(Array.from((await s.runAll(whole, [2, 3], { handOver: true })).y!)).toEqual([11, 14, 8, 10]);
      expect(whole.length).toBe(0); // detached: the caller gave it away
      // The worker gives the buffer back after the run, for the next input; only once, and only at its length.
      expect(s.takeSpareInput(5)).toBeUndefined();
      const spare = s.takeSpareInput(6);
      expect(spare).toBeInstanceOf(Float32Array);
      expect(spare!.length).toBe(6);
      expect(s.takeSpareInput(6)).toBeUndefined();
      spare!.set([0, 1, 0, 1, 0, 0]);
      expect(Array.from((await s.runAll(spare!, [2, 3], { handOver: true })).y!)).toEqual([3, 4, 1, 2]);
      const backing = new Float32Array([9, 1, 1, 1, 9]);
      const view = backing.subarray(1, 4);
      expect(Array.from((await s.runAll(view, [1, 3], { handOver: true })).y!)).toEqual([9, 12]);
      expect(Array.from(backing)).toEqual([9, 1, 1, 1, 9]);
      const mem = new WebAssembly.Memory({ initial: 3 }) // 3 pages: a whole number of rows of 3;
      const wasm = new Float32Array(mem.buffer);
      wasm.set([2, 0, 0]);
      const fromWasm = new Float32Array(mem.buffer, 0, mem.buffer.byteLength / 4);
      const input = fromWasm.subarray(0, 3);
      expect(Array.from((await s.runAll(input, [1, 3], { handOver: true })).y!)).toEqual([2, 4]);
      // The whole memory as one array cannot be detached either: copied, and still readable.
      await expect(s.runAll(fromWasm, [fromWasm.length / 3, 3], { handOver: true })).resolves.toBeDefined();
      expect(fromWasm[0]).toBe(2);
    } finally {
      await s.close();
    }
  });
});

describe.skipIf(!HAS_GOLDEN)(`export-onnx${HAS_GOLDEN ? '' : ` (${GOLDEN_SKIP_REASON})`}`, () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'stnet-export-'));
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('writes a model file that onnxruntime loads and that computes what the in-memory model computes', async () => {
    const weightsPath = await goldenXz('stnet_seed7_q.lodtensor');
    const out = join(dir, 'stnet.onnx');
    const res = await exportOnnx(weightsPath, out);
    expect(res.opset).toBe(15);
    expect(statSync(out).size).toBe(res.bytes);
    expect(readdirSync(dir)).toEqual(['stnet.onnx']); // no temporary file left

    const fromFile = await ModelSession.create(readFileSync(out), { threads: 2, useGpu: false });
    const inMemory = await StNet.fromWeights(await loadWeights(weightsPath), { threads: 2 });
    try {
      const dims = [1, 4, 15, 64, 64];
      const x = new Float32Array(4 * 15 * 64 * 64).map((_, i) => Math.sin(i * 0.003) * 2);
      const a = await fromFile.run(x, dims);
      const b = await inMemory.predict(x, dims);
      expect(a.length).toBe(400);
      expect(Array.from(a)).toEqual(Array.from(b));
    } finally {
      await fromFile.close();
      await inMemory.close();
    }
  });

  it('an output folder that does not exist -> E_INVALID_OPTION naming the path, nothing written', async () => {
    const out = join(dir, 'no-such-folder', 'stnet.onnx');
    await expect(exportOnnx(await goldenXz('stnet_seed7_q.lodtensor'), out)).rejects.toMatchObject({
      code: 'E_INVALID_OPTION',
      message: expect.stringContaining(`cannot write the ONNX model to ${out}`),
    });
    expect(existsSync(join(dir, 'no-such-folder'))).toBe(false);
  });

  it('weights that do not exist -> E_WEIGHTS_NOT_FOUND', async () => {
    await expect(exportOnnx(join(dir, 'missing.pdparams'), join(dir, 'x.onnx'))).rejects.toMatchObject({ code: 'E_WEIGHTS_NOT_FOUND' });
  });
});
