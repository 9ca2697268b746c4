// The int8 model: fp32 graph bytes + calibration videos -> quantized graph bytes, and the drift of int8 against
// fp32 on evaluation videos. Called by StNet.load({ precision: 'int8' }) and `stnet quantize`.
// The graph side lives in src/graph/quantize.ts (QDQ rewrite) and src/graph/calibrate.ts (activation ranges);
// this file brings the videos to them (the graph stage does not read videos).
import { realpathSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { StnetError, isStnetError } from '../errors.js';
import { CALIBRATION_METHODS, calibrate, type CalibrationInput, type CalibrationMethod } from '../graph/calibrate.js';
import { ModelSession } from '../graph/session.js';
import { DEFAULT_INT8_GROUPS, LAYER_GROUPS, quantizationPlan, quantizeStnetModel, type LayerGroup } from '../graph/quantize.js';
import { NUM_CLASSES } from '../graph/stnet.js';
import { loadVideo, type LoadVideoOptions } from '../video/load-video.js';

export { CALIBRATION_METHODS, LAYER_GROUPS, DEFAULT_INT8_GROUPS };
export type { CalibrationMethod, LayerGroup };

/** Calibration method used unless one is asked for: the lower drift in docs/model.md ("int8"). */
export const DEFAULT_CALIBRATION_METHOD: CalibrationMethod = 'minmax';

/**
 * How calibration clips are read: 10 segments (a quarter of the reference's 25 is enough for ranges and keeps
 * the exposed tensors small) at the reference's 256 px, so the ranges are those of the default input size.
 */
export const CALIBRATION_CLIP = Object.freeze({ segNum: 10, shortSize: 256, targetSize: 256 });

/** The bundled example clip(s): the calibration set when none is given. Kept apart from evaluation clips. */
export function defaultCalibrationVideos(): string[] {
  // src/model/ and dist/model/ are both two levels below the package root, where examples/ lives.
  return [fileURLToPath(new URL('../../examples/archery.avi', import.meta.url))];
}

export interface Int8Options {
  /** Calibration videos (default: defaultCalibrationVideos()). */
  calibration?: readonly string[];
  method?: CalibrationMethod;
  groups?: readonly LayerGroup[];
  threads: number;
  /** Clip reading for calibration (default CALIBRATION_CLIP); tests use small clips. */
  clip?: Pick<LoadVideoOptions, 'segNum' | 'shortSize' | 'targetSize'>;
  /** A calibration video that cannot be read is skipped and reported here. */
  onWarning?: (message: string) => void;
  signal?: AbortSignal;
}

/** Reads the calibration videos; unreadable ones are skipped with a warning, none readable is an error. */
export async function readCalibrationClips(
  paths: readonly string[],
  opts: Pick<Int8Options, 'clip' | 'onWarning' | 'signal'> = {},
  what: 'calibration' | 'evaluation' = 'calibration',
): Promise<CalibrationInput[]> {
  if (paths.length === 0) throw new StnetError('E_INVALID_OPTION', `the ${what} list is empty: give at least one video`);
  const clips: CalibrationInput[] = [];
  const failures: string[] = [];
  for (const path of paths) {
    try {
      const c = await loadVideo(path, { ...CALIBRATION_CLIP, ...opts.clip, ...(opts.signal !== undefined ? { signal: opts.signal } : {}) });
      clips.push({ data: c.data, dims: c.dims });
    } catch (err) {
      // Not the video's fault: no later video would fare better.
      if (isStnetError(err) && (err.code === 'E_CANCELLED' || err.code === 'E_FFMPEG_MISSING')) throw err;
      const why = `${path}: ${isStnetError(err) ? `${err.code} ${err.message}` : String(err)}`;
      failures.push(why);
      opts.onWarning?.(`${what} video skipped: ${why}`);
    }
  }
  if (clips.length === 0) {
    throw new StnetError('E_INVALID_OPTION', `none of the ${paths.length} ${what} video${paths.length === 1 ? '' : 's'} could be read (${failures.join('; ')}); give readable videos in the ${what} list`);
  }
  return clips;
}

/** What went into a quantized graph; part of its cache key and of its metadata. */
export function calibrationIdentity(opts: Omit<Int8Options, 'threads' | 'onWarning' | 'signal'>): string {
  const files = (opts.calibration ?? defaultCalibrationVideos()).map((p) => {
    try {
      const real = realpathSync(p);
      const st = statSync(real, { bigint: true });
      return { real, size: String(st.size), mtimeNs: String(st.mtimeNs) };
    } catch {
      return { missing: p };
    }
  });
  return JSON.stringify({
    precision: 'int8',
    files,
    method: opts.method ?? DEFAULT_CALIBRATION_METHOD,
    groups: opts.groups ?? DEFAULT_INT8_GROUPS,
    clip: { ...CALIBRATION_CLIP, ...opts.clip },
  });
}

/** Calibrates the fp32 model on `clips` and quantizes it with each method asked for. */
export async function quantizeWithClips(
  fp32: Uint8Array,
  clips: readonly CalibrationInput[],
  opts: { threads: number; methods: readonly CalibrationMethod[]; groups?: readonly LayerGroup[]; identity?: string },
): Promise<Map<CalibrationMethod, Uint8Array>> {
  const groups = opts.groups ?? DEFAULT_INT8_GROUPS;
  const plan = quantizationPlan(fp32, groups);
  const stats = await calibrate(fp32, plan.calibrate, clips, { threads: opts.threads });
  const out = new Map<CalibrationMethod, Uint8Array>();
  for (const method of opts.methods) {
    out.set(method, quantizeStnetModel(fp32, stats.ranges(method), { groups, metadata: { 'stnet.calibration_method': method, ...(opts.identity !== undefined ? { 'stnet.calibration': opts.identity } : {}) } }));
  }
  return out;
}

/** The int8 graph for the fp32 graph `fp32`, calibrated on the videos of `opts`. */
export async function buildInt8Model(fp32: Uint8Array, opts: Int8Options): Promise<Uint8Array> {
  const method = opts.method ?? DEFAULT_CALIBRATION_METHOD;
  const clips = await readCalibrationClips(opts.calibration ?? defaultCalibrationVideos(), opts);
  const models = await quantizeWithClips(fp32, clips, { threads: opts.threads, methods: [method], ...(opts.groups !== undefined ? { groups: opts.groups } : {}), identity: calibrationIdentity(opts) });
  return models.get(method)!;
}

/** int8 against fp32 on the evaluation clips. */
export interface DriftReport {
  readonly clips: number;
  /** Largest |p_int8 - p_fp32| over all clips and classes. */
  readonly maxAbsDp: number;
  /** Mean |p_int8 - p_fp32| over all clips and classes. */
  readonly meanAbsDp: number;
  /** Clips whose top-1 class is the same. */
  readonly top1Agree: number;
  /** Smallest and mean top-5 overlap (0..5) over the clips. */
  readonly top5OverlapMin: number;
  readonly top5OverlapMean: number;
}

const topIndices = (p: Float32Array, k: number): number[] =>
  Array.from(p.keys())
    .sort((a, b) => p[b]! - p[a]! || a - b)
    .slice(0, k);

/** Compares probabilities row by row (each row NUM_CLASSES values). */
export function driftOf(fp32: readonly Float32Array[], int8: readonly Float32Array[]): DriftReport {
  let maxAbsDp = 0;
  let sum = 0;
  let n = 0;
  let top1Agree = 0;
  const overlaps: number[] = [];
  for (let c = 0; c < fp32.length; c++) {
    const a = fp32[c]!;
    const b = int8[c]!;
    for (let i = 0; i < a.length; i++) {
      const d = Math.abs(a[i]! - b[i]!);
      maxAbsDp = Math.max(maxAbsDp, d);
      sum += d;
      n++;
    }
    const ta = topIndices(a, 5);
    const tb = topIndices(b, 5);
    if (ta[0] === tb[0]) top1Agree++;
    overlaps.push(ta.filter((i) => tb.includes(i)).length);
  }
  return {
    clips: fp32.length,
    maxAbsDp,
    meanAbsDp: n === 0 ? 0 : sum / n,
    top1Agree,
    top5OverlapMin: overlaps.length === 0 ? 0 : Math.min(...overlaps),
    top5OverlapMean: overlaps.length === 0 ? 0 : overlaps.reduce((a, b) => a + b, 0) / overlaps.length,
  };
}

/** Runs both models on every clip and reports the drift. */
export async function measureDrift(fp32: Uint8Array, int8: readonly Uint8Array[], clips: readonly CalibrationInput[], threads: number): Promise<DriftReport[]> {
  const run = async (model: Uint8Array): Promise<Float32Array[]> => {
    const s = await ModelSession.create(model, { threads, useGpu: false });
    try {
      const out: Float32Array[] = [];
      for (const c of clips) out.push((await s.run(c.data, c.dims)).slice(0, NUM_CLASSES));
      return out;
    } finally {
      await s.close();
    }
  };
  const ref = await run(fp32);
  const reports: DriftReport[] = [];
  for (const m of int8) reports.push(driftOf(ref, await run(m)));
  return reports;
}

export interface QuantizeStnetOptions extends Int8Options {
  /** Held-out clips the drift is measured on (default: the calibration clips, which the report then says). */
  evaluation?: readonly string[];
  /** Clip reading for the evaluation clips (default: the reference's 25 segments at 256 px). */
  evaluationClip?: Pick<LoadVideoOptions, 'segNum' | 'shortSize' | 'targetSize'>;
}

export interface QuantizeStnetResult {
  readonly model: Uint8Array;
  readonly method: CalibrationMethod;
  readonly groups: readonly LayerGroup[];
  readonly calibrationClips: number;
  /** Whether the drift was measured on held-out clips (false: on the calibration clips). */
  readonly heldOut: boolean;
  readonly drift: DriftReport;
}

/** `stnet quantize`: fp32 graph (from loadModelBytes) -> calibrated int8 graph, plus its drift against fp32. */
export async function quantizeStnet(fp32: Uint8Array, opts: QuantizeStnetOptions): Promise<QuantizeStnetResult> {
  const method = opts.method ?? DEFAULT_CALIBRATION_METHOD;
  const groups = opts.groups ?? DEFAULT_INT8_GROUPS;
  // Evaluation clips are read first: a bad evaluation list fails before the (slow) calibration.
  const evaluation = opts.evaluation !== undefined ? await readCalibrationClips(opts.evaluation, { ...opts, clip: { segNum: 25, shortSize: 256, targetSize: 256, ...opts.evaluationClip } }, 'evaluation') : undefined;
  const clips = await readCalibrationClips(opts.calibration ?? defaultCalibrationVideos(), opts);
  const models = await quantizeWithClips(fp32, clips, { threads: opts.threads, methods: [method], groups, identity: calibrationIdentity(opts) });
  const model = models.get(method)!;
  const [drift] = await measureDrift(fp32, [model], evaluation ?? clips, opts.threads);
  return { model, method, groups, calibrationClips: clips.length, heldOut: evaluation !== undefined, drift: drift! };
}
