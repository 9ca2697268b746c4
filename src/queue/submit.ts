// submitBatch: one BullMQ job per video, id derived from (batch, path), plus the batch's manifest (its
// paths in input order) so status and results can be listed without scanning the queue.
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { checkInteger, invalidOption } from '../errors.js';
import { validatePaths } from '../classify.js';
import { openRedis, probeRedis } from './connection.js';
import {
  ATTEMPTS_LIMITS,
  DEFAULT_ATTEMPTS,
  DEFAULT_KEEP_SECONDS,
  DEFAULT_QUEUE,
  PRIORITY_LIMITS,
  RETRY_BACKOFF_MS,
  batchKeys,
  checkBatchId,
  checkJobOptions,
  checkQueueName,
  jobIdOf,
  parseKeep,
  toJobPath,
  type JobClassifyOptions,
  type JobData,
} from './jobs.js';

/** BullMQ's default key prefix; every stnet key of a queue lives under `bull:<queue>:`. */
export const KEY_PREFIX = 'bull';
/** Jobs (and manifest entries) sent per round trip. */
const CHUNK = 500;

export interface SubmitOptions {
  /** redis://host:port[/db] */
  redis: string;
  queue?: string;
  batch: string;
  /** Videos: file paths (made absolute against `cwd`) or http(s) URLs. */
  paths: readonly string[];
  /** Base for relative paths (default process.cwd()). */
  cwd?: string;
  /** What each worker passes to model.classify (topK, segNum, shortSize, targetSize, ...). */
  options?: JobClassifyOptions;
  /** BullMQ priority, 1 (highest) .. 2097152. Default: none (before all prioritized jobs). */
  priority?: number;
  /** Tries for transient failures (default 3). Deterministic failures (a bad video) never retry. */
  attempts?: number;
  /** Seconds (or "7d", "12h") results stay in Redis; default 7 days. */
  keep?: number | string;
}

export interface SubmitResult {
  readonly batch: string;
  readonly queue: string;
  /** Distinct videos in the batch after this call. */
  readonly total: number;
  /** Videos this call added (0 when the same list was submitted before). */
  readonly added: number;
  /** The job paths in input order (absolute or URL), as results will name them. */
  readonly paths: readonly string[];
}

// Adds each path not yet in the batch to its ordered list, atomically, and returns how many were new.
const REGISTER_PATHS = `
local added = 0
for i = 1, #ARGV - 1 do
  if redis.call('SADD', KEYS[2], ARGV[i]) == 1 then
    redis.call('RPUSH', KEYS[1], ARGV[i])
    added = added + 1
  end
end
local ttl = tonumber(ARGV[#ARGV])
redis.call('EXPIRE', KEYS[1], ttl)
redis.call('EXPIRE', KEYS[2], ttl)
return added
`;

export interface ResolvedSubmit {
  readonly redis: string;
  readonly queue: string;
  readonly batch: string;
  readonly paths: readonly string[];
  readonly options: JobClassifyOptions;
  readonly priority: number | undefined;
  readonly attempts: number;
  readonly keepSeconds: number;
}

/** Every option checked before Redis is contacted. */
export function checkSubmitOptions(opts: SubmitOptions): ResolvedSubmit {
  if (typeof opts !== 'object' || opts === null) throw invalidOption('options', 'an object', opts);
  const queue = checkQueueName(opts.queue ?? DEFAULT_QUEUE);
  const batch = checkBatchId(opts.batch);
  const cwd = opts.cwd ?? process.cwd();
  const list = validatePaths(opts.paths);
  if (list.length === 0) throw invalidOption('paths', 'at least one video', '[]');
  const paths = list.map((p) => toJobPath(p, cwd));
  return {
    redis: opts.redis,
    queue,
    batch,
    paths,
    options: checkJobOptions(opts.options ?? {}),
    priority: opts.priority === undefined ? undefined : checkInteger('priority', opts.priority, PRIORITY_LIMITS[0], PRIORITY_LIMITS[1]),
    attempts: opts.attempts === undefined ? DEFAULT_ATTEMPTS : checkInteger('attempts', opts.attempts, ATTEMPTS_LIMITS[0], ATTEMPTS_LIMITS[1]),
    keepSeconds: opts.keep === undefined ? DEFAULT_KEEP_SECONDS : parseKeep(opts.keep),
  };
}

/**
 * Queues one job per video. Submitting the same (batch, path) again adds nothing: the job id is derived
 * from both, and BullMQ ignores an add for an id it holds (done, failed, waiting or running).
 * Throws E_QUEUE_UNREACHABLE within a few seconds when Redis is not there.
 */
export async function submitBatch(opts: SubmitOptions): Promise<SubmitResult> {
  const o = checkSubmitOptions(opts);
  await probeRedis(o.redis);
  const client = openRedis(o.redis);
  const queue = new Queue<JobData>(o.queue, { connection: client, prefix: KEY_PREFIX });
  try {
    const added = await registerPaths(client, o);
    for (let i = 0; i < o.paths.length; i += CHUNK) {
      const chunk = o.paths.slice(i, i + CHUNK);
      await queue.addBulk(
        chunk.map((path) => ({
          name: 'classify',
          data: { v: 1, batch: o.batch, path, options: o.options },
          opts: {
            jobId: jobIdOf(o.batch, path),
            attempts: o.attempts,
            backoff: { type: 'exponential', delay: RETRY_BACKOFF_MS },
            ...(o.priority !== undefined ? { priority: o.priority } : {}),
            removeOnComplete: { age: o.keepSeconds },
            removeOnFail: { age: o.keepSeconds },
          },
        })),
      );
    }
    const total = await client.llen(batchKeys(KEY_PREFIX, o.queue, o.batch).paths);
    return { batch: o.batch, queue: o.queue, total, added, paths: dedupe(o.paths) };
  } finally {
    await queue.close();
    client.disconnect();
  }
}

async function registerPaths(client: Redis, o: ResolvedSubmit): Promise<number> {
  const keys = batchKeys(KEY_PREFIX, o.queue, o.batch);
  let added = 0;
  for (let i = 0; i < o.paths.length; i += CHUNK) {
    added += Number(await client.eval(REGISTER_PATHS, 2, keys.paths, keys.members, ...o.paths.slice(i, i + CHUNK), String(o.keepSeconds)));
  }
  return added;
}

function dedupe(paths: readonly string[]): string[] {
  return [...new Set(paths)];
}
