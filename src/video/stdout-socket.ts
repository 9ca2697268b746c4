// A child's stdout read into one reused buffer. Through a pipe, Node allocates a new buffer (up to 64 KiB) for
// every read, and none of them is freed before V8 collects their wrappers; the C heap they came from is not
// given back to the system even then. Measured (a scratch script reading ffmpeg's rgb24 output of every frame):
// the SD clip's 131 frames, 28.8 MiB of such chunks, +20-21 MB RSS; the 280 frames of the 340x256 mmaction2 demo,
// 69.7 MiB, +38 MB. In `stnet run` that memory is still held through the forward pass that follows, its peak.
// net.Socket's `onread` option reads into a caller's buffer instead, but only a socket we create can have it, so
// the child's stdout is a Unix socket (Linux's abstract namespace: no file is created) connected to one we read.
// Through this socket: +1 MB on both clips.
//
// Any local process can list abstract sockets and connect first: the server takes only the connection that sends
// our random token, so no other process can read the frames, and closes as soon as it has it.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import net from 'node:net';

const TOKEN_BYTES = 16;
/** Bytes per read (what a pipe read gives at most). */
const READ_BYTES = 64 * 1024;

export interface StdoutSocket {
  /** Pass as the child's stdout (spawn's stdio[1]); then call releaseChildEnd(). */
  readonly childEnd: net.Socket;
  /** Closes this process's copy of the child's end (the child holds its own), so that its exit ends the stream. */
  releaseChildEnd(): void;
  /** Resolves once everything the child wrote has been handed to onData (or the reader was destroyed). */
  readonly ended: Promise<void>;
  /** Starts reading (the socket is handed out paused), or reads again after onData returned false. */
  resume(): void;
  /** Stops reading (e.g. after the child was killed). */
  destroy(): void;
}

/**
 * A socket pair whose reading end hands each read to `onData` as a view of one reused buffer, valid only during
 * the call, or, when onData returns false, until resume() (no read happens while paused). It starts paused:
 * nothing is read before resume(). `target`, asked after each read, may name where the next read lands instead
 * (e.g. the rest of the frame being assembled, so the bytes need no copy; non-empty); undefined: the reused buffer.
 * Resolves undefined where it cannot be made (not Linux, or sockets refused): the caller uses a pipe.
 */
export async function openStdoutSocket(onData: (chunk: Buffer) => boolean | undefined, target?: () => Uint8Array | undefined): Promise<StdoutSocket | undefined> {
  if (process.platform !== 'linux') return undefined;
  const token = randomBytes(TOKEN_BYTES);
  const name = `\0stnet-${process.pid}-${randomBytes(12).toString('hex')}`;
  const server = net.createServer({ pauseOnConnect: false });
  let reader: net.Socket | undefined;
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(name, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const buffer = Buffer.allocUnsafe(READ_BYTES);
    const accepted = acceptWithToken(server, token);
    const r = net.connect({
      path: name,
      onread: {
        // Node asks for the buffer once at connect and again after each read (Node 20, 22 and 24 alike).
        buffer: target === undefined ? buffer : () => target() ?? buffer,
        callback: (n: number, buf: Uint8Array): boolean => onData(Buffer.from(buf.buffer, buf.byteOffset, n)) !== false,
      },
    });
    reader = r;
    r.pause();
    const ended = new Promise<void>((resolve) => {
      r.once('end', resolve).once('close', () => resolve());
    });
    // A failed connect fails the set-up at once (instead of acceptWithToken's 5 s wait); later errors (the child
    // killed mid-write) end the stream through 'close'.
    const failed = new Promise<never>((_, reject) => r.once('error', reject));
    failed.catch(() => undefined);
    r.on('error', () => undefined);
    r.write(token);
    const childEnd = await Promise.race([accepted, failed]);
    return {
      childEnd,
      releaseChildEnd: () => childEnd.destroy(),
      ended,
      resume: () => r.resume(),
      destroy: () => {
        r.destroy();
        childEnd.destroy();
      },
    };
  } catch {
    reader?.destroy();
    return undefined;
  } finally {
    server.close();
  }
}

/** The first connection that sends `token` (others are dropped); rejects after 5 s without one. Exported for its test. */
export function acceptWithToken(server: net.Server, token: Buffer): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the stdout socket got no connection')), 5000);
    server.on('connection', (sock) => {
      let got = Buffer.alloc(0);
      const onData = (d: Buffer): void => {
        got = Buffer.concat([got, d]);
        if (got.length < token.length) return;
        sock.off('data', onData);
        if (got.length === token.length && timingSafeEqual(got, token)) {
          clearTimeout(timer);
          sock.pause();
          resolve(sock);
        } else {
          sock.destroy();
        }
      };
      sock.on('data', onData).on('error', () => sock.destroy());
    });
  });
}
