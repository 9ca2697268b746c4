// Running ffmpeg/ffprobe: argument arrays only (no shell), a deadline and an AbortSignal that kill the child at
// once (SIGKILL) and settle only after it has exited, so a rejected call never leaves a process behind.

import { getPriority } from 'node:os';
import { StnetError } from '../errors.js';
import { openStdoutSocket } from './stdout-socket.js';
import { HELPER_FAILED, startChild } from './spawner.js';

export interface RunLimits {
  /** Absolute time (Date.now() scale) after which the child is killed with E_VIDEO_TIMEOUT; may be moved later while it runs. */
  deadline: number;
  /** The caller's total timeout, for the message. */
  timeoutMs: number;
  signal?: AbortSignal | undefined;
  /** The video, for error messages and `err.path`. */
  path: string;
}

export interface RunResult {
  code: number | null;
  exitSignal: NodeJS.Signals | null;
  /** The last `STDERR_TAIL` bytes of stderr. */
  stderr: string;
}

const STDERR_TAIL = 256 * 1024;

export function cancelledError(path: string): StnetError {
  return new StnetError('E_CANCELLED', `Decoding ${path} was cancelled`, { path });
}

export interface RunExtras {
  /**
   * Text for the child's stdin, written (then stdin closed) when the promise settles: a child can start, load
   * its libraries and open its input while the caller still works out what to ask of it. Resolving to null
   * kills the child, and the run rejects with ABANDONED.
   */
  stdin?: Promise<string | null>;
  /** Niceness added to the child (os.setPriority), e.g. so that decoding yields the cores to onnxruntime. */
  niceness?: number;
  /**
   * onStdout consumes each chunk during the call (it keeps no reference): stdout is then read into one reused
   * buffer (stdout-socket.ts says why) where that can be set up, else through a pipe as usual.
   */
  transientChunks?: boolean;
  /** With transientChunks: where the next read may land (see openStdoutSocket's `target`). */
  readInto?: () => Uint8Array | undefined;
}

/** The rejection of a run whose stdin resolved to null (the caller no longer wants it). */
export const ABANDONED: unique symbol = Symbol('abandoned child run');

/**
 * Spawns `bin args`, hands stdout chunks to `onStdout` (which may throw to stop the run), keeps the stderr tail.
 * Resolves when the child has exited (whatever its status); rejects on timeout, abort, spawn failure or an
 * `onStdout` error, always after the child is gone.
 */
export async function runChild(bin: string, args: readonly string[], limits: RunLimits, onStdout?: (chunk: Buffer) => void, extras: RunExtras = {}): Promise<RunResult> {
  let deliver: (chunk: Buffer) => void = () => undefined;
  const socket = onStdout !== undefined && extras.transientChunks === true ? await openStdoutSocket((chunk) => {
    deliver(chunk);
    return true;
  }, extras.readInto) : undefined;
  return new Promise((resolve, reject) => {
    if (limits.signal?.aborted) {
      socket?.destroy();
      reject(cancelledError(limits.path));
      return;
    }
    const remaining = limits.deadline - Date.now();
    if (remaining <= 0) {
      socket?.destroy();
      reject(timeoutError(limits));
      return;
    }
    // startChild takes over the socket's child end (this process's copy is closed once the child has its own).
    const child = startChild(bin, args, {
      stdin: extras.stdin !== undefined,
      stdout: socket?.childEnd ?? (onStdout ? 'pipe' : 'ignore'),
      priority: extras.niceness ? Math.min(19, setPriorityBase() + extras.niceness) : undefined,
    });
    socket?.resume();
    let stderr = '';
    let failure: unknown;
    let exited = false;
    const stop = (err: unknown): void => {
      if (failure === undefined) failure = err;
      child.kill('SIGKILL');
    };
    // The deadline may move later while the child runs (the default timeout grows with the video's duration).
    let timer: NodeJS.Timeout;
    const arm = (): void => {
      timer = setTimeout(() => {
        if (Date.now() < limits.deadline) arm();
        else stop(timeoutError(limits));
      }, Math.max(1, limits.deadline - Date.now()));
    };
    arm();
    if (extras.stdin) {
      const stdin = child.stdin!;
      // The child may exit before reading (bad input): the write then fails with EPIPE, and its exit status tells.
      stdin.on('error', () => {});
      extras.stdin.then(
        (text) => {
          if (exited) return;
          if (text === null) stop(ABANDONED);
          else stdin.end(text);
        },
        (err: unknown) => stop(err),
      );
    }
    const onAbort = (): void => stop(cancelledError(limits.path));
    limits.signal?.addEventListener('abort', onAbort, { once: true });

    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (d: string) => {
      stderr += d;
      if (stderr.length > 2 * STDERR_TAIL) stderr = stderr.slice(-STDERR_TAIL);
    });
    if (onStdout) {
      deliver = (chunk: Buffer): void => {
        if (failure !== undefined) return;
        try {
          onStdout(chunk);
        } catch (err) {
          stop(err);
        }
      };
      child.stdout?.on('data', deliver);
    }
    child.on('error', (err) => {
      // spawn failures (ENOENT, EACCES) also end in 'close'; remember the cause.
      if (failure !== undefined) return;
      if ((err as NodeJS.ErrnoException).code === HELPER_FAILED) failure = new StnetError('E_VIDEO_UNDECODABLE', `${err.message}: ${limits.path} was not read to the end; run it again`, { cause: err, path: limits.path });
      else failure = new StnetError('E_FFMPEG_MISSING', `Cannot run ${bin}: ${err.message}`, { cause: err, path: bin });
    });
    child.on('close', (code, exitSignal) => {
      exited = true;
      // The socket's last bytes may still be on their way: read them all before the result (the child's end is
      // closed, so this ends at once after them; the bound is for an fd some other process might still hold).
      let bound: NodeJS.Timeout | undefined;
      void (socket === undefined ? Promise.resolve() : Promise.race([socket.ended, new Promise<void>((r) => (bound = setTimeout(r, 5000)))])).then(() => {
        clearTimeout(bound);
        socket?.destroy();
        clearTimeout(timer);
        limits.signal?.removeEventListener('abort', onAbort);
        if (failure !== undefined) reject(failure);
        else resolve({ code, exitSignal, stderr: stderr.slice(-STDERR_TAIL) });
      });
    });
  });
}

function setPriorityBase(): number {
  // Relative to this process, so that a nice'd server's children stay below it.
  try {
    return getPriority();
  } catch {
    return 0;
  }
}

function timeoutError(limits: RunLimits): StnetError {
  return new StnetError('E_VIDEO_TIMEOUT', `Decoding ${limits.path} took longer than the timeout of ${limits.timeoutMs} ms and was stopped; raise the timeout (timeoutMs, or --decode_timeout on the CLI) if the video is long`, { path: limits.path });
}

/** The lines of ffmpeg's/ffprobe's stderr that explain a failure: error-like lines first, else the last lines. */
export function stderrSummary(stderr: string, max = 3): string {
  const lines = stderr.split('\n').map((l) => l.trim());
  const bad = lines.filter((l) => /error|invalid|not found|unsupported|failed|could not|cannot|no such|denied|moov atom|unknown/i.test(l));
  return (bad.length > 0 ? bad : lines.filter((l) => l.length > 0)).slice(-max).join(' | ');
}

export interface ChildFailureContext {
  tool: 'ffmpeg' | 'ffprobe';
  version: string;
  bin: string;
  /** What the child was doing to the file: "reading" / "decoding". */
  doing: string;
  /** The non-zero-exit message, before the stderr summary: "cannot read <path> as a video". */
  cannot: string;
  path: string;
}

/**
 * The error for a child that ended by itself without success (our own kills reject inside runChild), or
 * undefined when it succeeded. A crash (signal) is blamed on the build, not the file; stderr is kept as the cause.
 */
export function childFailure(res: RunResult, c: ChildFailureContext): StnetError | undefined {
  const cause = new Error(res.stderr.slice(-4000));
  if (res.exitSignal !== null) {
    const env = c.tool === 'ffmpeg' ? 'STNET_FFMPEG' : 'STNET_FFPROBE';
    return new StnetError(
      'E_VIDEO_UNDECODABLE',
      `${c.tool} ${c.version} (${c.bin}) crashed (${res.exitSignal}) ${c.doing} ${c.path}: a bug of that build, not necessarily of the file; install ffmpeg (apt-get install ffmpeg) or point ${env} at another build`,
      { path: c.path, cause },
    );
  }
  if (res.code !== 0) {
    return new StnetError('E_VIDEO_UNDECODABLE', `${c.tool} ${c.cannot}: ${stderrSummary(res.stderr) || `exit status ${res.code}`}`, { path: c.path, cause });
  }
  return undefined;
}
