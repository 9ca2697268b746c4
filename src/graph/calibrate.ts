// Activation ranges for int8 quantization: run the fp32 graph with intermediate tensors exposed as extra outputs
// and collect per-tensor statistics over the calibration clips.
//
// Two methods (docs/model.md "int8" compares their drift):
// - 'minmax': the smallest and largest value seen over all clips;
// - 'percentile': per clip, the p-th and (1-p)-th quantiles (from a 4096-bin histogram over the clip's min..max),
//   averaged over the clips. Clipping the rare extreme values gives the bulk of the values finer steps.
// The exposed tensors of a 25-segment 256 px clip would be gigabytes at once, so they are taken in rounds of at
// most `maxBytesPerRun` per forward pass.
import { onnxSchema } from './proto.js';
import { StnetError } from '../errors.js';
import { ModelSession } from './session.js';
import type { TensorRange } from './quantize.js';

export const CALIBRATION_METHODS = ['minmax', 'percentile'] as const;
export type CalibrationMethod = (typeof CALIBRATION_METHODS)[number];
/** Percentile used by the 'percentile' method. */
export const DEFAULT_PERCENTILE = 99.99;
const BINS = 4096;

/** Adds `names` as float outputs of the graph (shape left free), so a run returns them. */
export function exposeTensors(model: Uint8Array, names: readonly string[]): Uint8Array {
  const m = onnxSchema().ModelProto.decode(model);
  const have = new Set((m.graph!.output ?? []).map((o) => o.name));
  for (const name of names) {
    if (have.has(name)) continue;
    m.graph!.output!.push({ name, type: { tensorType: { elemType: onnxSchema().TensorProto.DataType.FLOAT } } });
  }
  return onnxSchema().ModelProto.encode(m).finish();
}

/** Per-clip statistics of one tensor. */
interface ClipStats {
  min: number;
  max: number;
  lo: number;
  hi: number;
}

/** min, max and the (100-p)/p percentiles of one tensor's values. */
export function tensorStats(data: Float32Array, percentile = DEFAULT_PERCENTILE): ClipStats {
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < data.length; i++) {
    const v = data[i]!;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  if (!(max > min)) return { min, max, lo: min, hi: max };
  const hist = new Float64Array(BINS);
  const k = BINS / (max - min);
  for (let i = 0; i < data.length; i++) hist[Math.min(BINS - 1, Math.floor((data[i]! - min) * k))]!++;
  const tail = (data.length * (100 - percentile)) / 100;
  let lo = min;
  for (let b = 0, acc = 0; b < BINS; b++) {
    acc += hist[b]!;
    if (acc > tail) {
      lo = min + b / k;
      break;
    }
  }
  let hi = max;
  for (let b = BINS - 1, acc = 0; b >= 0; b--) {
    acc += hist[b]!;
    if (acc > tail) {
      hi = min + (b + 1) / k;
      break;
    }
  }
  return { min, max, lo: Math.max(min, lo), hi: Math.min(max, hi) };
}

/** A calibration input: one clip tensor [1, segNum, 15, H, W]. */
export interface CalibrationInput {
  readonly data: Float32Array;
  readonly dims: readonly number[];
}

/** Statistics of every tensor over the calibration inputs; turn them into ranges with `rangesFrom`. */
export class CalibrationStats {
  private readonly perTensor = new Map<string, ClipStats[]>();

  add(name: string, s: ClipStats): void {
    const list = this.perTensor.get(name) ?? [];
    list.push(s);
    this.perTensor.set(name, list);
  }

  get tensors(): readonly string[] {
    return [...this.perTensor.keys()];
  }

  /** The ranges of one method. */
  ranges(method: CalibrationMethod): Map<string, TensorRange> {
    const out = new Map<string, TensorRange>();
    for (const [name, list] of this.perTensor) {
      if (method === 'minmax') {
        out.set(name, { min: Math.min(...list.map((s) => s.min)), max: Math.max(...list.map((s) => s.max)) });
      } else {
        const mean = (f: (s: ClipStats) => number): number => list.reduce((a, s) => a + f(s), 0) / list.length;
        out.set(name, { min: mean((s) => s.lo), max: mean((s) => s.hi) });
      }
    }
    return out;
  }
}

export interface CalibrateOptions {
  threads: number;
  /** Largest total size of the tensors exposed in one forward pass (default 384 MiB). */
  maxBytesPerRun?: number;
  percentile?: number;
}

/**
 * Runs the fp32 `model` on each input with the `tensors` exposed and returns their statistics. The tensors are
 * split into rounds (one session each, run on every input) so that one run never returns more than the budget.
 */
export async function calibrate(model: Uint8Array, tensors: readonly string[], inputs: readonly CalibrationInput[], opts: CalibrateOptions): Promise<CalibrationStats> {
  if (inputs.length === 0) throw new StnetError('E_INVALID_OPTION', 'calibration needs at least one clip');
  const budget = opts.maxBytesPerRun ?? 384 * 1024 * 1024;
  const largest = inputs.reduce((a, b) => (a.data.length >= b.data.length ? a : b));
  const sizes = await exposedSizes(model, tensors, largest.dims, opts.threads);
  const rounds: string[][] = [];
  let cur: string[] = [];
  let bytes = 0;
  for (const t of tensors) {
    const b = sizes.get(t)! * 4;
    if (cur.length > 0 && bytes + b > budget) {
      rounds.push(cur);
      cur = [];
      bytes = 0;
    }
    cur.push(t);
    bytes += b;
  }
  if (cur.length > 0) rounds.push(cur);
  const stats = new CalibrationStats();
  for (const round of rounds) {
    const session = await ModelSession.create(exposeTensors(model, round), { threads: opts.threads, useGpu: false, transferModel: true });
    try {
      for (const input of inputs) {
        const out = await session.runAll(input.data, input.dims);
        for (const t of round) {
          const data = out[t];
          if (data === undefined) throw new StnetError('E_RUNTIME', `calibration: onnxruntime returned no tensor ${t}`);
          stats.add(t, tensorStats(data, opts.percentile));
        }
      }
    } finally {
      await session.close();
    }
  }
  return stats;
}

/** The probe's side: the element counts below scale with H*W (the xception tensors less, so they are overestimated). */
const PROBE_SIZE = 64;

/**
 * An upper estimate of each tensor's element count for input `dims`: one run on a zero input of PROBE_SIZE px with
 * the same batch and segments (cheap), scaled by the pixel ratio.
 */
async function exposedSizes(model: Uint8Array, tensors: readonly string[], dims: readonly number[], threads: number): Promise<Map<string, number>> {
  const probe = [dims[0]!, dims[1]!, dims[2]!, PROBE_SIZE, PROBE_SIZE];
  const ratio = Math.max(1, (dims[3]! * dims[4]!) / (PROBE_SIZE * PROBE_SIZE));
  const session = await ModelSession.create(exposeTensors(model, tensors), { threads, useGpu: false, transferModel: true });
  try {
    const out = await session.runAll(new Float32Array(probe.reduce((a, b) => a * b, 1)), probe);
    return new Map(tensors.map((t) => [t, Math.ceil((out[t]?.length ?? 0) * ratio)]));
  } finally {
    await session.close();
  }
}
