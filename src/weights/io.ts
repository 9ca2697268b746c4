// File reading shared by the weights loaders.
import { open } from 'node:fs/promises';
import { DETECT_BYTES } from './detect.js';

/**
 * Reads a file into one Buffer with as few reads as possible (fs.readFile reads 512 KiB at a time, each a
 * thread-pool round trip: about twice as slow for 127 MiB). The Buffer is not pooled, so the loader may
 * own and overwrite it.
 */
export async function readWhole(path: string, size: number): Promise<Buffer> {
  const fh = await open(path, 'r');
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
  } finally {
    await fh.close();
  }
}

/** The first DETECT_BYTES bytes (fewer for a shorter file), for detectFormat. */
export async function readHead(path: string): Promise<Uint8Array> {
  const fh = await open(path, 'r');
  try {
    const head = new Uint8Array(DETECT_BYTES);
    const { bytesRead } = await fh.read(head, 0, DETECT_BYTES, 0);
    return head.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}
