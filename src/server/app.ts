// The HTTP surface: `buildServer(opts)` returns a fastify app that is not listening yet (serve.ts
// listens and handles signals; tests use it with inject or on port 0).
//
// A classification request goes: auth -> option/content-type/size checks -> a queue slot (or 429) ->
// the body streamed to a private temp file (stopping at the upload limit) -> a free worker -> reply.
// Everything a request holds (slot, temp file, worker) is released in one `finally`, and a client that
// goes away aborts its job's signal, which stops a queued job at once and kills a running decode.
import { createHash, randomUUID, timingSafeEqual } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { createWriteStream } from 'node:fs';
import { chmod, lstat, mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import multipart from '@fastify/multipart';
import { CLASSIFY_DEFAULTS, CLASSIFY_LIMITS } from '../classify.js';
import { ERROR_CODES, StnetError, checkInteger, invalidOption, isStnetError, type StnetErrorCode } from '../errors.js';
import type { ServerClassifier, ServerVideoResult } from './classifier.js';
import { ServerMetrics, PROMETHEUS_CONTENT_TYPE } from './metrics.js';
import { PAGE_CSS, PAGE_HTML, PAGE_JS } from './page.js';
import { WorkQueue, cancelled, type QueueStats, type Slot } from './queue.js';

export const SERVER_DEFAULTS = Object.freeze({
  maxUploadBytes: 512 * 1024 * 1024,
  topK: CLASSIFY_DEFAULTS.topK,
  shutdownGraceMs: 10_000,
  uploadIdleMs: 30_000,
});

/** Bounds of the per-request options: the library's classify options, under their snake_case names. */
export const REQUEST_LIMITS = Object.freeze({ top_k: CLASSIFY_LIMITS.topK, seg_num: CLASSIFY_LIMITS.segNum });

export interface BuildServerOptions {
  /** One entry per worker; each runs one video at a time. The server closes them at shutdown. */
  workers: readonly ServerClassifier[];
  /** Uploaded (or uploading) videos allowed to wait while every worker is busy. Default 2 x workers. */
  maxQueue?: number;
  /** Upload limit in bytes; larger bodies get 413. Default 512 MiB. */
  maxUploadBytes?: number;
  /** When set, every classification and /metrics request needs `Authorization: Bearer <token>`. */
  token?: string;
  /** Folder in which the private upload dir is created. Default os.tmpdir(). */
  tempRoot?: string;
  /** Default `top_k` when the request gives none. Default 5. */
  topK?: number;
  /** fastify's request log (pino, JSON lines) to stderr. Default off: the library writes nothing. */
  log?: boolean;
  /** An upload that sends nothing for this long is dropped with 408 (frees its slot). Default 30000. */
  uploadIdleMs?: number;
  /** Default grace for shutdownServer(): in-flight work may finish for this long, then it is cancelled. */
  shutdownGraceMs?: number;
}

interface ServerState {
  readonly queue: WorkQueue<ServerClassifier>;
  readonly metrics: ServerMetrics;
  readonly tempDir: string;
  readonly maxUploadBytes: number;
  readonly token: Buffer | undefined;
  readonly topK: number;
  readonly shutdownGraceMs: number;
  readonly uploadIdleMs: number;
  /** Aborted when a shutdown's grace period is over: cancels every job still queued or running. */
  readonly shutdown: AbortController;
  closing: boolean;
}

interface RequestOptions {
  topK: number;
  segNum: number | undefined;
}

/** What a classification request holds between its checks (onRequest) and its handler. */
interface Job {
  readonly slot: Slot;
  readonly kind: 'raw' | 'multipart';
  readonly opts: RequestOptions;
  /** Aborted by a client disconnect or by the end of a shutdown's grace period. */
  readonly controller: AbortController;
  readonly signal: AbortSignal;
  /** Gives back the slot and stops listening for shutdown; idempotent. */
  readonly done: () => void;
}

const states = new WeakMap<FastifyInstance, ServerState>();
const jobs = new WeakMap<FastifyRequest, Job>();

/** An error answered with a given HTTP status (refusals before any classification happen). */
export class HttpError extends StnetError {
  readonly statusCode: number;
  readonly headers: Readonly<Record<string, string>>;
  constructor(statusCode: number, code: StnetErrorCode, message: string, headers: Record<string, string> = {}) {
    super(code, message);
    this.statusCode = statusCode;
    this.headers = headers;
  }
}

const TEMP_PREFIX = 'stnet-serve-';

/**
 * Removes upload dirs left by servers that were killed (SIGKILL, OOM, crash) before their own cleanup:
 * only `stnet-serve-<pid>-*` dirs of this user whose process no longer exists. Best effort: a dir it
 * cannot check or remove is left alone.
 */
export async function sweepStaleUploadDirs(root: string): Promise<string[]> {
  const removed: string[] = [];
  let names: string[];
  try {
    names = await readdir(root);
  } catch {
    return removed;
  }
  const uid = process.getuid?.();
  for (const name of names) {
    const m = new RegExp(`^${TEMP_PREFIX}(\\d+)-[A-Za-z0-9]{6}$`).exec(name);
    if (m === null) continue;
    const pid = Number(m[1]);
    if (pid === process.pid || processAlive(pid)) continue;
    const dir = join(root, name);
    try {
      const st = await lstat(dir);
      if (!st.isDirectory() || (uid !== undefined && st.uid !== uid)) continue;
      await rm(dir, { recursive: true, force: true });
      removed.push(dir);
    } catch {
      // Someone else's, or gone already.
    }
  }
  return removed;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to another user.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** HTTP status for a StnetError code from a classification: the video's fault -> 422, the caller's -> 400. */
export function statusForCode(code: string): number {
  if (code === 'E_INVALID_OPTION') return 400;
  if (code === 'E_CANCELLED' || code === 'E_MODEL_CLOSED') return 503;
  const info = (ERROR_CODES as Record<string, { kind: string } | undefined>)[code];
  if (info?.kind === 'input') return 422;
  return 500;
}

export async function buildServer(opts: BuildServerOptions): Promise<FastifyInstance> {
  if (!Array.isArray(opts.workers) || opts.workers.length === 0) throw invalidOption('workers', 'non-empty array of classifiers', opts.workers);
  const maxQueue = checkInteger('maxQueue', opts.maxQueue ?? 2 * opts.workers.length, 0, 100_000);
  const maxUploadBytes = checkInteger('maxUploadBytes', opts.maxUploadBytes ?? SERVER_DEFAULTS.maxUploadBytes, 1);
  const topK = checkInteger('topK', opts.topK ?? SERVER_DEFAULTS.topK, ...REQUEST_LIMITS.top_k);
  const shutdownGraceMs = checkInteger('shutdownGraceMs', opts.shutdownGraceMs ?? SERVER_DEFAULTS.shutdownGraceMs, 0);
  const uploadIdleMs = checkInteger('uploadIdleMs', opts.uploadIdleMs ?? SERVER_DEFAULTS.uploadIdleMs, 1);
  if (opts.token !== undefined && (typeof opts.token !== 'string' || opts.token.length === 0)) throw invalidOption('token', 'non-empty string', opts.token);

  // mkdtemp makes the dir 0700 already; chmod says so explicitly in case of an unusual umask/platform.
  const root = opts.tempRoot ?? tmpdir();
  await sweepStaleUploadDirs(root);
  // The pid in the name lets a later server remove this dir if this process dies without cleaning up.
  const tempDir = await mkdtemp(join(root, `${TEMP_PREFIX}${process.pid}-`));
  try {
    await chmod(tempDir, 0o700);
    return await createApp(opts, { tempDir, maxQueue, maxUploadBytes, topK, shutdownGraceMs, uploadIdleMs });
  } catch (err) {
    await rm(tempDir, { recursive: true, force: true });
    throw err;
  }
}

interface Checked {
  tempDir: string;
  maxQueue: number;
  maxUploadBytes: number;
  topK: number;
  shutdownGraceMs: number;
  uploadIdleMs: number;
}

async function createApp(opts: BuildServerOptions, { tempDir, maxQueue, maxUploadBytes, topK, shutdownGraceMs, uploadIdleMs }: Checked): Promise<FastifyInstance> {

  const state: ServerState = {
    queue: new WorkQueue(opts.workers, maxQueue),
    metrics: new ServerMetrics(),
    tempDir,
    maxUploadBytes,
    token: opts.token === undefined ? undefined : digest(opts.token),
    topK,
    shutdownGraceMs,
    uploadIdleMs,
    shutdown: new AbortController(),
    closing: false,
  };
  // Every admitted request listens on the shutdown signal (removed when it ends): more than Node's
  // default of 10 at once is normal, not a leak.
  setMaxListeners(0, state.shutdown.signal);

  const app = Fastify({
    logger: opts.log === true ? { level: 'info', stream: process.stderr } : false,
    // Our own 503 with a { code, message } body (fastify's default body has another shape).
    return503OnClosing: false,
    // Uploads stream to disk; nothing else we accept has a body.
    bodyLimit: 64 * 1024,
  });
  states.set(app, state);

  await app.register(multipart, { throwFileSizeLimit: false });
  // Raw video bodies of any type reach the handler as the unread stream (the route's checks answer
  // 415 for types it does not take, before any body is read). JSON/text/multipart keep their parsers.
  app.addContentTypeParser('*', (_request, _payload, done) => done(null));

  app.setErrorHandler((err, request, reply) => {
    const { status, code, message, headers } = toHttpError(err);
    if (status >= 500 && code !== 'E_CANCELLED') request.log.error({ err }, 'request failed');
    void reply.code(status).headers(headers).send({ code, message });
  });
  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0]!.slice(0, 200);
    void reply.code(404).send({ code: 'E_HTTP', message: `No route ${request.method} ${path}: see GET / for the page and docs/server.md for the API` });
  });

  app.addHook('onRequest', async (request, reply) => {
    void reply.header('x-content-type-options', 'nosniff').header('referrer-policy', 'no-referrer');
    if (state.closing && request.url.split('?')[0] !== '/healthz') {
      throw new HttpError(503, 'E_HTTP', 'The server is shutting down and takes no new requests: retry in a moment or against another instance');
    }
  });
  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    state.metrics.requests.inc({ route, method: request.method, status: String(reply.statusCode) });
    state.metrics.latency.observe({ route }, reply.elapsedTime / 1000);
    jobs.get(request)?.done();
  });
  // Also covers a client that left before its handler ran (then no 'close' listener decides).
  app.addHook('onRequestAbort', async (request) => {
    jobs.get(request)?.controller.abort(new StnetError('E_CANCELLED', 'The client disconnected before its video was classified'));
  });

  // Stop taking work as soon as a close begins (fastify runs preClose before closing the listener).
  app.addHook('preClose', async () => {
    state.closing = true;
  });
  // Runs after the listener closed and every connection ended: release models and the temp dir.
  app.addHook('onClose', async () => {
    state.closing = true;
    // Every request has answered by now, but a model run cannot be interrupted: wait for it, within reason.
    await Promise.race([state.queue.whenIdle(), new Promise((r) => setTimeout(r, 60_000).unref())]);
    await Promise.allSettled(state.queue.workers.map((w) => w.close()));
    await rm(state.tempDir, { recursive: true, force: true });
  });

  const requireToken = async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    if (state.token === undefined) return;
    const header = request.headers.authorization;
    const m = typeof header === 'string' ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
    // Compare digests so the comparison takes the same time whatever the token's length.
    if (m === null || !timingSafeEqual(digest(m[1]!), state.token)) {
      void reply.header('www-authenticate', 'Bearer realm="stnet"');
      throw new HttpError(
        401,
        'E_HTTP',
        m === null ? 'This server needs a token: send the header "Authorization: Bearer <token>"' : 'Wrong token: send the token the server was started with (--token)',
      );
    }
  };

  const admit = async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    await requireToken(request, reply);
    const opts = parseQueryOptions(request.query, state.topK);
    const kind = bodyKind(request.headers['content-type']);
    const declared = Number(request.headers['content-length']);
    // Multipart adds boundaries and part headers around the file: allow a little on top of the limit.
    const allowed = kind === 'raw' ? state.maxUploadBytes : state.maxUploadBytes + 64 * 1024;
    if (Number.isFinite(declared) && declared > allowed) throw tooLarge(state.maxUploadBytes, declared);
    const slot = state.queue.tryAdmit();
    if (slot === undefined) {
      state.metrics.rejected.inc();
      const retry = state.queue.retryAfterSeconds();
      throw new HttpError(429, 'E_HTTP', `All ${state.queue.stats().capacity} request slots are taken (every worker busy and the queue full): retry after ${retry} s`, {
        'retry-after': String(retry),
      });
    }
    // One controller per request, fed by the shutdown signal through a listener removed when the
    // request ends (rather than AbortSignal.any, whose composite signals pile up on the long-lived one).
    const controller = new AbortController();
    const shutdown = state.shutdown.signal;
    const onShutdown = (): void => controller.abort(shutdown.reason);
    if (shutdown.aborted) onShutdown();
    else shutdown.addEventListener('abort', onShutdown, { once: true });
    const done = (): void => {
      shutdown.removeEventListener('abort', onShutdown);
      slot.release();
    };
    jobs.set(request, { slot, kind, opts, controller, signal: controller.signal, done });
    // 'close' also fires after a normal response; only an unfinished one means the client went away.
    reply.raw.on('close', () => {
      if (!reply.raw.writableFinished) controller.abort(new StnetError('E_CANCELLED', 'The client disconnected before its video was classified'));
    });
  };

  const classify = async (request: FastifyRequest, reply: FastifyReply): Promise<ServerVideoResult> => {
    const job = jobs.get(request);
    if (job === undefined) throw new StnetError('E_RUNTIME', 'internal error: request reached the handler without admission');
    // Generated name in a 0700 dir: the client's filename never becomes a path, and an absolute
    // path starting with '/' can never be taken by ffmpeg for an option or a protocol.
    const file = join(state.tempDir, `upload-${randomUUID()}`);
    const t0 = performance.now();
    let name = 'upload';
    // Decoder messages name the file they read: show the client its own name, not the server's temp path.
    const scrub = (message: string): string => message.split(file).join(name).split(state.tempDir).join('<upload dir>');
    try {
      let opts = job.opts;
      if (job.kind === 'raw') {
        await receiveToFile(request.raw, file, state.maxUploadBytes, state.uploadIdleMs, job.signal);
      } else {
        const part = await untilAborted(
          request.file({ limits: { fileSize: state.maxUploadBytes + 1, files: 1, fields: 8, fieldSize: 1024, parts: 16 } }),
          job.signal,
          state.uploadIdleMs,
        );
        if (part === undefined) {
          throw new HttpError(400, 'E_HTTP', 'The multipart body has no file: send the video as a file field (curl -F "video=@clip.mp4")');
        }
        opts = applyFieldOptions(opts, part.fields);
        name = displayName(part.filename);
        await receiveToFile(part.file, file, state.maxUploadBytes, state.uploadIdleMs, job.signal);
      }
      const size = (await stat(file)).size;
      if (size === 0) throw new HttpError(422, 'E_VIDEO_EMPTY', 'The uploaded video is empty (0 bytes): send the file\'s contents as the body');
      const tUploaded = performance.now();
      let tStarted = tUploaded;
      const result = await state.queue.run(job.signal, (worker) => {
        tStarted = performance.now();
        return worker.classify(file, { topK: opts.topK, segNum: opts.segNum, signal: job.signal });
      });
      state.metrics.videos.inc({ result: result.ok ? 'ok' : result.error.code });
      if (!result.ok) throw new HttpError(statusForCode(result.error.code), result.error.code as StnetErrorCode, scrub(result.error.message));
      void reply.header(
        'server-timing',
        `upload;dur=${ms(tUploaded - t0)}, queue;dur=${ms(tStarted - tUploaded)}, decode;dur=${ms(result.timing.decodeMs)}, infer;dur=${ms(result.timing.inferMs)}`,
      );
      void reply.header('cache-control', 'no-store');
      return { ...result, path: name };
    } catch (err) {
      // A job that failed because it was aborted reports why it was aborted (client gone / shutdown).
      if (job.signal.aborted && !(err instanceof HttpError)) {
        const reason = cancelled(job.signal);
        state.metrics.videos.inc({ result: reason.code });
        throw reason;
      }
      if (isStnetError(err) && !(err instanceof HttpError)) {
        state.metrics.videos.inc({ result: err.code });
        throw new HttpError(statusForCode(err.code), err.code, scrub(err.message));
      }
      if (!(err instanceof HttpError) && err instanceof Error) err.message = scrub(err.message);
      throw err;
    } finally {
      await rm(file, { force: true });
      job.done();
    }
  };

  app.post('/predict/stnet_kinetics400', { onRequest: admit }, async (request, reply) => {
    const result = await classify(request, reply);
    return { status: '0', msg: '', results: [result] };
  });
  app.post('/v1/classify', { onRequest: admit }, async (request, reply) => classify(request, reply));

  app.get('/healthz', async (_request, reply) => {
    const q = state.queue.stats();
    void reply.code(state.closing ? 503 : 200).header('cache-control', 'no-store');
    return healthBody(state, q);
  });
  app.get('/metrics', { onRequest: requireToken }, async (_request, reply) => {
    const q = state.queue.stats();
    void reply.type(PROMETHEUS_CONTENT_TYPE).header('cache-control', 'no-store');
    return state.metrics.render({ queueDepth: q.waiting, running: q.running, workers: q.workers, capacity: q.capacity, modelLoaded: !state.closing });
  });

  // The page: no inline script or style, so a strict CSP can forbid everything not from this origin.
  const csp =
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; media-src blob:; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
  app.get('/', async (_request, reply) => reply.type('text/html; charset=utf-8').header('content-security-policy', csp).send(PAGE_HTML));
  app.get('/app.js', async (_request, reply) => reply.type('text/javascript; charset=utf-8').send(PAGE_JS));
  app.get('/app.css', async (_request, reply) => reply.type('text/css; charset=utf-8').send(PAGE_CSS));
  app.get('/favicon.ico', async (_request, reply) => reply.code(204).send());

  return app;
}

/**
 * Graceful stop: refuse new requests, let in-flight work finish for `graceMs`, then cancel what is
 * left (which kills its ffmpeg), close idle and finally all connections, close the models and remove
 * the temp dir. Resolves when all of that is done.
 */
export async function shutdownServer(app: FastifyInstance, graceMs?: number): Promise<void> {
  const state = states.get(app);
  if (state === undefined) {
    await app.close();
    return;
  }
  state.closing = true;
  const grace = graceMs ?? state.shutdownGraceMs;
  const cancel = setTimeout(() => {
    state.shutdown.abort(new StnetError('E_CANCELLED', 'The server shut down before this video was classified: retry later'));
  }, grace);
  // A connection that still sends nothing a while after the cancel (a stalled upload) is cut.
  const cut = setTimeout(() => app.server.closeAllConnections(), grace + 3000);
  cancel.unref();
  cut.unref();
  try {
    await app.close();
  } finally {
    clearTimeout(cancel);
    clearTimeout(cut);
  }
}

/** Cancels every queued or running job now (a second SIGINT during a graceful shutdown). */
export function abortInFlight(app: FastifyInstance): void {
  states.get(app)?.shutdown.abort(new StnetError('E_CANCELLED', 'The server shut down before this video was classified: retry later'));
}

/** Queue figures and settings of a server built by buildServer (for /healthz, tests and the CLI banner). */
export function serverInfo(app: FastifyInstance): (QueueStats & { tempDir: string; maxUploadBytes: number; auth: boolean; closing: boolean }) | undefined {
  const state = states.get(app);
  if (state === undefined) return undefined;
  return { ...state.queue.stats(), tempDir: state.tempDir, maxUploadBytes: state.maxUploadBytes, auth: state.token !== undefined, closing: state.closing };
}

function healthBody(state: ServerState, q: QueueStats): Record<string, unknown> {
  return {
    status: state.closing ? 'closing' : 'ok',
    modelLoaded: !state.closing,
    workers: q.workers,
    running: q.running,
    queueDepth: q.waiting,
    capacity: q.capacity,
    auth: state.token !== undefined,
    maxUploadBytes: state.maxUploadBytes,
  };
}

// --- request parsing

function parseQueryOptions(query: unknown, defaultTopK: number): RequestOptions {
  const q = (typeof query === 'object' && query !== null ? query : {}) as Record<string, unknown>;
  const opts: RequestOptions = { topK: defaultTopK, segNum: undefined };
  for (const [key, value] of Object.entries(q)) setOption(opts, key, value, 'query parameter');
  return opts;
}

function setOption(opts: RequestOptions, key: string, value: unknown, where: string): void {
  if (key !== 'top_k' && key !== 'seg_num') {
    throw new HttpError(400, 'E_INVALID_OPTION', `Unknown ${where} ${JSON.stringify(key)}; expected top_k or seg_num`);
  }
  if (typeof value !== 'string' && typeof value !== 'number') throw invalidOption(key, 'a single integer', value);
  const n = typeof value === 'number' ? value : /^\s*\d+\s*$/.test(value) ? Number(value) : Number.NaN;
  const [min, max] = REQUEST_LIMITS[key];
  checkInteger(key, Number.isNaN(n) ? value : n, min, max);
  if (key === 'top_k') opts.topK = n;
  else opts.segNum = n;
}

/** Options sent as multipart fields before the file: `top_k`, `seg_num`, or `options` = JSON of both. */
function applyFieldOptions(base: RequestOptions, fields: Record<string, unknown>): RequestOptions {
  const opts = { ...base };
  for (const [key, entry] of Object.entries(fields)) {
    const e = Array.isArray(entry) ? entry[0] : entry;
    if (typeof e !== 'object' || e === null || (e as { type?: unknown }).type !== 'field') continue; // the file itself
    const value = (e as { value?: unknown }).value;
    if (key === 'options') {
      let parsed: unknown;
      try {
        parsed = JSON.parse(String(value));
      } catch {
        throw new HttpError(400, 'E_INVALID_OPTION', `The multipart field "options" is not JSON: send e.g. {"top_k": 5, "seg_num": 25}`);
      }
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw invalidOption('options', 'JSON object', value);
      for (const [k, v] of Object.entries(parsed)) setOption(opts, k, v, 'option');
    } else {
      setOption(opts, key, value, 'multipart field');
    }
  }
  return opts;
}

function bodyKind(contentType: string | undefined): 'raw' | 'multipart' {
  const type = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  if (type === 'multipart/form-data') return 'multipart';
  if (type === 'application/octet-stream' || /^video\/[a-z0-9.+-]+$/.test(type)) return 'raw';
  throw new HttpError(
    415,
    'E_HTTP',
    `Unsupported Content-Type ${type === '' ? '(none)' : JSON.stringify(type)}: send the video as the body with Content-Type video/* or application/octet-stream, or as a multipart/form-data file field`,
  );
}

/** The client's file name, for display in the result only (never used as a path). */
function displayName(filename: string | undefined): string {
  const base = (filename ?? '').split(/[\\/]/).pop() ?? '';
  // eslint-disable-next-line no-control-regex
  const clean = base.replace(/[\u0000-\u001f\u007f]/g, '').slice(0, 200);
  return clean === '' ? 'upload' : clean;
}

function tooLarge(limit: number, got?: number): HttpError {
  const mib = (n: number): string => `${(n / 1048576).toFixed(n < 1048576 ? 3 : 1)} MiB`;
  const what = got === undefined ? `more than ${mib(limit)}` : `${mib(got)}`;
  return new HttpError(413, 'E_HTTP', `The upload is ${what}, over this server's limit of ${mib(limit)}: send a shorter or smaller video, or start the server with a higher --max_upload_mb`);
}

/**
 * Streams `source` into a new file, failing with 413 as soon as more than `limit` bytes arrived.
 * The source is never destroyed here: after a refusal its remaining bytes are read and dropped (as
 * fastify does for its own body limit), so the client still gets the 413 instead of a reset.
 */
function receiveToFile(source: Readable, path: string, limit: number, idleMs: number, signal: AbortSignal): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const out = createWriteStream(path, { flags: 'wx', mode: 0o600 });
    let bytes = 0;
    let settled = false;
    // A client that stops sending must not hold its queue slot forever (fastify has no request timeout by default).
    let idle = setTimeout(() => fail(stalled(idleMs)), idleMs);
    const cleanup = (): void => {
      clearTimeout(idle);
      source.off('data', onData);
      source.off('end', onEnd);
      source.off('error', fail);
      source.off('aborted', onAborted);
      signal.removeEventListener('abort', onAbort);
    };
    const fail = (err: unknown): void => {
      if (settled) return;
      settled = true;
      cleanup();
      out.destroy();
      source.resume(); // drop the rest of the body without keeping it
      reject(err);
    };
    const onData = (chunk: Buffer): void => {
      idle.refresh();
      bytes += chunk.length;
      if (bytes > limit) return fail(tooLarge(limit));
      if (!out.write(chunk)) {
        // The disk is the slow side: the client is not idle while we wait for it.
        clearTimeout(idle);
        source.pause();
        out.once('drain', () => {
          if (settled) return;
          idle = setTimeout(() => fail(stalled(idleMs)), idleMs);
          source.resume();
        });
      }
    };
    const onEnd = (): void => {
      if (settled) return;
      settled = true;
      cleanup();
      out.end(() => resolve(bytes));
    };
    const onAborted = (): void => fail(new StnetError('E_CANCELLED', 'The client disconnected during the upload'));
    const onAbort = (): void => fail(cancelled(signal));
    if (signal.aborted) return onAbort();
    out.on('error', (err) => fail(new StnetError('E_RUNTIME', `Cannot write the upload to the temp dir: ${err.message}`, { cause: err })));
    source.on('data', onData);
    source.on('end', onEnd);
    source.on('error', fail);
    source.on('aborted', onAborted);
    signal.addEventListener('abort', onAbort, { once: true });
    source.resume();
  });
}

function stalled(idleMs: number): HttpError {
  return new HttpError(408, 'E_HTTP', `The upload stalled: no data for ${idleMs / 1000} s. Send the whole body without pauses`);
}

/** Waits for `p`, but gives up when the request is aborted or nothing happens for `idleMs`. */
function untilAborted<T>(p: Promise<T>, signal: AbortSignal, idleMs: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(cancelled(signal));
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      reject(stalled(idleMs));
    }, idleMs);
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (err: unknown) => {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        reject(err);
      },
    );
  });
}

function toHttpError(err: unknown): { status: number; code: string; message: string; headers: Record<string, string> } {
  if (err instanceof HttpError) return { status: err.statusCode, code: err.code, message: err.message, headers: { ...err.headers } };
  if (isStnetError(err)) return { status: statusForCode(err.code), code: err.code, message: err.message, headers: {} };
  const e = err as { statusCode?: unknown; message?: unknown; code?: unknown };
  const status = typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 600 ? e.statusCode : 500;
  const message = typeof e.message === 'string' ? e.message : String(err);
  if (status >= 500) return { status, code: 'E_RUNTIME', message: `internal server error: ${message}`, headers: {} };
  // fastify's and multipart's own client errors (bad multipart, bad URL...) keep their status.
  return { status, code: 'E_HTTP', message: `${message}${typeof e.code === 'string' ? ` (${e.code})` : ''}`, headers: {} };
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}

function ms(v: number): string {
  return (Math.round(v * 10) / 10).toFixed(1);
}
