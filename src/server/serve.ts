// `stnet serve`: load the model workers, listen, and stop gracefully on SIGINT/SIGTERM.
//
// Workers: N separate loaded models, each with its own onnxruntime session and `threads` intra-op
// threads (default cores / workers), rather than one model running N requests at once. A shared session
// would share one intra-op thread pool between concurrent runs (they would contend instead of each
// getting its cores), and one worker = one model makes "a worker is busy" a plain fact the queue can
// count. The cost is memory: each worker holds its own session and copy of the weights (about 350 MiB
// RSS per extra worker, measured with the golden weights; docs/server.md).
import { availableParallelism } from 'node:os';
import type { FastifyInstance } from 'fastify';
import { envToken } from '../env.js';
import { StnetError, checkInteger, checkKnownKeys, invalidOption } from '../errors.js';
import { MAX_THREADS, PRECISIONS, loadStnetModels, type Precision } from '../stnet.js';
import { SERVER_DEFAULTS, abortInFlight, buildServer, serverInfo, shutdownServer } from './app.js';
import type { TimelineOptions } from '../timeline/types.js';
import type { ServerClassifier, ServerVideoResult, ServerWindowResult } from './classifier.js';

/** The part of a loaded StNet model the server uses (`model.classify(paths, opts)` -> VideoResult[]). */
export interface ClassifyingModel {
  classify(
    paths: readonly string[],
    opts: { topK?: number; segNum?: number; shortSize?: number; targetSize?: number; signal?: AbortSignal },
  ): Promise<readonly ServerVideoResult[]>;
  /** model.timeline (StNet has it); without it the worker serves no timelines. */
  timeline?(input: string, opts: TimelineOptions): AsyncIterable<ServerWindowResult>;
  close(): Promise<void>;
}

export interface ModelWorkerDefaults {
  /** Applied when a request gives no seg_num. */
  segNum?: number;
  shortSize?: number;
  targetSize?: number;
}

/** Adapts a loaded model to the server's one-video-per-call worker interface. */
export function modelWorker(model: ClassifyingModel, defaults: ModelWorkerDefaults = {}): ServerClassifier {
  return {
    async classify(path, opts) {
      const segNum = opts.segNum ?? defaults.segNum;
      const [result] = await model.classify([path], {
        topK: opts.topK,
        signal: opts.signal,
        ...(segNum !== undefined ? { segNum } : {}),
        ...(defaults.shortSize !== undefined ? { shortSize: defaults.shortSize } : {}),
        ...(defaults.targetSize !== undefined ? { targetSize: defaults.targetSize } : {}),
      });
      if (result === undefined) throw new StnetError('E_RUNTIME', 'internal error: the model returned no result for the video');
      return result;
    },
    ...(model.timeline !== undefined
      ? {
          timeline: (path: string, opts) => {
            const segNum = opts.segNum ?? defaults.segNum;
            const { windowSec, strideSec, windowFrames, strideFrames } = opts;
            return model.timeline!(path, {
              topK: opts.topK,
              signal: opts.signal,
              ...(segNum !== undefined ? { segNum } : {}),
              ...(defaults.shortSize !== undefined ? { shortSize: defaults.shortSize } : {}),
              ...(defaults.targetSize !== undefined ? { targetSize: defaults.targetSize } : {}),
              ...(windowSec !== undefined ? { windowSec } : {}),
              ...(strideSec !== undefined ? { strideSec } : {}),
              ...(windowFrames !== undefined ? { windowFrames } : {}),
              ...(strideFrames !== undefined ? { strideFrames } : {}),
            });
          },
        }
      : {}),
    close: () => model.close(),
  };
}

export interface ServeOptions {
  /** Default 127.0.0.1 (this machine only). */
  host?: string;
  /** Default 8866 (PaddleHub serving's port); 0 picks a free port. */
  port?: number;
  /** Weights path (file, folder or archive); default STNET_WEIGHTS / the cached official weights. */
  weights?: string;
  /** Model workers. Default one per 2 cores (at least 1). */
  workers?: number;
  /** onnxruntime threads per worker. Default cores / workers (at least 1). */
  threads?: number;
  /** Upload limit in MiB. Default 512. */
  maxUploadMb?: number;
  /** Requests allowed to wait for a worker. Default 2 x workers. */
  maxQueue?: number;
  /** Bearer token; default STNET_TOKEN when set, else no auth. */
  token?: string;
  /** In-flight work may finish for this long after SIGINT/SIGTERM; then it is cancelled. Default 10000. */
  shutdownGraceMs?: number;
  /** fastify's JSON request log on stderr. */
  log?: boolean;
  /** Defaults for each video (seg_num etc.), e.g. smaller inputs for tests. */
  classifyDefaults?: ModelWorkerDefaults;
  /** Progress and status lines (default: stderr). The library itself never writes to stdout. */
  onMessage?: (line: string) => void;
  /** 'fp32' (default) or 'int8' (the quantized graph, built once for all workers; see docs/model.md "int8"). */
  precision?: Precision;
  /** Run the workers on onnxruntime's CUDA provider (as StNet.load's useGpu). Default false. */
  useGpu?: boolean;
}

/** How to load the model workers (default: stnetWorkers; tests may pass fakes). */
export type WorkersLoader = (opts: {
  count: number;
  weights: string | undefined;
  threads: number;
  onMessage: (line: string) => void;
  precision?: Precision;
  useGpu?: boolean;
}) => Promise<ServerClassifier[]>;

/**
 * Loads `count` StNet workers through the core's one loading path (loadStnetModels: the graph cache, else the
 * weights parsed and the graph built once; each worker its own onnxruntime session with `threads` threads), with
 * StNet.load's graph-cache defaults (STNET_GRAPH_CACHE=1 keeps the graph for explicit weights too). `useGpu` is
 * passed on when the loader's caller gives it.
 */
export function stnetWorkers(defaults: ModelWorkerDefaults = {}): WorkersLoader {
  return async (opts) => {
    const { count, weights, threads, onMessage, precision, useGpu } = opts;
    if (precision === 'int8') onMessage('stnet serve: int8 graph (quantized once and cached, calibrated on the bundled example clip)');
    const models = await loadStnetModels(
      { ...(weights !== undefined ? { weights } : {}), threads, useGpu: useGpu === true, ...(precision !== undefined ? { precision } : {}) },
      count,
      {
        onModel: (m) => onMessage(`stnet serve: ${m.graph === 'cache' ? 'cached graph for' : 'built the graph from'} weights ${m.weightsPath ?? ''}`),
        onSession: (i) => onMessage(`stnet serve: starting model worker ${i + 1}/${count} (${threads} thread${threads === 1 ? '' : 's'})`),
      },
    );
    return models.map((model) => modelWorker(model, defaults));
  };
}

export interface RunningServer {
  readonly app: FastifyInstance;
  /** e.g. http://127.0.0.1:8866 */
  readonly url: string;
  readonly workers: number;
  readonly threads: number;
  /** Graceful stop (see shutdownServer); idempotent. */
  close(graceMs?: number): Promise<void>;
}

export const SERVE_DEFAULTS = Object.freeze({ host: '127.0.0.1', port: 8866, maxUploadMb: 512 });

export interface ResolvedServeOptions {
  host: string;
  port: number;
  workers: number;
  threads: number;
  maxUploadBytes: number;
  maxQueue: number;
  token: string | undefined;
  shutdownGraceMs: number;
}

/** Validates every option before any model is loaded, and fills the defaults. */
export function resolveServeOptions(opts: ServeOptions, cores = availableParallelism()): ResolvedServeOptions {
  const known = ['host', 'port', 'weights', 'workers', 'threads', 'maxUploadMb', 'maxQueue', 'token', 'shutdownGraceMs', 'log', 'classifyDefaults', 'onMessage', 'precision', 'useGpu'];
  checkKnownKeys(opts, known, 'serve option');
  const host = opts.host ?? SERVE_DEFAULTS.host;
  if (typeof host !== 'string' || host.trim() === '') throw invalidOption('host', 'host name or IP address', host);
  const port = checkInteger('port', opts.port ?? SERVE_DEFAULTS.port, 0, 65535);
  const workers = checkInteger('workers', opts.workers ?? Math.max(1, Math.floor(cores / 2)), 1, 256);
  const threads = checkInteger('threads', opts.threads ?? Math.max(1, Math.floor(cores / workers)), 1, MAX_THREADS);
  const maxUploadMb = opts.maxUploadMb ?? SERVE_DEFAULTS.maxUploadMb;
  if (typeof maxUploadMb !== 'number' || !Number.isFinite(maxUploadMb) || maxUploadMb <= 0) throw invalidOption('maxUploadMb', 'positive number of MiB', maxUploadMb);
  const maxQueue = checkInteger('maxQueue', opts.maxQueue ?? 2 * workers, 0, 100_000);
  const token = opts.token ?? envToken();
  if (token !== undefined && (typeof token !== 'string' || token.length < 1)) throw invalidOption('token', 'non-empty string', token);
  const shutdownGraceMs = checkInteger('shutdownGraceMs', opts.shutdownGraceMs ?? SERVER_DEFAULTS.shutdownGraceMs, 0);
  if (opts.precision !== undefined && !PRECISIONS.includes(opts.precision)) throw invalidOption('precision', PRECISIONS.map((p) => JSON.stringify(p)).join(' or '), opts.precision);
  if (opts.useGpu !== undefined && typeof opts.useGpu !== 'boolean') throw invalidOption('useGpu', 'a boolean', opts.useGpu);
  return { host, port, workers, threads, maxUploadBytes: Math.floor(maxUploadMb * 1024 * 1024), maxQueue, token, shutdownGraceMs };
}

/** Loads the workers, builds the app and listens. Does not install signal handlers (serveCommand does). */
export async function startServer(opts: ServeOptions, loadWorkers: WorkersLoader = stnetWorkers(opts.classifyDefaults)): Promise<RunningServer> {
  const r = resolveServeOptions(opts);
  const say = opts.onMessage ?? ((line: string) => process.stderr.write(`${line}\n`));
  const loaded = await loadWorkers({
    count: r.workers,
    weights: opts.weights,
    threads: r.threads,
    onMessage: say,
    ...(opts.precision !== undefined ? { precision: opts.precision } : {}),
    ...(opts.useGpu !== undefined ? { useGpu: opts.useGpu } : {}),
  });
  let app: FastifyInstance | undefined;
  try {
    app = await buildServer({
      workers: loaded,
      maxQueue: r.maxQueue,
      maxUploadBytes: r.maxUploadBytes,
      shutdownGraceMs: r.shutdownGraceMs,
      ...(r.token !== undefined ? { token: r.token } : {}),
      ...(opts.log !== undefined ? { log: opts.log } : {}),
    });
    await app.listen({ host: r.host, port: r.port });
  } catch (err) {
    // Closing the app runs its onClose hook: workers closed and the upload temp dir removed.
    if (app !== undefined) await app.close().catch(() => undefined);
    else await Promise.allSettled(loaded.map((w) => w.close()));
    const e = err as { code?: unknown; message?: unknown };
    if (e.code === 'EADDRINUSE' || e.code === 'EACCES' || e.code === 'EADDRNOTAVAIL') {
      throw new StnetError('E_INVALID_OPTION', `Cannot listen on ${r.host}:${r.port} (${String(e.code)}): choose another --port or --host`, { cause: err });
    }
    throw err;
  }
  const started = app!;
  const address = started.server.address();
  const port = typeof address === 'object' && address !== null ? address.port : r.port;
  const shownHost = r.host.includes(':') ? `[${r.host}]` : r.host;
  let closing: Promise<void> | undefined;
  return {
    app: started,
    url: `http://${shownHost}:${port}`,
    workers: r.workers,
    threads: r.threads,
    close: (graceMs) => (closing ??= shutdownServer(started, graceMs)),
  };
}

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

/**
 * The `stnet serve` command: starts the server, then waits for SIGINT/SIGTERM and stops gracefully
 * (a second signal cancels in-flight work at once). Resolves with the first signal once everything is
 * closed (the CLI exits 130 after SIGINT, 0 after SIGTERM).
 */
export async function serveCommand(opts: ServeOptions, loadWorkers?: WorkersLoader): Promise<NodeJS.Signals> {
  const say = opts.onMessage ?? ((line: string) => process.stderr.write(`${line}\n`));
  const server = await startServer({ ...opts, onMessage: say }, loadWorkers);
  const info = serverInfo(server.app);
  const r = resolveServeOptions(opts);
  say(
    `stnet serve: listening on ${server.url} (${server.workers} worker${server.workers === 1 ? '' : 's'} x ${server.threads} thread${server.threads === 1 ? '' : 's'}, ` +
      `${info?.capacity ?? '?'} request slots, upload limit ${(r.maxUploadBytes / 1048576).toFixed(0)} MiB, ${r.token !== undefined ? 'token required' : 'no token'})`,
  );
  if (!LOOPBACK.has(r.host) && r.token === undefined) {
    say(`stnet serve: warning: listening on ${r.host} without --token: anyone who can reach this port can use the service`);
  }
  return new Promise<NodeJS.Signals>((resolve, reject) => {
    let first: NodeJS.Signals | undefined;
    const onSignal = (sig: NodeJS.Signals): void => {
      if (first === undefined) {
        first = sig;
        say(`stnet serve: ${sig}: finishing in-flight requests (up to ${r.shutdownGraceMs} ms), then stopping; send it again to cancel them now`);
        server.close().then(
          () => {
            process.off('SIGINT', onSignal);
            process.off('SIGTERM', onSignal);
            say('stnet serve: stopped');
            resolve(sig);
          },
          (err: unknown) => {
            process.off('SIGINT', onSignal);
            process.off('SIGTERM', onSignal);
            reject(err instanceof Error ? err : new Error(String(err)));
          },
        );
      } else {
        say(`stnet serve: ${sig} again: cancelling in-flight requests`);
        // The running close() finishes as soon as the cancelled requests have answered.
        abortInFlight(server.app);
      }
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}
