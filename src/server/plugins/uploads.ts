// Uploads: the private temp dir (and its janitor for dirs of killed servers), the body checks that need no
// body (415, 413 by Content-Length), and `request.receiveUpload()`, which streams a raw body or a multipart
// file to a generated file in that dir, stopping at the upload limit, with the multipart fields in any order.
import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { chmod, lstat, mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import multipart, { type Multipart } from '@fastify/multipart';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { StnetError, checkInteger } from '../../errors.js';
import { cancelled } from '../queue.js';
import { HttpError } from './errors.js';

export const UPLOAD_DEFAULTS = Object.freeze({ maxUploadBytes: 512 * 1024 * 1024, uploadIdleMs: 30_000 });

export interface UploadsOptions {
  /** Folder in which the private upload dir is created. Default os.tmpdir(). */
  tempRoot?: string | undefined;
  /** Larger bodies get 413. Default 512 MiB. */
  maxUploadBytes?: number | undefined;
  /** An upload that sends nothing for this long is dropped with 408. Default 30000. */
  uploadIdleMs?: number | undefined;
}

export type BodyKind = 'raw' | 'multipart';

/** A body received to disk. */
export interface Upload {
  /** Absolute, generated path in the private dir (never derived from the client). */
  readonly path: string;
  /** The client's file name (multipart), cleaned for display; undefined for a raw body. */
  readonly name: string | undefined;
  /** Multipart fields by name, every value of each (raw bodies: none). */
  readonly fields: Readonly<Record<string, readonly string[]>>;
  readonly bytes: number;
}

declare module 'fastify' {
  interface FastifyInstance {
    readonly uploads: { readonly dir: string; readonly maxBytes: number; readonly idleMs: number };
    /** 415 for a content type we do not take, 413 for a declared length over the limit; else the body's kind. */
    checkUploadHeaders(request: FastifyRequest): BodyKind;
  }
  interface FastifyRequest {
    /** Streams the body to a new file in the upload dir; the caller removes `path` when done. */
    receiveUpload(kind: BodyKind, path: string, signal: AbortSignal): Promise<Upload>;
  }
}

const TEMP_PREFIX = 'stnet-serve-';
/** Multipart adds boundaries and part headers around the file: allowed on top of the limit. */
const MULTIPART_OVERHEAD = 64 * 1024;
/** Field names and sizes a classification request needs (top_k, seg_num, options): more is not a video upload. */
const MULTIPART_LIMITS = { files: 1, fields: 8, fieldSize: 1024, parts: 16 } as const;

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

/** A fresh upload path in `dir`: a generated name, so the client's filename never becomes a path. */
export function uploadPath(dir: string): string {
  return join(dir, `upload-${randomUUID()}`);
}

function bodyKind(contentType: string | undefined): BodyKind {
  const type = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  if (type === 'multipart/form-data') return 'multipart';
  if (type === 'application/octet-stream' || /^video\/[a-z0-9.+-]+$/.test(type)) return 'raw';
  throw new HttpError(
    415,
    'E_HTTP',
    `Unsupported Content-Type ${type === '' ? '(none)' : JSON.stringify(type)}: send the video as the body with Content-Type video/* or application/octet-stream, or as a multipart/form-data file field`,
  );
}

/** The client's file name, for display only (never used as a path). */
function displayName(filename: string | undefined): string | undefined {
  const base = (filename ?? '').split(/[\\/]/).pop() ?? '';
  const clean = [...base].filter((c) => c.charCodeAt(0) > 0x1f && c.charCodeAt(0) !== 0x7f).join('').slice(0, 200);
  return clean === '' ? undefined : clean;
}

function tooLarge(limit: number, got?: number): HttpError {
  const mib = (n: number): string => `${(n / 1048576).toFixed(n < 1048576 ? 3 : 1)} MiB`;
  const what = got === undefined ? `more than ${mib(limit)}` : `${mib(got)}`;
  return new HttpError(413, 'E_HTTP', `The upload is ${what}, over this server's limit of ${mib(limit)}: send a shorter or smaller video, or start the server with a higher --max_upload_mb`);
}

function stalled(idleMs: number): HttpError {
  return new HttpError(408, 'E_HTTP', `The upload stalled: no data for ${idleMs / 1000} s. Send the whole body without pauses`);
}

/** A multipart body busboy cannot parse (no boundary, cut short, bad part headers): the client's error. */
function malformed(err: unknown): HttpError {
  const detail = err instanceof Error ? err.message : String(err);
  return new HttpError(400, 'E_HTTP', `Malformed multipart body (${detail}): send multipart/form-data as curl -F "video=@clip.mp4" or a browser's FormData builds it`);
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

/**
 * Reads every part of a multipart body, in whatever order the client sent them: the file is streamed to
 * `path` when it comes, the fields are collected. Fields after the file are read like fields before it.
 */
async function receiveMultipart(request: FastifyRequest, path: string, limit: number, idleMs: number, signal: AbortSignal): Promise<Upload> {
  const fields: Record<string, string[]> = {};
  let name: string | undefined;
  let bytes = -1;
  let parts: AsyncIterator<Multipart>;
  try {
    // Throws at once for a multipart type without a boundary.
    parts = request.parts({ limits: { ...MULTIPART_LIMITS, fileSize: limit + 1 } })[Symbol.asyncIterator]();
  } catch (err) {
    throw malformed(err);
  }
  for (;;) {
    let next: IteratorResult<Multipart>;
    try {
      next = await untilAborted(parts.next(), signal, idleMs);
    } catch (err) {
      if (err instanceof StnetError) throw err;
      const code = (err as { code?: unknown }).code;
      if (code === 'FST_FILES_LIMIT') throw new HttpError(400, 'E_HTTP', 'The multipart body has more than one file: send one video per request');
      // multipart's own limit errors (fields, parts) keep their status and code; anything else is busboy's parse error.
      if (typeof code === 'string' && code.startsWith('FST_')) throw err;
      throw malformed(err);
    }
    if (next.done === true) break;
    const part = next.value;
    if (part.type === 'file') {
      name = displayName(part.filename);
      try {
        bytes = await receiveToFile(part.file, path, limit, idleMs, signal);
      } catch (err) {
        // The file part's own stream fails only when the body ends inside it ("Part terminated early").
        throw err instanceof StnetError ? err : malformed(err);
      }
    } else {
      (fields[part.fieldname] ??= []).push(String(part.value));
    }
  }
  if (bytes < 0) throw new HttpError(400, 'E_HTTP', 'The multipart body has no file: send the video as a file field (curl -F "video=@clip.mp4")');
  return { path, name, fields, bytes };
}

async function uploadsPlugin(app: FastifyInstance, opts: UploadsOptions): Promise<void> {
  const maxBytes = checkInteger('maxUploadBytes', opts.maxUploadBytes ?? UPLOAD_DEFAULTS.maxUploadBytes, 1);
  const idleMs = checkInteger('uploadIdleMs', opts.uploadIdleMs ?? UPLOAD_DEFAULTS.uploadIdleMs, 1);
  const root = opts.tempRoot ?? tmpdir();
  await sweepStaleUploadDirs(root);
  // The pid in the name lets a later server remove this dir if this process dies without cleaning up.
  const dir = await mkdtemp(join(root, `${TEMP_PREFIX}${process.pid}-`));
  // mkdtemp makes the dir 0700 already; chmod says so explicitly in case of an unusual umask/platform.
  await chmod(dir, 0o700);
  // Runs after every connection ended (the service plugin's onClose, registered later, runs first).
  app.addHook('onClose', async () => {
    await rm(dir, { recursive: true, force: true });
  });
  app.decorate('uploads', { dir, maxBytes, idleMs });

  await app.register(multipart, { throwFileSizeLimit: false });
  // Raw video bodies of any type reach the handler as the unread stream (the route's checks answer
  // 415 for types it does not take, before any body is read). JSON/text/multipart keep their parsers.
  app.addContentTypeParser('*', (_request, _payload, done) => done(null));

  app.decorate('checkUploadHeaders', (request: FastifyRequest): BodyKind => {
    const kind = bodyKind(request.headers['content-type']);
    const declared = Number(request.headers['content-length']);
    const allowed = kind === 'raw' ? maxBytes : maxBytes + MULTIPART_OVERHEAD;
    if (Number.isFinite(declared) && declared > allowed) throw tooLarge(maxBytes, declared);
    return kind;
  });

  app.decorateRequest('receiveUpload', async function (this: FastifyRequest, kind: BodyKind, path: string, signal: AbortSignal): Promise<Upload> {
    if (kind === 'multipart') return receiveMultipart(this, path, maxBytes, idleMs, signal);
    await receiveToFile(this.raw, path, maxBytes, idleMs, signal);
    return { path, name: undefined, fields: {}, bytes: (await stat(path)).size };
  });
}

export default fp(uploadsPlugin, { name: 'stnet-uploads', fastify: '5.x' });
