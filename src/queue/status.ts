// batchStatus and batchResults: read a batch through its manifest (paths in input order) and each job's
// place in BullMQ's structures, with pipelined O(log n) commands per video (no scans of the queue):
// ZSCORE in the completed and failed sets, EXISTS on the job's lock (held while a worker runs it) and on
// the job itself. A job with none of these was removed by the retention (--keep).
import type { Redis } from 'ioredis';
import type { VideoResult } from '../classify.js';
import { StnetError, checkInteger } from '../errors.js';
import { openRedis, probeRedis } from './connection.js';
import { DEFAULT_QUEUE, batchKeys, checkBatchId, checkQueueName, failedResult, jobIdOf } from './jobs.js';
import { KEY_PREFIX } from './submit.js';

export interface BatchQuery {
  redis: string;
  queue?: string;
  batch: string;
}

/** `stnet status --format json` prints exactly these keys. */
export interface BatchStatus {
  readonly batch: string;
  readonly total: number;
  readonly done: number;
  readonly failed: number;
  /** Queued, delayed for a retry, or back in the queue after its worker died. */
  readonly waiting: number;
  /** Locked by a worker now. */
  readonly active: number;
}

export type JobState = 'done' | 'failed' | 'active' | 'waiting' | 'removed';

const CHUNK = 1000;

function checkQuery(q: BatchQuery): { redis: string; queue: string; batch: string } {
  return { redis: q.redis, queue: checkQueueName(q.queue ?? DEFAULT_QUEUE), batch: checkBatchId(q.batch) };
}

/** Runs `fn` with a client after a fast reachability check (E_QUEUE_UNREACHABLE within seconds). */
async function withClient<T>(url: string, fn: (client: Redis) => Promise<T>): Promise<T> {
  await probeRedis(url);
  const client = openRedis(url);
  try {
    return await fn(client);
  } finally {
    client.disconnect();
  }
}

/** The batch's paths in input order; E_INVALID_OPTION when Redis knows no such batch. */
export async function batchPaths(client: Redis, queue: string, batch: string): Promise<string[]> {
  const paths = await client.lrange(batchKeys(KEY_PREFIX, queue, batch).paths, 0, -1);
  if (paths.length === 0) {
    throw new StnetError('E_INVALID_OPTION', `no batch ${JSON.stringify(batch)} in queue ${JSON.stringify(queue)} (never submitted, or older than its --keep retention)`);
  }
  return paths;
}

interface Entry {
  readonly path: string;
  readonly state: JobState;
  readonly result?: VideoResult;
}

/** Each video's state, and with `withResults` its VideoResult when finished. */
export async function inspectBatch(client: Redis, queue: string, batch: string, withResults: boolean): Promise<Entry[]> {
  const paths = await batchPaths(client, queue, batch);
  const base = `${KEY_PREFIX}:${queue}`;
  const out: Entry[] = [];
  for (let i = 0; i < paths.length; i += CHUNK) {
    const chunk = paths.slice(i, i + CHUNK);
    const pipe = client.pipeline();
    for (const path of chunk) {
      const id = jobIdOf(batch, path);
      pipe.zscore(`${base}:completed`, id);
      pipe.zscore(`${base}:failed`, id);
      pipe.exists(`${base}:${id}:lock`);
      pipe.exists(`${base}:${id}`);
      if (withResults) pipe.hmget(`${base}:${id}`, 'returnvalue', 'failedReason');
    }
    const replies = (await pipe.exec()) ?? [];
    const per = withResults ? 5 : 4;
    chunk.forEach((path, j) => {
      const r = replies.slice(j * per, (j + 1) * per).map(([err, value]) => {
        if (err !== null) throw new StnetError('E_QUEUE_UNREACHABLE', `Redis refused a status read: ${err.message}`, { cause: err });
        return value;
      });
      const state: JobState = r[0] !== null ? 'done' : r[1] !== null ? 'failed' : r[2] === 1 ? 'active' : r[3] === 1 ? 'waiting' : 'removed';
      let result: VideoResult | undefined;
      if (withResults && (state === 'done' || state === 'failed')) {
        const [returnvalue, failedReason] = r[4] as [string | null, string | null];
        result = state === 'done' && returnvalue !== null ? { ...(JSON.parse(returnvalue) as VideoResult), path } : failedResult(path, failedReason ?? undefined);
      }
      out.push(result === undefined ? { path, state } : { path, state, result });
    });
  }
  return out;
}

export function countStates(batch: string, entries: readonly { state: JobState }[]): BatchStatus {
  const n = (s: JobState): number => entries.filter((e) => e.state === s).length;
  return { batch, total: entries.length, done: n('done'), failed: n('failed'), waiting: n('waiting'), active: n('active') };
}

/** Counts of a batch: `{ batch, total, done, failed, waiting, active }` (jobs removed by retention count in total only). */
export async function batchStatus(q: BatchQuery): Promise<BatchStatus> {
  const o = checkQuery(q);
  return withClient(o.redis, async (client) => countStates(o.batch, await inspectBatch(client, o.queue, o.batch, false)));
}

/** The finished videos (done or failed) of a batch, in input order, as `stnet run` reports them. */
export async function batchResults(q: BatchQuery): Promise<VideoResult[]> {
  const o = checkQuery(q);
  return withClient(o.redis, async (client) => {
    const entries = await inspectBatch(client, o.queue, o.batch, true);
    return entries.flatMap((e) => (e.result === undefined ? [] : [e.result]));
  });
}

/** Status and results in one read (submit --wait polls this). */
export async function batchSnapshot(client: Redis, queue: string, batch: string): Promise<{ status: BatchStatus; results: VideoResult[] }> {
  const entries = await inspectBatch(client, queue, batch, true);
  return { status: countStates(batch, entries), results: entries.flatMap((e) => (e.result === undefined ? [] : [e.result])) };
}

export interface WaitOptions extends BatchQuery {
  /** Poll period, ms (default 1000). Each poll costs about 4 Redis commands per video of the batch. */
  intervalMs?: number;
  onProgress?: (status: BatchStatus) => void;
  /** Aborting stops the wait with E_CANCELLED (the jobs go on). */
  signal?: AbortSignal;
}

/** Polls until no video of the batch is waiting or running, then returns its status and results. */
export async function waitForBatch(q: WaitOptions): Promise<{ status: BatchStatus; results: VideoResult[] }> {
  const o = checkQuery(q);
  const interval = q.intervalMs === undefined ? 1000 : checkInteger('intervalMs', q.intervalMs, 10);
  return withClient(o.redis, async (client) => {
    for (;;) {
      if (q.signal?.aborted) throw new StnetError('E_CANCELLED', `stopped waiting for batch ${o.batch} (its jobs go on; see stnet status)`, { cause: q.signal.reason });
      const status = countStates(o.batch, await inspectBatch(client, o.queue, o.batch, false));
      q.onProgress?.(status);
      if (status.waiting + status.active === 0) return batchSnapshot(client, o.queue, o.batch);
      await sleep(interval, q.signal);
    }
  });
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}
