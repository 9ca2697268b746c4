// int8 quantization: the pure pieces (parameters, weights, statistics) against hand-computed values, then the
// QDQ graph built from the golden weights and calibrated on the bundled example clip: its structure, what
// onnxruntime fuses it into, and its drift against fp32 on a held-out clip.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import onnxProto from 'onnx-proto';
import { calibrate, exposeTensors, tensorStats } from '../../src/graph/calibrate.js';
import { decodeModel } from '../../src/graph/onnx.js';
import { checkStnetModel } from '../../src/graph/model-file.js';
import { activationParams, quantizationPlan, quantizeStnetModel, quantizeWeights, DEFAULT_INT8_GROUPS } from '../../src/graph/quantize.js';
import { ModelSession } from '../../src/graph/session.js';
import { buildStnetOnnx } from '../../src/graph/stnet.js';
import { DEFAULT_CALIBRATION_METHOD, defaultCalibrationVideos, driftOf, measureDrift, readCalibrationClips } from '../../src/model/quantize.js';
import { loadWeights } from '../../src/weights/index.js';
import { GOLDEN_SKIP_REASON, HAS_GOLDEN, HAS_VIDEOS, VIDEOS_DIR, goldenXz } from '../helpers/golden.js';
import { rejects } from '../helpers/errors.js';

const DT = onnxProto.onnx.TensorProto.DataType;
/** Small clips keep the test fast: 7 segments at 112 px. */
const SMALL = { segNum: 7, shortSize: 112, targetSize: 112 };

describe('quantization parameters', () => {
  it.each<[string, { min: number; max: number }, { scale: number; zeroPoint: number }]>([
    ['after a ReLU: zero point 0', { min: 0, max: 2.55 }, { scale: 0.01, zeroPoint: 0 }],
    ['a signed range', { min: -1, max: 1.55 }, { scale: 0.01, zeroPoint: 100 }],
    ['a range above 0 is widened to include 0', { min: 0.5, max: 5.1 }, { scale: 0.02, zeroPoint: 0 }],
    ['all negative', { min: -2.55, max: -1 }, { scale: 0.01, zeroPoint: 255 }],
    ['a constant 0 tensor', { min: 0, max: 0 }, { scale: 1, zeroPoint: 0 }],
  ])('%s', (_name, range, expected) => {
    const p = activationParams(range);
    expect(p.scale).toBeCloseTo(expected.scale, 12);
    expect(p.zeroPoint).toBe(expected.zeroPoint);
  });

  it('weights: symmetric int8 per output channel, scale = max|w| / qmax, rounded against the float32 scale', () => {
    const w = Float32Array.from([0.4, -1, 0.2, /* channel 1 */ 2, 1.1, -0.3, /* channel 2 */ 0, 0, 0]);
    const { q, scales } = quantizeWeights(w, 3, 63);
    expect(Array.from(scales)).toEqual([Math.fround(1 / 63), Math.fround(2 / 63), 1]);
    // 0.4*63 = 25.2, 0.2*63 = 12.6; 1.1/2*63 = 34.65, -0.3/2*63 = -9.45; an all-zero channel gets scale 1.
    expect(Array.from(q)).toEqual([25, -63, 13, 63, 35, -9, 0, 0, 0]);
  });

  it('tensor statistics: min, max and the percentiles (to within one of the 4096 histogram bins)', () => {
    // 100000 values 0..99999: the 99.9th percentile is 99899, the 0.1th is 100; one bin is 99999/4096 ~ 24.4 wide.
    const data = Float32Array.from({ length: 100000 }, (_, i) => i);
    const s = tensorStats(data, 99.9);
    expect(s.min).toBe(0);
    expect(s.max).toBe(99999);
    expect(s.hi).toBeGreaterThanOrEqual(99899 - 25);
    expect(s.hi).toBeLessThanOrEqual(99899 + 25);
    expect(s.lo).toBeGreaterThanOrEqual(100 - 25);
    expect(s.lo).toBeLessThanOrEqual(100 + 25);
    // A constant tensor: every statistic is the constant.
    expect(tensorStats(new Float32Array(10).fill(3))).toEqual({ min: 3, max: 3, lo: 3, hi: 3 });
  });

  it('drift: max and mean |dp|, top-1 agreement, top-5 overlap', () => {
    const a = new Float32Array(400);
    const b = new Float32Array(400);
    [0.5, 0.2, 0.1, 0.08, 0.06, 0.04].forEach((v, i) => (a[i] = v));
    [0.45, 0.25, 0.1, 0.08, 0.02, 0.06].forEach((v, i) => (b[i] = v)); // classes 4 and 5 swap places 5 and 6
    const d = driftOf([a], [b]);
    expect(d.maxAbsDp).toBeCloseTo(0.05, 6);
    expect(d.meanAbsDp).toBeCloseTo((0.05 + 0.05 + 0.04 + 0.02) / 400, 8);
    expect(d.top1Agree).toBe(1);
    expect(d.top5OverlapMin).toBe(4);
  });
});

describe.skipIf(!HAS_GOLDEN)(`int8 graph from the golden weights${HAS_GOLDEN ? '' : ` (${GOLDEN_SKIP_REASON})`}`, () => {
  let fp32: Uint8Array;
  let int8: Uint8Array;
  let dir: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'stnet-int8-'));
    fp32 = buildStnetOnnx(await loadWeights(await goldenXz('stnet_seed7_q.pdparams')));
    const clips = await readCalibrationClips(defaultCalibrationVideos(), { clip: SMALL });
    const plan = quantizationPlan(fp32);
    const stats = await calibrate(fp32, plan.calibrate, clips, { threads: 2 });
    int8 = quantizeStnetModel(fp32, stats.ranges(DEFAULT_CALIBRATION_METHOD));
  }, 600_000);

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('has Q/DQ around every quantized conv: uint8 activations, int8 per-channel weights (axis 0), int32 bias at x_scale * w_scale', () => {
    const m = decodeModel(int8);
    const inits = new Map(m.graph!.initializer!.map((t) => [t.name!, t]));
    const producer = new Map(m.graph!.node!.flatMap((n) => n.output!.map((o) => [o, n] as const)));
    const convs = m.graph!.node!.filter((n) => n.opType === 'Conv');
    const plan = quantizationPlan(fp32, DEFAULT_INT8_GROUPS);
    expect(plan.nodes.length).toBe(55); // conv1 + 52 ResNet convs + 2 temporal
    const floats = (name: string): Float32Array => new Float32Array(new Uint8Array(inits.get(name)!.rawData!).buffer);
    let quantized = 0;
    for (const n of convs) {
      const [x, w, b] = n.input!.map((i) => producer.get(i));
      if (!plan.nodes.includes(n.output![0]!)) {
        expect(w).toBeUndefined(); // kept fp32: its weight is the float initializer
        continue;
      }
      quantized++;
      expect(x!.opType).toBe('DequantizeLinear');
      expect(inits.get(x!.input![2]!)!.dataType).toBe(DT.UINT8);
      expect(w!.opType).toBe('DequantizeLinear');
      const wq = inits.get(w!.input![0]!)!;
      expect(wq.dataType).toBe(DT.INT8);
      expect(Number(w!.attribute!.find((a) => a.name === 'axis')!.i)).toBe(0);
      const wScale = floats(w!.input![1]!);
      expect(wScale.length).toBe(Number(wq.dims![0]));
      expect(b!.opType).toBe('DequantizeLinear');
      expect(inits.get(b!.input![0]!)!.dataType).toBe(DT.INT32);
      const xScale = floats(x!.input![1]!)[0]!;
      const bScale = floats(b!.input![1]!);
      for (let c = 0; c < bScale.length; c++) expect(bScale[c]).toBe(Math.fround(xScale * wScale[c]!));
    }
    expect(quantized).toBe(55);
    const count = (op: string): number => m.graph!.node!.filter((n) => n.opType === op).length;
    expect(count('QuantizeLinear')).toBe(plan.tensors.length);
    // Every tensor's DQ plus one per weight and bias.
    expect(count('DequantizeLinear')).toBe(plan.tensors.length + 2 * 55);
    expect(count('ConvInteger')).toBe(0);
    // The file check accepts it as an int8 StNet graph, and it is ~4x smaller.
    expect(checkStnetModel(int8, 'int8.onnx').precision).toBe('int8');
    expect(int8.length).toBeLessThan(fp32.length / 2);
  });

  it('onnxruntime fuses every quantized conv into QLinearConv (its optimized graph, counted)', async () => {
    const optimized = join(dir, 'optimized.onnx');
    const s = await ModelSession.create(int8.slice(), { threads: 1, useGpu: false, optimizedModelPath: optimized });
    await s.close();
    const ops = decodeModel(new Uint8Array(readFileSync(optimized))).graph!.node!.map((n) => n.opType);
    const count = (op: string): number => ops.filter((o) => o === op).length;
    expect(count('QLinearConv')).toBe(55);
    expect(count('QLinearAdd')).toBeGreaterThanOrEqual(16); // every bottleneck's residual add
    expect(count('ConvInteger')).toBe(0);
    // What is left in float: the Xception block's 5 convs (kept fp32 by default).
    expect(count('Conv')).toBe(5);
  }, 120_000);

  it.skipIf(!HAS_VIDEOS)('drift against fp32 on a held-out clip stays within the measured bound', async () => {
    // mmaction2_demo.mp4 is not the calibration clip (examples/archery.avi).
    const clips = await readCalibrationClips([join(VIDEOS_DIR, 'mmaction2_demo.mp4')], { clip: SMALL }, 'evaluation');
    const [d] = await measureDrift(fp32, [int8], clips, 2);
    // Bounds: see MAX_DP_BOUND below.
    expect(d!.top1Agree).toBe(1);
    expect(d!.top5OverlapMin).toBeGreaterThanOrEqual(4);
    expect(d!.maxAbsDp).toBeLessThan(MAX_DP_BOUND);
    expect(d!.meanAbsDp).toBeLessThan(MEAN_DP_BOUND);
  }, 300_000);

  it('exposeTensors adds graph outputs a run returns', () => {
    const m = decodeModel(exposeTensors(fp32, ['pool1']));
    expect(m.graph!.output!.map((o) => o.name)).toEqual(['probs', 'logits', 'embedding', 'pool1']);
  });
});

describe('calibration videos', () => {
  it.skipIf(!HAS_VIDEOS)('a bad video is skipped with a warning; the others are used', async () => {
    const warnings: string[] = [];
    const clips = await readCalibrationClips(['/nonexistent/clip.mp4', ...defaultCalibrationVideos()], { clip: SMALL, onWarning: (m) => warnings.push(m) });
    expect(clips.length).toBe(1);
    expect(clips[0]!.dims).toEqual([1, 7, 15, 112, 112]);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/^calibration video skipped: \/nonexistent\/clip\.mp4: E_VIDEO_NOT_FOUND/);
  });

  it('all bad -> E_INVALID_OPTION listing each', async () => {
    const bad = join(tmpdir(), `stnet-not-a-video-${process.pid}.mp4`);
    const { writeFileSync } = await import('node:fs');
    writeFileSync(bad, 'this is not a video');
    try {
      await rejects(readCalibrationClips(['/nonexistent/a.mp4', bad], { clip: SMALL }), 'E_INVALID_OPTION', /none of the 2 calibration videos could be read \(\/nonexistent\/a\.mp4: E_VIDEO_NOT_FOUND.*; .*not-a-video.*E_VIDEO_UNDECODABLE/);
    } finally {
      rmSync(bad, { force: true });
    }
  });

  it('an empty list -> E_INVALID_OPTION', async () => {
    await rejects(readCalibrationClips([]), 'E_INVALID_OPTION', /calibration list is empty/);
  });
});

// Measured 2026-12-01 (calibration archery.avi, evaluation mmaction2_demo.mp4, both 7 segments at 112 px,
// minmax): max |dp| 4.7e-3, mean |dp| 1.19e-4, top-5 5/5. The bounds are ~3x those: a quantizer bug (a wrong
// scale, a swapped zero point) moves them by far more.
const MAX_DP_BOUND = 0.015;
const MEAN_DP_BOUND = 4e-4;
