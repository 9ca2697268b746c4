// What a queued job is: its data, its id, its batch's keys in Redis, and how a failure is written into
// BullMQ's failedReason and read back as a VideoResult. Pure except for hashing; shared by submit,
// worker and status so the three can never disagree on a key or an id.
import { createHash } from 'node:crypto';
import { isAbsolute, resolve } from 'node:path';
import { ERROR_CODES, StnetError, checkInteger, invalidOption, type StnetErrorCode } from '../errors.js';
import { validateClassifyOptions, type ClassifyOptions, type VideoResult } from '../classify.js';

/** Default BullMQ queue name (`--queue`). */
export const DEFAULT_QUEUE = 'stnet';
/** How long results (and failed jobs, and the batch's list of paths) stay in Redis: 7 days. */
export const DEFAULT_KEEP_SECONDS = 7 * 24 * 3600;
/** Tries per video for transient failures (worker died is counted by BullMQ's stall check separately). */
export const DEFAULT_ATTEMPTS = 3;
export const ATTEMPTS_LIMITS = [1, 100] as const;
/** BullMQ priorities: 1 is the highest; jobs without a priority go before all prioritized ones (BullMQ's rule). */
export const PRIORITY_LIMITS = [1, 2_097_152] as const;
/** First retry after this delay, then doubling (BullMQ exponential backoff). */
export const RETRY_BACKOFF_MS = 2000;

/** Worker settings (the reasons for these values: src/queue/worker.ts and docs/scale.md). */
export const WORKER_DEFAULTS = Object.freeze({
  concurrency: 1,
  lockDurationMs: 60_000,
  stalledIntervalMs: 15_000,
  maxStalledCount: 2,
  maxDownloadMb: 1024,
});

export const WORKER_LIMITS = Object.freeze({
  concurrency: [1, 64],
  lockDurationMs: [500, 3_600_000],
  stalledIntervalMs: [200, 3_600_000],
  maxStalledCount: [0, 100],
  maxDownloadMb: [1, 1024 * 1024],
} as const);

/** Per-video options carried in the job: what `model.classify` takes, minus callbacks. */
export type JobClassifyOptions = Omit<ClassifyOptions, 'onProgress' | 'signal'>;

/** The job's data in Redis. `v` lets a future format be told apart from this one. */
export interface JobData {
  readonly v: 1;
  readonly batch: string;
  /** Absolute path as the workers see it, or an http(s) URL. */
  readonly path: string;
  readonly options: JobClassifyOptions;
}

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** Queue names become Redis key parts: no ':' (BullMQ's separator), no spaces. */
export function checkQueueName(name: unknown, flag = 'queue'): string {
  if (typeof name !== 'string' || !NAME_RE.test(name)) throw invalidOption(flag, 'a queue name of letters, digits, ".", "_" or "-" (at most 128)', name);
  return name;
}

export function checkBatchId(batch: unknown, flag = 'batch'): string {
  if (typeof batch !== 'string' || !NAME_RE.test(batch)) throw invalidOption(flag, 'a batch id of letters, digits, ".", "_" or "-" (at most 128, not starting with a symbol)', batch);
  return batch;
}

export function isUrl(path: string): boolean {
  return /^https?:\/\//i.test(path);
}

/** Paths are made absolute at submit time (workers run elsewhere); http(s) URLs are kept as they are. */
export function toJobPath(path: string, cwd: string): string {
  if (isUrl(path)) {
    try {
      return new URL(path).toString();
    } catch {
      throw invalidOption('path', 'an http(s) URL', path);
    }
  }
  return isAbsolute(path) ? resolve(path) : resolve(cwd, path);
}

/**
 * The job id of (batch, path): the same list submitted again maps to the same ids, and BullMQ adds nothing
 * for an id it already holds. Hashed because paths may hold ':' and any length; the batch is kept readable.
 */
export function jobIdOf(batch: string, path: string): string {
  const hash = createHash('sha256').update(batch).update('\0').update(path).digest('hex').slice(0, 32);
  return `${batch}.${hash}`;
}

/** Checks the per-video options once (submit) and again in the worker (job data is input from the network). */
export function checkJobOptions(options: unknown, name?: (k: keyof ClassifyOptions) => string): JobClassifyOptions {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) throw invalidOption('options', 'an object', options);
  const o = options as Record<string, unknown>;
  if (o.onProgress !== undefined || o.signal !== undefined) throw invalidOption('options', 'no onProgress or signal (they cannot travel through Redis)', 'a callback');
  validateClassifyOptions(o as ClassifyOptions, name);
  return o as JobClassifyOptions;
}

export function parseJobData(data: unknown): JobData {
  const d = data as Partial<JobData> | null;
  if (d === null || typeof d !== 'object' || d.v !== 1 || typeof d.path !== 'string' || d.path === '' || typeof d.batch !== 'string') {
    throw new StnetError('E_INVALID_OPTION', `a queued job has data this version of stnet cannot read: ${JSON.stringify(data)?.slice(0, 200)}`);
  }
  return { v: 1, batch: d.batch, path: d.path, options: checkJobOptions(d.options ?? {}) };
}

/** Keys of a batch's manifest (its paths in input order). The hash tag keeps both in one Redis Cluster slot. */
export function batchKeys(prefix: string, queue: string, batch: string): { paths: string; members: string } {
  const base = `${prefix}:${queue}:stnet-batch:{${batch}}`;
  return { paths: `${base}:paths`, members: `${base}:members` };
}

/** `--keep`: seconds, or a number with s, m, h or d. */
export function parseKeep(value: unknown, flag = 'keep'): number {
  if (typeof value === 'number') return checkInteger(flag, value, 60);
  const m = typeof value === 'string' ? /^\s*(\d+)\s*([smhd]?)\s*$/.exec(value) : null;
  if (m === null) throw invalidOption(flag, 'a duration such as 3600, 90m, 12h or 7d (at least 60 s)', value);
  const seconds = Number(m[1]) * { '': 1, s: 1, m: 60, h: 3600, d: 86400 }[m[2] as '' | 's' | 'm' | 'h' | 'd'];
  return checkInteger(flag, seconds, 60, 10 * 365 * 86400);
}

// --- failures: BullMQ keeps one string (failedReason); ours starts with the stable code.

export function encodeFailure(code: StnetErrorCode, message: string): string {
  return `${code}: ${message}`;
}

/** failedReason -> the error of a `{ ok: false }` VideoResult. Reasons BullMQ wrote itself get a code too. */
export function decodeFailure(reason: string | undefined): { code: StnetErrorCode; message: string } {
  const text = reason ?? '';
  const m = /^(E_[A-Z0-9_]+): ([\s\S]*)$/.exec(text);
  if (m !== null && m[1]! in ERROR_CODES) return { code: m[1] as StnetErrorCode, message: m[2]! };
  if (/stalled more than allowable limit/i.test(text)) {
    return { code: 'E_QUEUE_STALLED', message: `the workers that took this video died or froze too many times (BullMQ: ${text})` };
  }
  return { code: 'E_RUNTIME', message: text === '' ? 'the job failed without a reason' : text };
}

export function failedResult(path: string, reason: string | undefined): VideoResult {
  return { path, ok: false, error: decodeFailure(reason) };
}
