// File reading shared by the weights loaders.
import { open } from 'node:fs/promises';
import { StnetError } from '../errors.js';
import { DETECT_BYTES } from './detect.js';

/** An OS error while reading (EACCES, EIO, a file removed meanwhile) as a typed error naming the file. */
export function readError(path: string, err: unknown): StnetError {
  if (err instanceof StnetError) return err;
  const code = (err as NodeJS.ErrnoException).code ?? String(err);
  const hint = code === 'ENOENT' ? 'it disappeared while loading' : 'check its permissions';
  return new StnetError('E_WEIGHTS_NOT_FOUND', `${path} cannot be read (${code}): ${hint}`, { cause: err, path });
}

/**
 * Reads a file into one Buffer with as few reads as possible (fs.readFile reads 512 KiB at a time, each a
 * thread-pool round trip: about twice as slow for 127 MiB). The Buffer is not pooled, so the loader may
 * own and overwrite it.
 */
export async function readWhole(path: string, size: number): Promise<Buffer> {
  const fh = await open(path, 'r').catch((err: unknown) => {
    throw readError(path, err);
  });
  try {
    const buf = Buffer.allocUnsafeSlow(size);
    let got = 0;
    while (got < size) {
      const { bytesRead } = await fh.read(buf, got, size - got, got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    // The file shrank while we read it: parse what is there (the readers report the truncation).
    return got === size ? buf : buf.subarray(0, got);
  } catch (err) {
    throw readError(path, err);
  } finally {
    await fh.close();
  }
}

/** The first DETECT_BYTES bytes (fewer for a shorter file), for detectFormat. */
export async function readHead(path: string): Promise<Uint8Array> {
  const fh = await open(path, 'r').catch((err: unknown) => {
    throw readError(path, err);
  });
  try {
    const head = new Uint8Array(DETECT_BYTES);
    const { bytesRead } = await fh.read(head, 0, DETECT_BYTES, 0);
    return head.subarray(0, bytesRead);
  } catch (err) {
    throw readError(path, err);
  } finally {
    await fh.close();
  }
}
