// The CLI's option table: the ONE place where the hub's snake_case flags meet the library's camelCase
// names. Help text, parsing and error messages are all generated from it.
import { CLASSIFY_DEFAULTS, CLASSIFY_LIMITS, validateClassifyOptions, type ClassifyOptions } from '../classify.js';
import type { ServeOptions } from '../server/serve.js';
import { StnetError, checkInteger, invalidOption } from '../errors.js';
import { MAX_THREADS, PRECISIONS, type Precision } from '../stnet.js';
// Limits only: src/queue/jobs.ts imports neither bullmq nor ioredis, so `stnet run` does not load them.
import { ATTEMPTS_LIMITS, DEFAULT_ATTEMPTS, DEFAULT_QUEUE, PRIORITY_LIMITS, WORKER_DEFAULTS, WORKER_LIMITS } from '../queue/jobs.js';

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

interface IntSpec<K extends string = IntKey> {
  readonly key: K;
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
export function parseIntFlag(spec: Pick<IntSpec<string>, 'flag' | 'limits'>, raw: string): number {
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
  readonly precision: 'fp32' | 'int8' | undefined;
  readonly model: string | undefined;
  readonly quiet: boolean;
  /** --embedding: add each result's 1024-value embedding. */
  readonly embedding: boolean;
  readonly topK: number | undefined;
  readonly segNum: number | undefined;
  readonly shortSize: number | undefined;
  readonly targetSize: number | undefined;
  readonly decodeTimeoutMs: number | undefined;
  readonly threads: number | undefined;
}

/** The string flags of the weights, export-onnx and cache commands (and run's weights flags), camelCased. */
export interface SourceValues {
  readonly weights: string | undefined;
  readonly weightsUrl: string | undefined;
  /** export-onnx's --out. */
  readonly out: string | undefined;
  /** --precision as typed (the core checks it: fp32 or int8). */
  readonly precision: 'fp32' | 'int8' | undefined;
  /** --model: a graph file to run instead of building one. */
  readonly model: string | undefined;
  readonly quiet: boolean;
}

/** commander's raw options -> SourceValues; a flag given without a usable value is E_INVALID_OPTION. */
/** A string flag (commander's attribute name, e.g. `weights_url`): undefined when absent, else non-empty. */
export function stringFlag(raw: Record<string, unknown>, flag: string): string | undefined {
  const v = raw[flag];
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || v === '') throw invalidOption(`--${flag}`, 'a non-empty string', v);
  return v;
}

export function toSourceValues(raw: Record<string, unknown>): SourceValues {
  const str = (flag: string): string | undefined => stringFlag(raw, flag);
  const precision = str('precision');
  // Checked here only for the message's flag name; the core owns the list of precisions.
  if (precision !== undefined && !(PRECISIONS as readonly string[]).includes(precision)) throw invalidOption('--precision', PRECISIONS.map((p) => JSON.stringify(p)).join(' or '), precision);
  return { weights: str('weights'), weightsUrl: str('weights_url'), out: str('out'), precision: precision as Precision | undefined, model: str('model'), quiet: raw.quiet === true };
}

/** `stnet cache clean`'s flags. */
export function toCacheCleanValues(raw: Record<string, unknown>): { readonly graphsOnly: boolean } {
  return { graphsOnly: raw.graphs_only === true };
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
  const source = toSourceValues(raw);
  return {
    inputPaths,
    inputFile: raw.input_file as string | undefined,
    format: format as Format | undefined,
    weights: source.weights,
    weightsUrl: source.weightsUrl,
    useGpu: raw.use_gpu === true,
    precision: source.precision,
    model: source.model,
    quiet: raw.quiet === true,
    embedding: raw.embedding === true,
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
  if (v.embedding) out.embedding = true;
  return out;
}

// ---------------------------------------------------------------- stnet timeline / annotate

/** `--embedding` (run and timeline). */
export const EMBEDDING_FLAG = { flag: '--embedding', description: 'add the 1024-value embedding (the fc layer\'s input) to each result, for search and clustering' } as const;

/** Window flags of `stnet timeline` in seconds (decimals allowed). */
export const TIMELINE_SECONDS_OPTIONS = [
  { key: 'windowSec', flag: '--window', arg: '<s>', description: 'window length in seconds (default 10)' },
  { key: 'strideSec', flag: '--stride', arg: '<s>', description: 'stride between window starts in seconds (default 5)' },
] as const;

/** Integer flags of `stnet timeline` (frames, ms). */
export const TIMELINE_INT_OPTIONS: readonly IntSpec<'windowFrames' | 'strideFrames' | 'readTimeoutMs' | 'connectTimeoutMs'>[] = [
  { key: 'windowFrames', flag: '--window_frames', arg: '<n>', description: 'window length in frames (instead of --window)', limits: [1, 2 ** 31 - 1] },
  { key: 'strideFrames', flag: '--stride_frames', arg: '<n>', description: 'stride in frames (default half the window)', limits: [1, 2 ** 31 - 1] },
  { key: 'readTimeoutMs', flag: '--read_timeout', arg: '<ms>', description: 'stop a stream (or file) that gives no new frame for this long (default 30000)', limits: [1, 24 * 3600 * 1000] },
  { key: 'connectTimeoutMs', flag: '--connect_timeout', arg: '<ms>', description: 'stop an input that gives no first frame for this long: connecting, ffmpeg probing (default 30000)', limits: [1, 24 * 3600 * 1000] },
];

const TIMELINE_FLAG_OF: Record<string, string> = {
  ...Object.fromEntries([...TIMELINE_SECONDS_OPTIONS, ...TIMELINE_INT_OPTIONS].map((o) => [o.key, o.flag])),
  embedding: EMBEDDING_FLAG.flag,
};

/** camelCase timeline option -> the flag a CLI user typed. */
export function timelineFlagOf(key: string): string {
  return TIMELINE_FLAG_OF[key] ?? flagOf(key as keyof ClassifyOptions);
}

export interface TimelineValues {
  /** The flags shared with run (its --format is not: the timeline has its own formats). */
  readonly run: RunValues;
  readonly format: string | undefined;
  readonly windowSec: number | undefined;
  readonly strideSec: number | undefined;
  readonly windowFrames: number | undefined;
  readonly strideFrames: number | undefined;
  readonly readTimeoutMs: number | undefined;
  readonly connectTimeoutMs: number | undefined;
}

/** commander's raw `stnet timeline` options -> typed values (the timeline checks the combinations). */
export function toTimelineValues(raw: Record<string, unknown>): TimelineValues {
  const { format, ...rest } = raw;
  const run = toRunValues(rest);
  const secs: Partial<Record<'windowSec' | 'strideSec', number>> = {};
  for (const spec of TIMELINE_SECONDS_OPTIONS) {
    const v = raw[attrOf(spec.flag)];
    if (v === undefined) continue;
    const s = String(v).trim();
    const n = Number(s);
    if (s === '' || !/^[+]?(\d+\.?\d*|\.\d+)$/.test(s) || !(n > 0)) throw invalidOption(spec.flag, 'positive number of seconds', String(v));
    secs[spec.key] = n;
  }
  const ints: Partial<Record<'windowFrames' | 'strideFrames' | 'readTimeoutMs' | 'connectTimeoutMs', number>> = {};
  for (const spec of TIMELINE_INT_OPTIONS) {
    const v = raw[attrOf(spec.flag)];
    if (v !== undefined) ints[spec.key] = parseIntFlag(spec, String(v));
  }
  return { run, format: format === undefined ? undefined : String(format), windowSec: secs.windowSec, strideSec: secs.strideSec, windowFrames: ints.windowFrames, strideFrames: ints.strideFrames, readTimeoutMs: ints.readTimeoutMs, connectTimeoutMs: ints.connectTimeoutMs };
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
    ...(raw.use_gpu === true ? { useGpu: true } : {}),
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

// ---------------------------------------------------------------- queue commands (stnet worker, submit, status, results)

export const STATUS_FORMATS = ['text', 'json'] as const;
export type StatusFormat = (typeof STATUS_FORMATS)[number];

type QueueIntKey = 'concurrency' | 'lockDurationMs' | 'stalledIntervalMs' | 'maxStalledCount' | 'maxDownloadMb' | 'priority' | 'attempts';

type QueueIntSpec = IntSpec<QueueIntKey>;

/** Integer flags of `stnet worker` (the first five) and `stnet submit` (priority, attempts), in help order. */
export const QUEUE_INT_OPTIONS: readonly QueueIntSpec[] = [
  { key: 'concurrency', flag: '--concurrency', arg: '<n>', description: `videos one worker runs at once (default ${WORKER_DEFAULTS.concurrency}; 2 overlaps one video's decode with another's inference)`, limits: WORKER_LIMITS.concurrency },
  { key: 'lockDurationMs', flag: '--lock_ms', arg: '<ms>', description: `job lock, renewed every half of it; a dead worker's video goes back after it expires (default ${WORKER_DEFAULTS.lockDurationMs})`, limits: WORKER_LIMITS.lockDurationMs },
  { key: 'stalledIntervalMs', flag: '--stalled_ms', arg: '<ms>', description: `how often expired locks are looked for (default ${WORKER_DEFAULTS.stalledIntervalMs})`, limits: WORKER_LIMITS.stalledIntervalMs },
  { key: 'maxStalledCount', flag: '--max_stalled', arg: '<n>', description: `times a video may lose its worker before it fails with E_QUEUE_STALLED (default ${WORKER_DEFAULTS.maxStalledCount})`, limits: WORKER_LIMITS.maxStalledCount },
  { key: 'maxDownloadMb', flag: '--max_download_mb', arg: '<mb>', description: `cap on one http(s) video the worker downloads, MiB (default ${WORKER_DEFAULTS.maxDownloadMb})`, limits: WORKER_LIMITS.maxDownloadMb },
  { key: 'priority', flag: '--priority', arg: '<n>', description: 'BullMQ priority, 1 = highest (default: none, which BullMQ runs before any prioritized job)', limits: PRIORITY_LIMITS },
  { key: 'attempts', flag: '--attempts', arg: '<n>', description: `tries per video for transient failures (default ${DEFAULT_ATTEMPTS}); a bad video fails at once`, limits: ATTEMPTS_LIMITS },
];

export const WORKER_INT_KEYS: readonly QueueIntKey[] = ['concurrency', 'lockDurationMs', 'stalledIntervalMs', 'maxStalledCount', 'maxDownloadMb'];
export const SUBMIT_INT_KEYS: readonly QueueIntKey[] = ['priority', 'attempts'];
export const QUEUE_DEFAULT_NAME = DEFAULT_QUEUE;

export interface QueueValues {
  readonly redis: string;
  readonly queue: string | undefined;
  readonly batch: string | undefined;
  readonly keep: string | undefined;
  readonly wait: boolean;
  readonly precision: string | undefined;
  readonly ints: Readonly<Partial<Record<QueueIntKey, number>>>;
}

/** commander's raw options of a queue command -> typed values (strings checked by src/queue when used). */
export function toQueueValues(raw: Record<string, unknown>): QueueValues {
  const ints: Partial<Record<QueueIntKey, number>> = {};
  for (const spec of QUEUE_INT_OPTIONS) {
    const v = raw[attrOf(spec.flag)];
    if (v !== undefined) ints[spec.key] = parseIntFlag(spec, String(v));
  }
  return {
    redis: String(raw.redis),
    queue: raw.queue as string | undefined,
    batch: raw.batch as string | undefined,
    keep: raw.keep as string | undefined,
    wait: raw.wait === true,
    precision: raw.precision as string | undefined,
    ints,
  };
}

export function checkFormat<T extends string>(value: unknown, allowed: readonly T[]): T | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    throw new StnetError('E_INVALID_OPTION', `Expected one of ${allowed.join(', ')} for --format but received ${JSON.stringify(value)}`);
  }
  return value as T;
}
