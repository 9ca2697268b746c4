// A video as a stream of RGB frames, decoded once from start to end: a file, stdin (`-`) or an
// http(s)/rtsp/rtmp/udp/tcp URL. Used by the timeline, where the frame count is not known in advance.
//
// Why not child.ts's runChild: it pushes every stdout chunk to a callback as fast as ffmpeg writes (fine for the
// few sampled frames of loadVideo), and its stdin is closed. Here every frame of a long (or endless) stream comes
// through and the model is slower than the decoder, so frames are pulled one at a time: while the consumer works,
// nothing is read, the socket (or pipe) fills and ffmpeg waits (backpressure), and memory stays flat. On Linux
// stdout is read into one reused buffer (stdout-socket.ts says why; 10 s of 1080p30, 1780 MiB of frames: peak
// RSS 49 against 83-85 MB through a pipe, at the same speed, two runs each), elsewhere through a pipe as an async iterator.
// Arguments are the loader's (decode.ts): rawvideo rgb24 with passthrough timing, so the frames are the same.

import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { StnetError, invalidOption } from '../errors.js';
import { cancelledError, childFailure, stderrSummary } from './child.js';
import { findFfmpeg, type FfmpegInfo } from './ffmpeg.js';
import { checkFile } from './load-video.js';
import { FrameAssembler } from './frames.js';
import { openStdoutSocket, type StdoutSocket } from './stdout-socket.js';
import type { RgbImage } from '../transforms/resize.js';

export type StreamSource = { kind: 'file'; path: string } | { kind: 'stdin' } | { kind: 'url'; url: string; protocol: string };

export interface StreamInfo {
  /** Average frame rate of the video stream as ffmpeg reports it ("25 fps"; its "tbr" when it has none). */
  readonly fps: number;
  /** Size of the frames ffmpeg outputs (after display rotation). */
  readonly width: number;
  readonly height: number;
}

export interface OpenStreamOptions {
  /** No new frame for this long (between two frames) stops ffmpeg with E_STREAM_TIMEOUT. */
  readTimeoutMs: number;
  /**
   * Until the first frame (ffmpeg starting, connecting, probing the stream: about 5 s of data) the limit is this
   * one instead. Default: readTimeoutMs.
   */
  connectTimeoutMs?: number | undefined;
  signal?: AbortSignal | undefined;
  /** The stream behind `-` (default process.stdin). */
  stdin?: (NodeJS.ReadableStream & { isTTY?: boolean }) | undefined;
}

export interface VideoStream {
  /** Resolves once ffmpeg has opened the input and configured its output (before the first frame). */
  readonly info: Promise<StreamInfo>;
  /**
   * Every decoded frame, in order. The image's buffer is reused for the next frame: use it before asking for
   * the next one. Ends when the stream ends; throws on a stall, an abort or an ffmpeg failure. `frameBuffer`,
   * called once the size is known, gives the buffer to assemble frames in (e.g. a resize kernel's input, so no
   * frame is copied again); default a new one.
   */
  frames(frameBuffer?: (width: number, height: number) => Uint8Array): AsyncGenerator<RgbImage, number>;
  /** Ends ffmpeg (if still running) and waits until it has exited. Idempotent. */
  close(): Promise<void>;
}

const URL_RE = /^(https?|rtsp|rtsps|rtmp|rtmps|udp|tcp|srt):\/\//i;
const STDERR_TAIL = 256 * 1024;

/** Whether `input` is stdin (`-`) or a stream URL rather than a file path. */
export function isStreamInput(input: string): boolean {
  return input === '-' || URL_RE.test(input);
}

/** Classifies an input string: `-` is stdin, a URL of a network protocol goes to ffmpeg as is, else a file path. */
export function streamSource(input: string, cwd = process.cwd()): StreamSource {
  if (typeof input !== 'string' || input === '') throw invalidOption('input', 'a file path, "-" or a stream URL', input);
  if (input === '-') return { kind: 'stdin' };
  const m = URL_RE.exec(input);
  if (m) return { kind: 'url', url: input, protocol: m[1]!.toLowerCase() };
  return { kind: 'file', path: resolve(cwd, input) };
}

/**
 * ffmpeg's options that bound network waits (microseconds), before -i: a backstop at twice our own read timer plus
 * a second, so that normally our timer fires first (E_STREAM_TIMEOUT, windows kept) rather than ffmpeg's error.
 */
function networkArgs(protocol: string, timeoutMs: number): string[] {
  const us = String(Math.max(1, Math.round((2 * timeoutMs + 1000) * 1000)));
  if (protocol === 'udp') return ['-timeout', us];
  // rtsp's "-timeout" meant a listen timeout before ffmpeg 5: left to the read timer.
  if (protocol.startsWith('rtsp')) return [];
  return ['-rw_timeout', us];
}

export function streamArgs(tools: FfmpegInfo, source: StreamSource, readTimeoutMs: number): string[] {
  const input = source.kind === 'file' ? `file:${source.path}` : source.kind === 'stdin' ? 'pipe:0' : source.url;
  return [
    '-hide_banner',
    '-nostats',
    // info: the input and output stream lines give the frame rate and the output size.
    '-v', 'info',
    // As decode.ts: one filter graph for the whole stream, later frames scaled to the first size.
    '-reinit_filter', '0',
    ...(source.kind === 'url' ? networkArgs(source.protocol, readTimeoutMs) : []),
    '-i', input,
    '-map', '0:v:0',
    '-an', '-sn', '-dn',
    ...tools.passthroughArgs,
    '-f', 'rawvideo',
    '-pix_fmt', 'rgb24',
    'pipe:1',
  ];
}

/** "25 fps", "29.97 fps", "1k fps" -> number; undefined when absent. */
function rate(line: string, unit: 'fps' | 'tbr'): number | undefined {
  const m = new RegExp(`, (\\d+(?:\\.\\d+)?)(k?) ${unit}\\b`).exec(line);
  if (!m) return undefined;
  return Number(m[1]) * (m[2] === 'k' ? 1000 : 1);
}

/**
 * The frame rate of the input's first video stream and the size of the rawvideo output, from ffmpeg's stream
 * dump on stderr; undefined until both lines have been written.
 */
export function parseStreamInfo(stderr: string): StreamInfo | undefined {
  const inputAt = stderr.indexOf('Input #0');
  const outputAt = stderr.indexOf('Output #0');
  if (inputAt < 0 || outputAt < 0) return undefined;
  const inLine = stderr.slice(inputAt, outputAt).split('\n').find((l) => /Stream #0:\d+.*: Video: /.test(l));
  const outLine = stderr.slice(outputAt).split('\n').find((l) => /Stream #0:\d+.*: Video: rawvideo/.test(l));
  if (inLine === undefined || outLine === undefined) return undefined;
  const size = /, (\d+)x(\d+)[ ,\n]/.exec(`${outLine}\n`);
  if (!size) return undefined;
  const fps = rate(inLine, 'fps') ?? rate(inLine, 'tbr') ?? rate(outLine, 'fps') ?? 0;
  return { fps, width: Number(size[1]), height: Number(size[2]) };
}

function displayName(source: StreamSource): string {
  return source.kind === 'file' ? source.path : source.kind === 'stdin' ? 'stdin' : source.url;
}

/** The error for an ffmpeg run that ended badly before (or while) giving frames. */
function failureOf(source: StreamSource, tools: FfmpegInfo, code: number | null, exitSignal: NodeJS.Signals | null, stderr: string, frames: number): StnetError | undefined {
  const name = displayName(source);
  if (code !== 0 && exitSignal === null && frames === 0) {
    if (/matches no streams|does not contain any stream/.test(stderr)) {
      return new StnetError('E_VIDEO_NO_STREAM', `${name} has no video stream; pass a file or stream that contains video`, { path: name, cause: new Error(stderr.slice(-4000)) });
    }
    if (source.kind === 'url' && /Connection refused|Connection timed out|timed out|Failed to resolve|Name or service not known|No route to host|Network is unreachable|Server returned|Input\/output error|Invalid data found|End of file/i.test(stderr)) {
      return new StnetError('E_STREAM_UNREACHABLE', `Cannot open the stream ${name}: ${stderrSummary(stderr)}`, { path: name, cause: new Error(stderr.slice(-4000)) });
    }
  }
  if (code !== 0 && exitSignal === null && frames > 0 && source.kind === 'url' && /timed out/i.test(stderr)) {
    return new StnetError('E_STREAM_TIMEOUT', `${name} stopped sending after frame ${frames} (ffmpeg: ${stderrSummary(stderr)}); raise the read timeout (--read_timeout, readTimeoutMs) if the source is slow`, { path: name });
  }
  const failed = childFailure({ code, exitSignal, stderr }, { tool: 'ffmpeg', version: tools.version, bin: tools.ffmpeg, doing: 'decoding', cannot: `cannot decode ${name}`, path: name });
  if (failed) return failed;
  if (frames === 0) return new StnetError('E_VIDEO_NO_FRAMES', `${name} has a video stream but no frame decodes: ${stderrSummary(stderr)}`, { path: name });
  return undefined;
}

/**
 * Opens a video as a frame stream. Checks the input first (a missing file is E_VIDEO_NOT_FOUND, a terminal on
 * stdin is E_INVALID_OPTION), then starts ffmpeg.
 */
export async function openVideoStream(input: string, opts: OpenStreamOptions): Promise<VideoStream> {
  const source = streamSource(input);
  const stdin = opts.stdin ?? process.stdin;
  if (source.kind === 'stdin' && stdin.isTTY === true) {
    throw new StnetError('E_INVALID_OPTION', 'Expected a video piped into stdin for input "-" but stdin is a terminal; pipe one in (cat video.ts | stnet timeline --input_path -) or pass a file or URL');
  }
  if (source.kind === 'file') await checkFile(source.path);
  const tools = await findFfmpeg();
  let frames: SocketFrames | undefined;
  const socket = await openStdoutSocket((chunk) => frames!.onData(chunk), () => frames?.readInto());
  if (socket !== undefined) frames = new SocketFrames(socket);
  if (opts.signal?.aborted) {
    socket?.destroy();
    throw cancelledError(displayName(source));
  }
  return new FfmpegStream(tools, source, opts, stdin, frames);
}

/** Where a stream's frames come from, one per next(): the stdout socket or the pipe. */
abstract class FrameSource {
  /** The frames of the chunk read last, not yet taken. */
  private chunk: Generator<RgbImage, void, undefined> | undefined;

  /** The next frame, assembled into `assembler`; undefined at the end of the stream. */
  abstract next(assembler: FrameAssembler): Promise<RgbImage | undefined>;

  /** Whether the last chunk may still hold bytes not yet taken (its frames are taken one per pull). */
  protected get pending(): boolean {
    return this.chunk !== undefined;
  }

  protected feed(assembler: FrameAssembler, chunk: Buffer): void {
    this.chunk = assembler.feed(chunk);
  }

  /** The next frame the last chunk completes, if any. */
  protected pull(): RgbImage | undefined {
    const r = this.chunk?.next();
    if (r === undefined || r.done === true) {
      this.chunk = undefined;
      return undefined;
    }
    return r.value;
  }
}

/** stdout as a pipe, read as an async iterator (not Linux, or no socket). */
class PipeFrames extends FrameSource {
  private readonly chunks: AsyncIterator<Buffer>;

  constructor(stdout: AsyncIterable<Buffer>) {
    super();
    this.chunks = stdout[Symbol.asyncIterator]();
  }

  async next(assembler: FrameAssembler): Promise<RgbImage | undefined> {
    for (;;) {
      const image = this.pull();
      if (image !== undefined) return image;
      const r = await this.chunks.next();
      if (r.done === true) return undefined;
      this.feed(assembler, r.value);
    }
  }
}

/**
 * stdout as the socket (stdout-socket.ts), which starts paused and reads only while next() waits for data; when
 * a read completes a frame it pauses, and the rest of that read (still in the socket's buffer, which no read
 * overwrites while paused) is taken up by the next call.
 */
class SocketFrames extends FrameSource {
  private assembler: FrameAssembler | undefined;
  private waiter: ((image: RgbImage | undefined) => void) | undefined;
  private ended = false;

  constructor(readonly socket: StdoutSocket) {
    super();
    void socket.ended.then(() => {
      this.ended = true;
      this.wake(undefined);
    });
  }

  /**
   * Where the socket's next read lands: the rest of the frame being assembled. Not while the last read may still
   * hold bytes for it (Node asks right after each read, before they are copied in): that read then goes to the
   * socket's own buffer, which also keeps the bytes pending until they are taken.
   */
  readInto(): Uint8Array | undefined {
    return this.pending ? undefined : this.assembler?.writable();
  }

  /** The socket's read callback: false (pause) once a frame is complete. */
  onData(chunk: Buffer): boolean {
    // Reads happen only after next() has set the assembler and resumed the socket.
    this.feed(this.assembler!, chunk);
    const image = this.pull();
    if (image === undefined) return true;
    this.wake(image);
    return false;
  }

  next(assembler: FrameAssembler): Promise<RgbImage | undefined> {
    this.assembler = assembler;
    const image = this.pull();
    if (image !== undefined) return Promise.resolve(image);
    if (this.ended) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      this.waiter = resolve;
      this.socket.resume();
    });
  }

  private wake(image: RgbImage | undefined): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.(image);
  }
}

class FfmpegStream implements VideoStream {
  readonly info: Promise<StreamInfo>;
  private readonly child: ChildProcess;
  private stderr = '';
  private failure: StnetError | undefined;
  private readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private settleInfo: { resolve: (i: StreamInfo) => void; reject: (e: unknown) => void } | undefined;
  private framesOut = 0;
  private readonly onAbort: () => void;
  private closing: Promise<void> | undefined;

  constructor(
    private readonly tools: FfmpegInfo,
    private readonly source: StreamSource,
    private readonly opts: OpenStreamOptions,
    private readonly stdin: NodeJS.ReadableStream,
    private readonly socketFrames: SocketFrames | undefined,
  ) {
    const name = displayName(source);
    this.child = spawn(tools.ffmpeg, streamArgs(tools, source, opts.readTimeoutMs), {
      stdio: [source.kind === 'stdin' ? 'pipe' : 'ignore', socketFrames?.socket.childEnd ?? 'pipe', 'pipe'],
      windowsHide: true,
    });
    socketFrames?.socket.releaseChildEnd();
    this.info = new Promise<StreamInfo>((resolveInfo, rejectInfo) => (this.settleInfo = { resolve: resolveInfo, reject: rejectInfo }));
    // Rejections of `info` are also seen by frames(); never leave one unhandled.
    this.info.catch(() => undefined);
    this.exited = new Promise((resolveExit) => this.child.on('close', (code, signal) => resolveExit({ code, signal })));
    this.child.on('error', (err) => {
      this.fail(new StnetError('E_FFMPEG_MISSING', `Cannot run ${tools.ffmpeg}: ${err.message}`, { cause: err, path: tools.ffmpeg }));
    });
    this.child.stderr!.setEncoding('utf8');
    this.child.stderr!.on('data', (d: string) => {
      this.stderr += d;
      if (this.stderr.length > 2 * STDERR_TAIL) this.stderr = this.stderr.slice(-STDERR_TAIL);
      if (this.settleInfo !== undefined) {
        const info = parseStreamInfo(this.stderr);
        if (info !== undefined) {
          this.settleInfo.resolve(info);
          this.settleInfo = undefined;
        }
      }
    });
    if (source.kind === 'stdin') {
      const sink = this.child.stdin!;
      // ffmpeg may stop reading (done, failed, killed): the broken pipe is expected, not an error.
      sink.on('error', () => undefined);
      this.stdin.pipe(sink);
    }
    this.onAbort = () => this.fail(cancelledError(name));
    opts.signal?.addEventListener('abort', this.onAbort, { once: true });
    void this.exited.then(({ code, signal }) => {
      if (this.settleInfo !== undefined) {
        this.settleInfo.reject(this.failure ?? failureOf(source, tools, code, signal, this.stderr, 0) ?? new StnetError('E_VIDEO_UNDECODABLE', `ffmpeg ended before describing ${name}: ${stderrSummary(this.stderr)}`, { path: name }));
        this.settleInfo = undefined;
      }
    });
  }

  /** Stops ffmpeg with `err` (the first reason wins). */
  private fail(err: StnetError): void {
    this.failure ??= err;
    this.child.kill('SIGKILL');
  }

  async *frames(frameBuffer?: (width: number, height: number) => Uint8Array): AsyncGenerator<RgbImage, number> {
    const name = displayName(this.source);
    const { width, height } = await this.withTimeout(this.info);
    const assembler = new FrameAssembler(width, height, frameBuffer?.(width, height));
    const source = this.socketFrames ?? new PipeFrames(this.child.stdout as AsyncIterable<Buffer>);
    try {
      for (;;) {
        const image = await this.withTimeout(source.next(assembler));
        if (this.failure !== undefined) throw this.failure;
        if (image === undefined) break;
        this.framesOut++;
        yield image;
        if (this.failure !== undefined) throw this.failure;
      }
      const { code, signal } = await this.exited;
      if (this.failure !== undefined) throw this.failure;
      const failed = failureOf(this.source, this.tools, code, signal, this.stderr, this.framesOut);
      if (failed) throw failed;
      if (assembler.partialBytes !== 0) {
        // A partial frame at the very end (a cut stream): ffmpeg always writes whole frames, so this is a bug.
        throw new StnetError('E_VIDEO_UNDECODABLE', `ffmpeg's output for ${name} ended inside a frame`, { path: name });
      }
      return this.framesOut;
    } finally {
      await this.close();
    }
  }

  /** Waits for `p`, but stops ffmpeg with E_STREAM_TIMEOUT (or E_CANCELLED) if it takes longer than the read timeout. */
  private withTimeout<T>(p: Promise<T>): Promise<T> {
    const first = this.framesOut === 0;
    const ms = first ? (this.opts.connectTimeoutMs ?? this.opts.readTimeoutMs) : this.opts.readTimeoutMs;
    const name = displayName(this.source);
    return new Promise<T>((resolveP, rejectP) => {
      let stopped = false;
      const timer = setTimeout(() => {
        stopped = true;
        const err = first
          ? new StnetError('E_STREAM_TIMEOUT', `${name} gave no frame within ${ms} ms of starting and was stopped; raise the connect timeout (--connect_timeout, connectTimeoutMs) if the source is slow to start`, { path: name })
          : new StnetError('E_STREAM_TIMEOUT', `${name} gave no new frame after frame ${this.framesOut} for ${ms} ms and was stopped; raise the read timeout (--read_timeout, readTimeoutMs) if the source is slow`, { path: name });
        this.fail(err);
        rejectP(this.failure);
      }, ms);
      const onAbort = (): void => {
        clearTimeout(timer);
        if (!stopped) rejectP(this.failure ?? cancelledError(name));
        stopped = true;
      };
      this.opts.signal?.addEventListener('abort', onAbort, { once: true });
      p.then(
        (v) => {
          clearTimeout(timer);
          this.opts.signal?.removeEventListener('abort', onAbort);
          if (stopped) return;
          stopped = true;
          if (this.failure !== undefined) rejectP(this.failure);
          else resolveP(v);
        },
        (err: unknown) => {
          clearTimeout(timer);
          this.opts.signal?.removeEventListener('abort', onAbort);
          if (stopped) return;
          stopped = true;
          rejectP(this.failure ?? err);
        },
      );
    });
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      this.opts.signal?.removeEventListener('abort', this.onAbort);
      if (this.source.kind === 'stdin') {
        this.stdin.unpipe(this.child.stdin!);
        this.child.stdin!.destroy();
      }
      if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
      this.child.stdout?.destroy();
      this.socketFrames?.socket.destroy();
      await this.exited;
    })();
    return this.closing;
  }
}
