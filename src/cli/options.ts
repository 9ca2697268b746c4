// The CLI's option table: the ONE place where the hub's snake_case flags meet the library's camelCase
// names. Help text, parsing and error messages are all generated from it.
import { CLASSIFY_DEFAULTS, CLASSIFY_LIMITS, validateClassifyOptions, type ClassifyOptions } from '../classify.js';
import type { ServeOptions } from '../server/serve.js';
import { StnetError, checkInteger, invalidOption } from '../errors.js';
import { MAX_THREADS } from '../stnet.js';

export const FORMATS = ['text', 'json', 'jsonl', 'csv'] as const;
export type Format = (typeof FORMATS)[number];

/** Threads, as StNet.load checks them (its default: one per core). */
export const THREADS_LIMITS = [1, MAX_THREADS] as const;

/** Exit codes; --help, docs/cli.md and the tests use this table. */
export const EXIT_CODES = [
  { code: 0, meaning: 'every video was classified (or the command succeeded)' },
  { code: 1, meaning: 'at least one video failed (it is reported in the output; the others were still classified)' },
  { code: 2, meaning: 'usage or environment error: bad flag or value, weights missing/invalid/not downloadable, ffmpeg missing, GPU unavailable' },
  { code: 130, meaning: 'interrupted (Ctrl-C); a download in progress leaves nothing in the cache' },
] as const;

type IntKey = 'topK' | 'segNum' | 'shortSize' | 'targetSize' | 'decodeTimeoutMs' | 'threads';

interface IntSpec {
  readonly key: IntKey;
  readonly flag: string;
  readonly arg: string;
  readonly description: string;
  readonly limits: readonly [number, number];
}

/** Integer flags of `stnet run`, in help order. */
export const INT_OPTIONS: readonly IntSpec[] = [
  { key: 'topK', flag: '--top_k', arg: '<k>', description: `labels per video (default ${CLASSIFY_DEFAULTS.topK}, the reference's MODEL.topk)`, limits: CLASSIFY_LIMITS.topK },
  { key: 'segNum', flag: '--seg_num', arg: '<n>', description: `segments sampled per video (default ${CLASSIFY_DEFAULTS.segNum}, the reference's INFER config)`, limits: CLASSIFY_LIMITS.segNum },
  { key: 'shortSize', flag: '--short_size', arg: '<px>', description: `short side after the reference's 4:3 resize (default ${CLASSIFY_DEFAULTS.shortSize})`, limits: CLASSIFY_LIMITS.shortSize },
  { key: 'targetSize', flag: '--target_size', arg: '<px>', description: `centre-crop size, <= --short_size (default ${CLASSIFY_DEFAULTS.targetSize})`, limits: CLASSIFY_LIMITS.targetSize },
  { key: 'decodeTimeoutMs', flag: '--decode_timeout', arg: '<ms>', description: 'give up decoding one video after this many milliseconds', limits: CLASSIFY_LIMITS.decodeTimeoutMs },
  { key: 'threads', flag: '--threads', arg: '<n>', description: 'onnxruntime intra-op threads (default: one per core)', limits: THREADS_LIMITS },
];

const FLAG_OF: Record<string, string> = {
  ...Object.fromEntries(INT_OPTIONS.map((o) => [o.key, o.flag])),
  onProgress: 'onProgress',
  signal: 'signal',
};

/** camelCase option name -> the flag a CLI user typed (for messages from the shared validators). */
export function flagOf(key: keyof ClassifyOptions | 'threads'): string {
  return FLAG_OF[key] ?? key;
}

/** commander's attribute name for a flag: `--top_k` -> `top_k` (it only camelCases dashes). */
export function attrOf(flag: string): string {
  return flag.replace(/^--/, '');
}

/** Strict integer parse: "5" ok; "5.0", "5x", "" are errors naming the flag and its range. */
export function parseIntFlag(spec: IntSpec, raw: string): number {
  const [min, max] = spec.limits;
  const range = `integer between ${min} and ${max}`;
  if (!/^[+-]?\d+$/.test(raw.trim())) throw invalidOption(spec.flag, range, raw);
  return checkInteger(spec.flag, Number(raw), min, max);
}

export interface RunValues {
  readonly inputPaths: readonly string[];
  readonly inputFile: string | undefined;
  readonly format: Format | undefined;
  readonly weights: string | undefined;
  readonly weightsUrl: string | undefined;
  readonly useGpu: boolean;
  /** --precision as typed (StNet.load checks it). */
  readonly precision: string | undefined;
  readonly model: string | undefined;
  readonly quiet: boolean;
  readonly topK: number | undefined;
  readonly segNum: number | undefined;
  readonly shortSize: number | undefined;
  readonly targetSize: number | undefined;
  readonly decodeTimeoutMs: number | undefined;
  readonly threads: number | undefined;
}

/** commander's raw option object (snake_case strings) -> typed camelCase values. Throws E_INVALID_OPTION. */
export function toRunValues(raw: Record<string, unknown>): RunValues {
  const ints: Partial<Record<IntKey, number>> = {};
  for (const spec of INT_OPTIONS) {
    const v = raw[attrOf(spec.flag)];
    if (v !== undefined) ints[spec.key] = parseIntFlag(spec, String(v));
  }
  const format = raw.format as string | undefined;
  if (format !== undefined && !(FORMATS as readonly string[]).includes(format)) {
    throw new StnetError('E_INVALID_OPTION', `Expected one of ${FORMATS.join(', ')} for --format but received ${JSON.stringify(format)}`);
  }
  const inputPaths = (raw.input_path as string[] | undefined) ?? [];
  return {
    inputPaths,
    inputFile: raw.input_file as string | undefined,
    format: format as Format | undefined,
    weights: raw.weights as string | undefined,
    weightsUrl: raw.weights_url as string | undefined,
    useGpu: raw.use_gpu === true,
    precision: raw.precision as string | undefined,
    model: raw.model as string | undefined,
    quiet: raw.quiet === true,
    topK: ints.topK,
    segNum: ints.segNum,
    shortSize: ints.shortSize,
    targetSize: ints.targetSize,
    decodeTimeoutMs: ints.decodeTimeoutMs,
    threads: ints.threads,
  };
}

/** The library options for `model.classify`, undefined values left out (so library defaults apply). */
export function toClassifyOptions(v: RunValues): ClassifyOptions {
  const out: ClassifyOptions = {};
  if (v.topK !== undefined) out.topK = v.topK;
  if (v.segNum !== undefined) out.segNum = v.segNum;
  if (v.shortSize !== undefined) out.shortSize = v.shortSize;
  if (v.targetSize !== undefined) out.targetSize = v.targetSize;
  if (v.decodeTimeoutMs !== undefined) out.decodeTimeoutMs = v.decodeTimeoutMs;
  return out;
}

/** `stnet serve` integer flags -> ServeOptions keys (the server checks the ranges). */
const SERVE_INT_FLAGS: readonly (readonly [string, 'port' | 'workers' | 'threads' | 'maxQueue' | 'shutdownGraceMs'])[] = [
  ['port', 'port'],
  ['workers', 'workers'],
  ['threads', 'threads'],
  ['max_queue', 'maxQueue'],
  ['shutdown_grace_ms', 'shutdownGraceMs'],
];

/** commander's raw `stnet serve` options -> ServeOptions. Throws E_INVALID_OPTION for values that are not numbers. */
export function toServeOptions(raw: Record<string, unknown>): ServeOptions {
  const defaults = validateClassifyOptions(toClassifyOptions(toRunValues({ seg_num: raw.seg_num, short_size: raw.short_size, target_size: raw.target_size })), flagOf);
  const opts: ServeOptions = {
    ...(raw.host !== undefined ? { host: String(raw.host) } : {}),
    ...(raw.weights !== undefined ? { weights: String(raw.weights) } : {}),
    ...(raw.token !== undefined ? { token: String(raw.token) } : {}),
    ...(raw.log === true ? { log: true } : {}),
    ...(raw.precision !== undefined ? { precision: String(raw.precision) as 'fp32' | 'int8' } : {}),
    classifyDefaults: {
      ...(raw.seg_num !== undefined ? { segNum: defaults.segNum } : {}),
      ...(raw.short_size !== undefined ? { shortSize: defaults.shortSize } : {}),
      ...(raw.target_size !== undefined ? { targetSize: defaults.targetSize } : {}),
    },
  };
  for (const [flag, key] of SERVE_INT_FLAGS) {
    const v = raw[flag];
    if (v === undefined) continue;
    const s = String(v).trim();
    if (!/^[+-]?\d+$/.test(s)) throw invalidOption(`--${flag}`, 'integer', String(v));
    opts[key] = Number(s);
  }
  if (raw.max_upload_mb !== undefined) {
    const s = String(raw.max_upload_mb).trim();
    const n = Number(s);
    if (s === '' || !Number.isFinite(n)) throw invalidOption('--max_upload_mb', 'number', String(raw.max_upload_mb));
    opts.maxUploadMb = n;
  }
  return opts;
}
