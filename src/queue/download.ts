// A queued http(s) video: downloaded by the worker into a temp file under $STNET_HOME/tmp (never elsewhere),
// size-capped while it streams (Content-Length is only a hint), removed after classification.
// Node's fetch is enough here: one GET, no resume (a video is re-fetched whole on a retry).
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { StnetError } from '../errors.js';
import { stnetHome } from '../weights/cache.js';

/** The whole download (a 1 GiB video needs 14 Mbit/s to make it); a retry starts over. */
const DOWNLOAD_TIMEOUT_MS = 10 * 60_000;

export interface DownloadedVideo {
  readonly file: string;
  remove(): Promise<void>;
}

/** Retrying cannot help (HTTP 4xx, too large): the worker fails the job at once. */
export class PermanentDownloadError extends StnetError {}

export async function downloadVideo(url: string, maxBytes: number, signal?: AbortSignal): Promise<DownloadedVideo> {
  const root = join(stnetHome(), 'tmp');
  await mkdir(root, { recursive: true });
  const dir = await mkdtemp(join(root, 'video-'));
  const remove = (): Promise<void> => rm(dir, { recursive: true, force: true });
  const file = join(dir, 'video');
  try {
    const timeout = AbortSignal.timeout(DOWNLOAD_TIMEOUT_MS);
    const res = await fetch(url, { signal: signal === undefined ? timeout : AbortSignal.any([signal, timeout]), redirect: 'follow' });
    if (!res.ok || res.body === null) {
      const msg = `${url}: HTTP ${res.status} ${res.statusText}`.trim();
      // 408/429 and 5xx may pass on a retry; other 4xx will not.
      if (res.status >= 400 && res.status < 500 && res.status !== 408 && res.status !== 429) throw new PermanentDownloadError('E_VIDEO_DOWNLOAD', msg);
      throw new StnetError('E_VIDEO_DOWNLOAD', msg);
    }
    const declared = Number(res.headers.get('content-length') ?? NaN);
    const tooLarge = (): PermanentDownloadError =>
      new PermanentDownloadError('E_VIDEO_DOWNLOAD', `${url} is larger than the worker's download cap of ${(maxBytes / 1048576).toFixed(0)} MiB (raise --max_download_mb)`);
    if (Number.isFinite(declared) && declared > maxBytes) throw tooLarge();
    let received = 0;
    const cap = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        received += chunk.length;
        cb(received > maxBytes ? tooLarge() : null, chunk);
      },
    });
    await pipeline(Readable.fromWeb(res.body as import('node:stream/web').ReadableStream<Uint8Array>), cap, createWriteStream(file, { flags: 'wx' }));
    return { file, remove };
  } catch (err) {
    await remove();
    if (err instanceof StnetError) throw err;
    const e = err as Error;
    throw new StnetError('E_VIDEO_DOWNLOAD', `${url}: ${e.name === 'TimeoutError' ? `no data for ${DOWNLOAD_TIMEOUT_MS} ms` : e.message}`, { cause: err });
  }
}
