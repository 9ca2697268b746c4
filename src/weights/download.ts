// Downloads weights into the cache: a temp file in the cache directory, then validation, then an
// atomic rename. Whatever goes wrong (offline, HTTP error, cut connection, stall, a body that is not
// weights, Ctrl-C), the final name is never written, so nothing in the cache can pass for weights.
import { createWriteStream } from 'node:fs';
import { mkdir, open, rename, unlink } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { envDownloadTimeoutMs } from '../env.js';
import { StnetError, checkInteger, isStnetError } from '../errors.js';
import { cacheFileName, partialPathFor, removeStalePartials } from './cache.js';

/** Connect and stall timeout: no connection, or no byte received, for this long fails the download. */
export const DEFAULT_DOWNLOAD_TIMEOUT_MS = 15_000;
const MAX_REDIRECTS = 5;

export interface DownloadProgress {
  readonly url: string;
  readonly receivedBytes: number;
  /** From Content-Length; undefined when the server does not say. */
  readonly totalBytes: number | undefined;
}

export interface DownloadWeightsOptions {
  /** Tried in order; the next one only when a server answers that the file is not there (HTTP 403/404/410). */
  readonly urls: readonly string[];
  /** Target directory (created if needed). */
  readonly dir: string;
  /** Parses and validates the finished temp file; throws when it is not weights. */
  readonly validate: (path: string) => Promise<void>;
  /** Connect / stall timeout in ms. Default: STNET_DOWNLOAD_TIMEOUT_MS, else 15000. */
  readonly timeoutMs?: number;
  readonly onProgress?: (p: DownloadProgress) => void;
  /** Called once per URL when its response starts (the CLI prints where it downloads from). */
  readonly onStart?: (url: string, totalBytes: number | undefined) => void;
  readonly signal?: AbortSignal;
}

/** The download timeout from the option, else STNET_DOWNLOAD_TIMEOUT_MS, else the default. */
export function downloadTimeoutMs(explicit?: number): number {
  if (explicit !== undefined) return checkInteger('downloadTimeoutMs', explicit, 1);
  return envDownloadTimeoutMs() ?? DEFAULT_DOWNLOAD_TIMEOUT_MS;
}

const SUPPLY_HINT =
  'Supply the weights yourself with --weights <file> (library: { weights }) or STNET_WEIGHTS=<file>, ' +
  'or use a mirror with --weights_url <url> / STNET_WEIGHTS_URL';

/** A failure of one URL; `missing` marks answers that mean "not here, try the next URL". */
class UrlFailure extends Error {
  constructor(
    readonly url: string,
    readonly reason: string,
    readonly missing: boolean,
    readonly underlying?: unknown,
  ) {
    super(reason);
  }
}

/**
 * Downloads the first available URL into `dir/<file name of the URL>` and returns that path.
 * Throws StnetError E_WEIGHTS_DOWNLOAD naming the URL(s) and the ways to supply weights by hand.
 */
export async function downloadWeights(opts: DownloadWeightsOptions): Promise<string> {
  if (opts.urls.length === 0) throw new StnetError('E_INVALID_OPTION', 'Expected at least one URL for downloadWeights but received none');
  const timeoutMs = downloadTimeoutMs(opts.timeoutMs);
  await mkdir(opts.dir, { recursive: true });
  removeStalePartials(opts.dir);

  const failures: UrlFailure[] = [];
  for (const url of opts.urls) {
    const finalPath = join(opts.dir, cacheFileName(url));
    const tmp = partialPathFor(finalPath);
    try {
      await fetchToFile(url, tmp, timeoutMs, opts);
      try {
        await opts.validate(tmp);
      } catch (err) {
        const inner = isStnetError(err) ? `${err.code}: ${err.message}` : String(err);
        throw new UrlFailure(url, `the downloaded file is not StNet weights (${inner})`, false, err);
      }
      await rename(tmp, finalPath);
      return finalPath;
    } catch (err) {
      await unlink(tmp).catch(() => undefined);
      if (opts.signal?.aborted) {
        throw new StnetError('E_CANCELLED', `download of ${url} was cancelled; nothing was written to ${opts.dir}`, { cause: err });
      }
      const failure = err instanceof UrlFailure ? err : new UrlFailure(url, describeNetworkError(err, timeoutMs), false, err);
      failures.push(failure);
      if (!failure.missing) break;
    }
  }
  const tried = failures.map((f) => `${f.url} (${f.reason})`).join(', then ');
  const last = failures[failures.length - 1];
  throw new StnetError('E_WEIGHTS_DOWNLOAD', `cannot download the StNet weights from ${tried}. ${SUPPLY_HINT}`, {
    cause: last?.underlying ?? last,
  });
}

async function fetchToFile(url: string, tmp: string, timeoutMs: number, opts: DownloadWeightsOptions): Promise<void> {
  const state: GetState = { stalled: false };
  const res = await get(url, timeoutMs, opts.signal, state);
  const lengthHeader = res.headers['content-length'];
  const total = lengthHeader !== undefined && /^\d+$/.test(lengthHeader) ? Number(lengthHeader) : undefined;
  opts.onStart?.(url, total);
  let received = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      received += chunk.length;
      opts.onProgress?.({ url, receivedBytes: received, totalBytes: total });
      cb(null, chunk);
    },
  });
  try {
    await pipeline(res, counter, createWriteStream(tmp, { flags: 'wx' }));
  } catch (err) {
    const cut = total !== undefined ? ` after ${received} of ${total} bytes` : ` after ${received} bytes`;
    const reason = state.stalled ? stallReason(timeoutMs) : describeNetworkError(err, timeoutMs);
    throw new UrlFailure(url, `${reason}${cut}`, false, err);
  }
  if (total !== undefined && received !== total) {
    throw new UrlFailure(url, `the connection closed after ${received} of ${total} bytes`, false);
  }
  if (received === 0) throw new UrlFailure(url, 'the server sent an empty body', false);
  // A rename survives a crash only if the data reached the disk first.
  const fh = await open(tmp, 'r+');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** GET with redirects; resolves with a 200 response whose socket still has the stall timeout armed. */
// Once the body is flowing, destroying the request on a stall surfaces on the response stream as a
// generic "aborted"; `state.stalled` keeps the real reason.
interface GetState {
  stalled: boolean;
}

function get(url: string, timeoutMs: number, signal: AbortSignal | undefined, state: GetState, redirects = 0): Promise<http.IncomingMessage> {
  return new Promise((resolvePromise, reject) => {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      reject(new UrlFailure(url, 'not a valid URL', false));
      return;
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
      reject(new UrlFailure(url, `unsupported protocol ${parsed.protocol} (use http or https)`, false));
      return;
    }
    const mod = parsed.protocol === 'https:' ? https : http;
    // agent: false = a fresh socket whose idle timeout covers connect, headers and every gap in the body.
    const req = mod.get(parsed, { agent: false, timeout: timeoutMs, signal, headers: { 'user-agent': 'stnet-kinetics400' } });
    req.on('timeout', () => {
      state.stalled = true;
      req.destroy(new UrlFailure(url, stallReason(timeoutMs), false));
    });
    req.on('error', reject);
    req.on('response', (res) => {
      const status = res.statusCode ?? 0;
      if (status >= 300 && status < 400 && res.headers.location !== undefined) {
        res.resume();
        req.setTimeout(0);
        if (redirects >= MAX_REDIRECTS) {
          reject(new UrlFailure(url, `more than ${MAX_REDIRECTS} redirects`, false));
          return;
        }
        const next = new URL(res.headers.location, parsed).toString();
        get(next, timeoutMs, signal, state, redirects + 1).then(resolvePromise, reject);
        return;
      }
      if (status !== 200) {
        res.resume();
        const missing = status === 403 || status === 404 || status === 410;
        reject(new UrlFailure(url, `HTTP ${status}${res.statusMessage ? ` ${res.statusMessage}` : ''}`, missing));
        return;
      }
      resolvePromise(res);
    });
  });
}

function stallReason(timeoutMs: number): string {
  return `no data for ${timeoutMs} ms (timeout; set STNET_DOWNLOAD_TIMEOUT_MS to wait longer)`;
}

function describeNetworkError(err: unknown, timeoutMs: number): string {
  if (err instanceof UrlFailure) return err.reason;
  const e = err as NodeJS.ErrnoException & { cause?: unknown };
  if (e?.cause instanceof UrlFailure) return e.cause.reason;
  switch (e?.code) {
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `cannot resolve the host name (${e.code}; offline?)`;
    case 'ECONNREFUSED':
      return 'connection refused (ECONNREFUSED)';
    case 'ECONNRESET':
    case 'ERR_STREAM_PREMATURE_CLOSE':
      return `the connection was cut (${e.code})`;
    case 'ETIMEDOUT':
      return `connection timed out after ${timeoutMs} ms (ETIMEDOUT)`;
    case 'ENETUNREACH':
    case 'EHOSTUNREACH':
      return `network unreachable (${e.code}; offline?)`;
    default:
      return e?.message ? `${e.code !== undefined ? `${e.code}: ` : ''}${e.message}` : String(err);
  }
}
