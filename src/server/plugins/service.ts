// The service's state and lifecycle: the work queue in front of the model workers, the metrics, the
// shutdown signal, and the hooks that count responses, cancel the jobs of clients that left, refuse new
// work while closing and release the workers at the end. Per-request state is `request.job`.
import { setMaxListeners } from 'node:events';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { CLASSIFY_DEFAULTS, CLASSIFY_LIMITS } from '../../classify.js';
import { StnetError, checkInteger, invalidOption } from '../../errors.js';
import type { ServerClassifier } from '../classifier.js';
import { ServerMetrics } from '../metrics.js';
import { WorkQueue, type Slot } from '../queue.js';
import { HttpError } from './errors.js';

export const SERVICE_DEFAULTS = Object.freeze({ topK: CLASSIFY_DEFAULTS.topK, shutdownGraceMs: 10_000 });

export interface ServiceOptions {
  /** One entry per worker; each runs one video at a time. The server closes them at shutdown. */
  workers: readonly ServerClassifier[];
  /** Uploaded (or uploading) videos allowed to wait while every worker is busy. Default 2 x workers. */
  maxQueue?: number | undefined;
  /** Default `top_k` when the request gives none. Default 5. */
  topK?: number | undefined;
  /** Default grace for shutdownServer(): in-flight work may finish for this long, then it is cancelled. */
  shutdownGraceMs?: number | undefined;
}

export interface Service {
  readonly queue: WorkQueue<ServerClassifier>;
  readonly metrics: ServerMetrics;
  readonly topK: number;
  readonly shutdownGraceMs: number;
  /** True from the start of a close: new requests get 503. */
  readonly closing: boolean;
  /** Refuse new work from now on (a close has begun). */
  beginClose(): void;
  /**
   * Cancels every queued or running job now (end of the grace period, or a second signal): their requests
   * answer 503 E_CANCELLED at once and ffmpeg is killed (a forward pass already running still ends first).
   */
  cancelAll(): void;
  /** Takes a queue slot for this request (429 when none is free) and makes `request.job`. */
  admit(request: FastifyRequest, reply: FastifyReply): void;
}

/** What a classification request holds between its admission and its reply. */
export interface Job {
  /** Aborted by a client disconnect or by the service's cancelAll(). */
  readonly signal: AbortSignal;
  /** Gives back the slot and stops listening for shutdown; idempotent. */
  readonly done: () => void;
  readonly abort: (reason: StnetError) => void;
}

declare module 'fastify' {
  interface FastifyInstance {
    readonly stnet: Service;
  }
  interface FastifyRequest {
    /** Set once a classification request was admitted to the queue. */
    job: Job | null;
  }
}

const SHUTDOWN_REASON = 'The server shut down before this video was classified: retry later';
const CLIENT_GONE = 'The client disconnected before its video was classified';

async function servicePlugin(app: FastifyInstance, opts: ServiceOptions): Promise<void> {
  if (!Array.isArray(opts.workers) || opts.workers.length === 0) throw invalidOption('workers', 'non-empty array of classifiers', opts.workers);
  const maxQueue = checkInteger('maxQueue', opts.maxQueue ?? 2 * opts.workers.length, 0, 100_000);
  const topK = checkInteger('topK', opts.topK ?? SERVICE_DEFAULTS.topK, ...CLASSIFY_LIMITS.topK);
  const shutdownGraceMs = checkInteger('shutdownGraceMs', opts.shutdownGraceMs ?? SERVICE_DEFAULTS.shutdownGraceMs, 0);
  const queue = new WorkQueue(opts.workers, maxQueue);
  const metrics = new ServerMetrics();
  // Aborted by cancelAll(): every admitted request listens on it (removed when it ends), so more than
  // Node's default of 10 listeners at once is normal, not a leak.
  const shutdown = new AbortController();
  setMaxListeners(0, shutdown.signal);
  let closing = false;

  const service: Service = {
    queue,
    metrics,
    topK,
    shutdownGraceMs,
    get closing() {
      return closing;
    },
    beginClose: () => {
      closing = true;
    },
    cancelAll: () => {
      if (shutdown.signal.aborted) return;
      // Queued jobs leave the queue and decodes are killed; a job inside onnxruntime answers at once, but its
      // forward pass runs to its end: onnxruntime-node cannot stop a run, and terminating its worker thread
      // mid-run aborts the whole process (SIGABRT, seen with onnxruntime-node 1.30). The worker is only
      // reused, or closed, after that pass.
      shutdown.abort(new StnetError('E_CANCELLED', SHUTDOWN_REASON));
    },
    admit: (request, reply) => {
      const slot: Slot | undefined = queue.tryAdmit();
      if (slot === undefined) {
        metrics.rejected.inc();
        const retry = queue.retryAfterSeconds();
        throw new HttpError(429, 'E_HTTP', `All ${queue.stats().capacity} request slots are taken (every worker busy and the queue full): retry after ${retry} s`, {
          'retry-after': String(retry),
        });
      }
      // One controller per request, fed by the shutdown signal through a listener removed when the
      // request ends (rather than AbortSignal.any, whose composite signals pile up on the long-lived one).
      const controller = new AbortController();
      const onShutdown = (): void => controller.abort(shutdown.signal.reason);
      if (shutdown.signal.aborted) onShutdown();
      else shutdown.signal.addEventListener('abort', onShutdown, { once: true });
      request.job = {
        signal: controller.signal,
        abort: (reason) => controller.abort(reason),
        done: () => {
          shutdown.signal.removeEventListener('abort', onShutdown);
          slot.release();
        },
      };
      // 'close' also fires after a normal response; only an unfinished one means the client went away.
      reply.raw.on('close', () => {
        if (!reply.raw.writableFinished) controller.abort(new StnetError('E_CANCELLED', CLIENT_GONE));
      });
    },
  };
  app.decorate('stnet', service);
  app.decorateRequest('job', null);

  app.addHook('onRequest', async (request, reply) => {
    void reply.header('x-content-type-options', 'nosniff').header('referrer-policy', 'no-referrer');
    if (closing && request.url.split('?')[0] !== '/healthz') {
      throw new HttpError(503, 'E_HTTP', 'The server is shutting down and takes no new requests: retry in a moment or against another instance');
    }
  });
  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    metrics.requests.inc({ route, method: request.method, status: String(reply.statusCode) });
    metrics.latency.observe({ route }, reply.elapsedTime / 1000);
    request.job?.done();
  });
  // Also covers a client that left before its handler ran (then no 'close' listener decides).
  app.addHook('onRequestAbort', async (request) => {
    request.job?.abort(new StnetError('E_CANCELLED', CLIENT_GONE));
  });
  // Stop taking work as soon as a close begins (fastify runs preClose before closing the listener).
  app.addHook('preClose', async () => {
    closing = true;
  });
  // Runs after the listener closed and every connection ended: release the models.
  app.addHook('onClose', async () => {
    closing = true;
    // Every request has answered by now, but a model run may still be finishing: wait for it, within reason.
    await Promise.race([queue.whenIdle(), new Promise((r) => setTimeout(r, 60_000).unref())]);
    await Promise.allSettled(queue.workers.map((w) => w.close()));
  });
}

export default fp(servicePlugin, { name: 'stnet-service', fastify: '5.x' });
