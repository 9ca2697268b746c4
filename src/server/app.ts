// The HTTP surface: `buildServer(opts)` returns a fastify app that is not listening yet (serve.ts listens
// and handles signals; tests use it with inject or on port 0). The app is plugins (errors, auth, the
// service's queue and lifecycle, uploads) plus routes (classification, health, the page); this file only
// wires them and offers the lifecycle calls the CLI needs.
import Fastify, { type FastifyInstance } from 'fastify';
import authPlugin from './plugins/auth.js';
import errorsPlugin from './plugins/errors.js';
import servicePlugin, { SERVICE_DEFAULTS, type ServiceOptions } from './plugins/service.js';
import uploadsPlugin, { UPLOAD_DEFAULTS, type UploadsOptions } from './plugins/uploads.js';
import type { QueueStats } from './queue.js';
import classifyRoutes from './routes/classify.js';
import healthRoutes from './routes/health.js';
import pageRoutes from './routes/page.js';
import timelineRoutes from './routes/timeline.js';

export const SERVER_DEFAULTS = Object.freeze({ ...UPLOAD_DEFAULTS, ...SERVICE_DEFAULTS });

export interface BuildServerOptions extends ServiceOptions, UploadsOptions {
  /** When set, every classification and /metrics request needs `Authorization: Bearer <token>`. */
  token?: string;
  /** fastify's request log (pino, JSON lines) to stderr. Default off: the library writes nothing. */
  log?: boolean;
}

export async function buildServer(opts: BuildServerOptions): Promise<FastifyInstance> {
  const app = Fastify({
    logger: opts.log === true ? { level: 'info', stream: process.stderr } : false,
    // Our own 503 with a { code, message } body (fastify's default body has another shape).
    return503OnClosing: false,
    // Uploads stream to disk; nothing else we accept has a body.
    bodyLimit: 64 * 1024,
    // fastify's default strips properties a schema does not list: refuse them instead, so a typo never passes.
    ajv: { customOptions: { removeAdditional: false } },
  });
  try {
    await app.register(errorsPlugin);
    // Every option is checked before the upload dir is created (the uploads plugin comes after these).
    await app.register(authPlugin, { token: opts.token });
    await app.register(servicePlugin, { workers: opts.workers, maxQueue: opts.maxQueue, topK: opts.topK, shutdownGraceMs: opts.shutdownGraceMs });
    await app.register(uploadsPlugin, { tempRoot: opts.tempRoot, maxUploadBytes: opts.maxUploadBytes, uploadIdleMs: opts.uploadIdleMs });
    await app.register(classifyRoutes);
    await app.register(timelineRoutes);
    await app.register(healthRoutes);
    await app.register(pageRoutes);
    await app.ready();
  } catch (err) {
    // Removes what the plugins made so far (the upload dir); the workers stay the caller's.
    await app.close().catch(() => undefined);
    throw err;
  }
  return app;
}

/**
 * Graceful stop: refuse new requests, let in-flight work finish for `graceMs`, then cancel what is
 * left (which kills its ffmpeg), close idle and finally all connections,
 * close the models and remove the temp dir. Resolves when all of that is done.
 */
export async function shutdownServer(app: FastifyInstance, graceMs?: number): Promise<void> {
  if (!app.hasDecorator('stnet')) {
    await app.close();
    return;
  }
  app.stnet.beginClose();
  const grace = graceMs ?? app.stnet.shutdownGraceMs;
  const cancel = setTimeout(() => app.stnet.cancelAll(), grace);
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
  if (app.hasDecorator('stnet')) app.stnet.cancelAll();
}

/** Queue figures and settings of a server built by buildServer (for /healthz, tests and the CLI banner). */
export function serverInfo(app: FastifyInstance): (QueueStats & { tempDir: string; maxUploadBytes: number; auth: boolean; closing: boolean }) | undefined {
  if (!app.hasDecorator('stnet')) return undefined;
  return { ...app.stnet.queue.stats(), tempDir: app.uploads.dir, maxUploadBytes: app.uploads.maxBytes, auth: app.authRequired, closing: app.stnet.closing };
}
