// runWorker: one model, loaded once through StNet.load, serving a BullMQ queue.
//
// Locks and stalls, chosen deliberately (docs/scale.md):
// - BullMQ renews a job's lock from this process's event loop every lockDuration/2. The forward pass runs
//   in onnxruntime's worker thread (src/graph/session.ts) and decoding in ffmpeg child processes, so the
//   loop stays free while a video is classified; the worker measures its event-loop delay and reports the
//   maximum (stats().maxEventLoopDelayMs) so this can be checked on a real machine.
// - lockDuration 60 s: a renewal may come up to 30 s late (a swapping or overloaded machine) before another
//   worker is allowed to take the job. stalledInterval 15 s: after a SIGKILL the job goes back to the queue
//   within lockDuration + stalledInterval = 75 s at most. maxStalledCount 2: a video whose worker dies
//   twice in a row (for example one that runs it out of memory) fails with E_QUEUE_STALLED instead of
//   taking down every worker in turn.
// - Deterministic failures (missing file, undecodable video, ...) fail at once (UnrecoverableError);
//   transient ones (onnxruntime, a download's 5xx, a decode timeout on a busy machine) retry up to the
//   job's attempts with exponential backoff.
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { UnrecoverableError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { VideoResult } from '../classify.js';
import { StnetError, checkInteger, invalidOption, isStnetError, type StnetErrorCode } from '../errors.js';
import { StNet, type StNetLoadOptions } from '../stnet.js';
import { openRedis, probeRedis } from './connection.js';
import { PermanentDownloadError, downloadVideo } from './download.js';
import { DEFAULT_QUEUE, WORKER_DEFAULTS, WORKER_LIMITS, checkQueueName, encodeFailure, isUrl, parseJobData, type JobData } from './jobs.js';

export { WORKER_DEFAULTS, WORKER_LIMITS };
import { KEY_PREFIX } from './submit.js';

/** Video errors that could pass on another try (the machine was busy); every other video error is final. */
const TRANSIENT_VIDEO_CODES: readonly StnetErrorCode[] = ['E_VIDEO_TIMEOUT'];

export type WorkerEvent =
  | { readonly type: 'ready'; readonly queue: string; readonly threads: number; readonly concurrency: number }
  | { readonly type: 'start'; readonly jobId: string; readonly path: string; readonly attempt: number }
  | { readonly type: 'done'; readonly jobId: string; readonly path: string; readonly ok: boolean; readonly ms: number; readonly code?: StnetErrorCode }
  | { readonly type: 'retry'; readonly jobId: string; readonly path: string; readonly message: string }
  | { readonly type: 'connection'; readonly message: string }
  /** BullMQ's worker errors, e.g. a lock lost to another worker after this one froze past lockDuration. */
  | { readonly type: 'warning'; readonly message: string };

export interface WorkerOptions {
  /** redis://host:port[/db] */
  redis: string;
  queue?: string;
  /** Jobs run at once by this worker (default 1): >1 overlaps one video's decode with another's inference. */
  concurrency?: number;
  /** Passed to StNet.load unchanged (weights, threads, useGpu, download options, ...). */
  load?: StNetLoadOptions;
  lockDurationMs?: number;
  stalledIntervalMs?: number;
  maxStalledCount?: number;
  /** Cap on a downloaded http(s) video, MiB (default 1024). */
  maxDownloadMb?: number;
  /** Progress and connection trouble (the library itself never logs). */
  onEvent?: (event: WorkerEvent) => void;
}

export interface WorkerStats {
  /** Jobs finished by this worker (done or failed for good). */
  readonly processed: number;
  readonly failed: number;
  /** Largest event-loop delay seen while running, ms: must stay well under lockDuration / 2. */
  readonly maxEventLoopDelayMs: number;
}

export interface QueueWorker {
  readonly queue: string;
  readonly model: StNet;
  /**
   * Stops taking jobs, lets the running ones finish (their results are stored), releases model and Redis.
   * To stop at once, end the process: its jobs go back to the queue when their locks expire.
   */
  close(): Promise<void>;
  stats(): WorkerStats;
}

interface ResolvedWorker {
  readonly redis: string;
  readonly queue: string;
  readonly concurrency: number;
  readonly lockDurationMs: number;
  readonly stalledIntervalMs: number;
  readonly maxStalledCount: number;
  readonly maxDownloadBytes: number;
}

export function checkWorkerOptions(opts: WorkerOptions): ResolvedWorker {
  if (typeof opts !== 'object' || opts === null) throw invalidOption('options', 'an object', opts);
  const int = (key: keyof typeof WORKER_LIMITS): number => {
    const v = opts[key];
    return v === undefined ? WORKER_DEFAULTS[key] : checkInteger(key, v, WORKER_LIMITS[key][0], WORKER_LIMITS[key][1]);
  };
  const lockDurationMs = int('lockDurationMs');
  return {
    redis: opts.redis,
    queue: checkQueueName(opts.queue ?? DEFAULT_QUEUE),
    concurrency: int('concurrency'),
    lockDurationMs,
    stalledIntervalMs: int('stalledIntervalMs'),
    maxStalledCount: int('maxStalledCount'),
    maxDownloadBytes: int('maxDownloadMb') * 1048576,
  };
}

/**
 * Loads the model once and starts taking jobs. Redis is checked first (E_QUEUE_UNREACHABLE within seconds,
 * before the model's load); once running, a Redis restart is waited out and the worker goes on.
 */
export async function runWorker(opts: WorkerOptions): Promise<QueueWorker> {
  const o = checkWorkerOptions(opts);
  const emit = opts.onEvent ?? (() => undefined);
  await probeRedis(o.redis);
  const model = await StNet.load(opts.load ?? {});
  let client: Redis | undefined;
  try {
    client = openRedis(o.redis, (message) => emit({ type: 'connection', message }));
    return startWorker(o, model, client, emit);
  } catch (err) {
    client?.disconnect();
    await model.close();
    throw err;
  }
}

function startWorker(o: ResolvedWorker, model: StNet, client: Redis, emit: (e: WorkerEvent) => void): QueueWorker {
  const delay = monitorEventLoopDelay({ resolution: 10 });
  delay.enable();
  let processed = 0;
  let failed = 0;
  const stop = new AbortController();
  /** When each running job started here (for the 'done' event's ms). */
  const started = new Map<string, number>();
  const elapsed = (id: string | undefined): number => {
    const t0 = started.get(id ?? '');
    started.delete(id ?? '');
    return t0 === undefined ? 0 : Math.round(performance.now() - t0);
  };

  const processor = async (job: Job<JobData>): Promise<VideoResult> => {
    let data: JobData;
    try {
      data = parseJobData(job.data);
    } catch (err) {
      throw new UnrecoverableError(encodeFailure('E_INVALID_OPTION', (err as Error).message));
    }
    started.set(job.id ?? '', performance.now());
    emit({ type: 'start', jobId: job.id ?? '', path: data.path, attempt: job.attemptsMade + 1 });
    let local = data.path;
    let remove: (() => Promise<void>) | undefined;
    try {
      if (isUrl(data.path)) {
        const d = await downloadVideo(data.path, o.maxDownloadBytes, stop.signal);
        local = d.file;
        remove = d.remove;
      }
      let result: VideoResult;
      try {
        [result] = (await model.classify([local], { ...data.options, signal: stop.signal })) as [VideoResult];
      } catch (err) {
        // The batch-level errors of classify (onnxruntime, ffmpeg missing): maybe this machine's problem, retry.
        throw new Error(encodeFailure(isStnetError(err) ? err.code : 'E_RUNTIME', (err as Error).message), { cause: err });
      }
      // Named as submitted (a URL, not the temp file).
      result = result.ok ? { ...result, path: data.path } : { ...result, path: data.path, error: { ...result.error, message: result.error.message.split(local).join(data.path) } };
      if (!result.ok) {
        const reason = encodeFailure(result.error.code, result.error.message);
        if (TRANSIENT_VIDEO_CODES.includes(result.error.code)) throw new Error(reason);
        throw new UnrecoverableError(reason);
      }
      return result;
    } catch (err) {
      if (err instanceof PermanentDownloadError) throw new UnrecoverableError(encodeFailure(err.code, err.message));
      if (err instanceof StnetError) throw new Error(encodeFailure(err.code, err.message), { cause: err });
      throw err;
    } finally {
      await remove?.();
    }
  };

  const worker = new Worker<JobData, VideoResult>(o.queue, processor, {
    connection: client,
    prefix: KEY_PREFIX,
    concurrency: o.concurrency,
    lockDuration: o.lockDurationMs,
    stalledInterval: o.stalledIntervalMs,
    maxStalledCount: o.maxStalledCount,
  });
  worker.on('error', (err) => emit({ type: 'warning', message: err.message }));
  worker.on('failed', (job, err) => {
    if (job === undefined) return;
    const path = (job.data as Partial<JobData>).path ?? '';
    const final = err instanceof UnrecoverableError || err.name === 'UnrecoverableError' || job.attemptsMade >= (job.opts.attempts ?? 1);
    if (final) {
      failed++;
      processed++;
      const code = /^(E_[A-Z0-9_]+):/.exec(err.message)?.[1] as StnetErrorCode | undefined;
      emit({ type: 'done', jobId: job.id ?? '', path, ok: false, ms: elapsed(job.id), ...(code !== undefined ? { code } : {}) });
    } else {
      started.delete(job.id ?? '');
      emit({ type: 'retry', jobId: job.id ?? '', path, message: err.message });
    }
  });
  // 'completed' fires only once BullMQ stored the result under this worker's lock: a worker that lost its
  // lock (another one took the video over) never reports it as done, so the done events count each video once.
  worker.on('completed', (job) => {
    processed++;
    emit({ type: 'done', jobId: job.id ?? '', path: job.data.path, ok: true, ms: elapsed(job.id) });
  });
  emit({ type: 'ready', queue: o.queue, threads: model.threads, concurrency: o.concurrency });

  let closing: Promise<void> | undefined;
  return {
    queue: o.queue,
    model,
    close() {
      // BullMQ's close() stops fetching and waits for the jobs in flight; their results are stored first.
      closing ??= (async () => {
        try {
          await worker.close();
        } finally {
          stop.abort(new Error('worker closed'));
          delay.disable();
          client.disconnect();
          await model.close();
        }
      })();
      return closing;
    },
    stats: () => ({ processed, failed, maxEventLoopDelayMs: Math.round(delay.max / 1e6) }),
  };
}
