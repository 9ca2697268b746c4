// One error class for the whole project. `code` is stable (tests, the CLI's exit codes and the
// HTTP server's status codes depend on it); `message` says what went wrong and what to do.
// The table below is the single source of the README's error-code table (a test keeps them equal).

export interface ErrorCodeInfo {
  /** What the code means. */
  readonly meaning: string;
  /** What the user should do about it. */
  readonly action: string;
  /** Which side is at fault: the input given (a video, a tensor), or usage / environment. */
  readonly kind: 'input' | 'usage' | 'environment' | 'internal';
}

export const ERROR_CODES = {
  // --- options and usage
  E_INVALID_OPTION: { kind: 'usage', meaning: 'An option has a wrong type or is out of range.', action: 'Fix the option as the message says (see --help or the API docs).' },
  E_USAGE: { kind: 'usage', meaning: 'The command line is not one stnet understands: an unknown command or option, an option without its value, or an extra argument.', action: 'Fix the command as the message says (see stnet <command> --help); videos are given with --input_path.' },
  E_INVALID_INPUT: { kind: 'input', meaning: 'An input tensor does not match its dims, or its shape cannot go through the network.', action: 'Pass [B, segNum, 15, H, W] float32 data with H = W >= 32 and data.length = B*segNum*15*H*W.' },
  // --- weights
  E_WEIGHTS_NOT_FOUND: { kind: 'environment', meaning: 'The weights path does not exist, or a directory holds no parameter files.', action: 'Check the path; pass --weights / STNET_WEIGHTS, or let stnet download the official weights.' },
  E_WEIGHTS_FORMAT: { kind: 'environment', meaning: 'The file is not a weights file in any supported format (pickle .pdparams, LoDTensor stream, parameter directory, tar archive).', action: 'Point to STNET.pdparams, STNET_final.pdparams, the stnet_kinetics400 module folder or an archive of one.' },
  E_WEIGHTS_TRUNCATED: { kind: 'environment', meaning: 'The weights file ends before all data was read.', action: 'The download was probably interrupted: download it again (stnet weights download).' },
  E_WEIGHTS_CORRUPT: { kind: 'environment', meaning: 'The weights file is malformed (bad record, bad pickle opcode, unsupported dtype).', action: 'Download the weights again; if it persists, the file is not a StNet weights file.' },
  E_WEIGHTS_SHAPE: { kind: 'environment', meaning: 'Parameters are missing, unexpected, or have the wrong shape for StNet-R50 (seglen 5, 400 classes).', action: 'Use weights trained for StNet ResNet-50 Kinetics-400; the message lists every mismatch.' },
  E_WEIGHTS_NAN: { kind: 'environment', meaning: 'A weight contains NaN or Inf.', action: 'The weights are damaged or diverged in training: use another weights file.' },
  E_PICKLE_FORBIDDEN: { kind: 'environment', meaning: 'The pickle refers to a Python global that a weights file never needs; it was refused without running anything.', action: 'Do not use this file: a pickle can run code. Get the weights from a trusted source.' },
  E_WEIGHTS_DOWNLOAD: { kind: 'environment', meaning: 'Downloading the official weights failed (offline, HTTP error, cut connection, timeout, or the body is not weights).', action: 'Check the network or a mirror (--weights_url / STNET_WEIGHTS_URL), or supply a local file with --weights / STNET_WEIGHTS.' },
  E_MODEL_FORMAT: { kind: 'environment', meaning: 'A model file (--model) is not an ONNX file, is truncated, or is not a StNet graph written by stnet (export-onnx / quantize).', action: 'Write the file again with stnet export-onnx or stnet quantize, or pass --weights instead of --model.' },
  // --- video
  E_VIDEO_NOT_FOUND: { kind: 'input', meaning: 'The video path does not exist.', action: 'Check the path (relative paths are resolved against the current directory).' },
  E_VIDEO_NOT_FILE: { kind: 'input', meaning: 'The video path is a directory or another non-regular file.', action: 'Pass the path of a video file.' },
  E_VIDEO_EMPTY: { kind: 'input', meaning: 'The video file is empty (0 bytes).', action: 'The file was not written completely: copy or download it again.' },
  E_VIDEO_UNDECODABLE: { kind: 'input', meaning: 'ffmpeg cannot read the file as a video (not a video, damaged, or an unsupported codec).', action: 'Check that the file plays; convert it with ffmpeg to H.264 mp4 if needed.' },
  E_VIDEO_NO_STREAM: { kind: 'input', meaning: 'The file has no video stream (for example an audio-only file).', action: 'Pass a file that contains video.' },
  E_VIDEO_NO_FRAMES: { kind: 'input', meaning: 'The video stream has no decodable frame.', action: 'The video is empty or damaged: re-encode or replace it.' },
  E_VIDEO_TIMEOUT: { kind: 'input', meaning: 'Decoding took longer than the timeout and was stopped.', action: 'Raise the timeout (decodeTimeoutMs / --decode_timeout) or check the file.' },
  E_STREAM_TIMEOUT: { kind: 'input', meaning: 'A stream (stdin or a URL) sent no frame for longer than the read timeout and was stopped; the windows before it are kept.', action: 'Check the source; raise --read_timeout (readTimeoutMs) for slow or bursty streams.' },
  E_STREAM_UNREACHABLE: { kind: 'input', meaning: 'ffmpeg could not open a stream URL (connection refused or timed out, unknown host, HTTP error).', action: 'Check the URL, the network and that the server is up.' },
  E_FFMPEG_MISSING: { kind: 'environment', meaning: 'No working ffmpeg/ffprobe was found.', action: 'Install ffmpeg (apt-get install ffmpeg), set STNET_FFMPEG / STNET_FFPROBE, or reinstall stnet-kinetics400 so its bundled ffmpeg is present.' },
  E_FONT_MISSING: { kind: 'environment', meaning: 'No font was found to draw the labels of an annotated video.', action: 'Install one (apt-get install fonts-dejavu-core) or set STNET_FONT to a .ttf file.' },
  // --- runtime
  E_RUNTIME: { kind: 'internal', meaning: 'onnxruntime failed to create the session or to run the model.', action: 'See the cause in the message; check free memory and the thread count.' },
  E_GPU_UNAVAILABLE: { kind: 'environment', meaning: 'GPU inference was asked for, but onnxruntime has no CUDA provider here.', action: 'Install onnxruntime-node with CUDA (npm install onnxruntime-node --onnxruntime-node-install=cuda12 on a machine with CUDA 12), or drop --use_gpu.' },
  E_MODEL_CLOSED: { kind: 'usage', meaning: 'The model was used after close().', action: 'Load a new model with StNet.load().' },
  E_CANCELLED: { kind: 'input', meaning: 'The work was cancelled (client disconnected or shutdown).', action: 'Retry the request.' },
  // --- queue (src/queue: BullMQ workers on Redis)
  E_QUEUE_UNREACHABLE: { kind: 'environment', meaning: 'Redis at the --redis URL cannot be reached (refused, unknown host, timeout, wrong password) or is not a Redis BullMQ can use.', action: 'Start Redis or fix --redis (redis://[user:password@]host:port[/db]); check firewalls and that the machine can reach it.' },
  E_QUEUE_STALLED: { kind: 'internal', meaning: 'A queued video was taken by workers that died or froze too many times (BullMQ stalled-job limit).', action: 'Check the workers\' logs and memory (a video that crashes its worker every time); resubmit with a new --batch to try again.' },
  E_VIDEO_DOWNLOAD: { kind: 'input', meaning: 'A queued http(s) video could not be downloaded by the worker (HTTP error, larger than the cap, cut connection).', action: 'Check the URL from the worker machine, or raise the worker\'s --max_download_mb.' },
  E_HTTP: { kind: 'usage', meaning: 'The HTTP server refused the request before classifying it (401 token, 404 route, 413 upload too large, 415 content type, 429 queue full, 503 shutting down).', action: 'Do what the message says: send Authorization: Bearer <token>, a smaller video, a video/* or multipart body, or retry after the Retry-After seconds.' },
} as const satisfies Record<string, ErrorCodeInfo>;

export type StnetErrorCode = keyof typeof ERROR_CODES;

export interface StnetErrorOptions {
  cause?: unknown;
  /** The file the error is about, when there is one. */
  path?: string;
}

export class StnetError extends Error {
  readonly code: StnetErrorCode;
  readonly path: string | undefined;

  constructor(code: StnetErrorCode, message: string, options: StnetErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'StnetError';
    this.code = code;
    this.path = options.path;
  }

  /** A plain object for JSON output ({ code, message }). */
  toJSON(): { code: StnetErrorCode; message: string } {
    return { code: this.code, message: this.message };
  }
}

export function isStnetError(err: unknown): err is StnetError {
  return err instanceof StnetError;
}

/** Option validation in one template (as sharp does): "Expected positive integer for topK but received 0". */
export function invalidOption(name: string, expected: string, received: unknown): StnetError {
  const shown = typeof received === 'string' ? JSON.stringify(received) : String(received);
  return new StnetError('E_INVALID_OPTION', `Expected ${expected} for ${name} but received ${shown}`);
}

export function checkInteger(name: string, value: unknown, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `integer >= ${min}` : `integer between ${min} and ${max}`;
    throw invalidOption(name, range, value);
  }
  return value;
}

/**
 * Refuses keys that are not options (a typo must never pass silently), suggesting the closest known one:
 * `Unknown option "top_k" (did you mean topK?); expected one of topK, segNum, ...`.
 */
export function checkKnownKeys(opts: object, known: readonly string[], what = 'option'): void {
  for (const key of Object.keys(opts)) {
    if (known.includes(key)) continue;
    const hint = closestName(key, known);
    throw new StnetError(
      'E_INVALID_OPTION',
      `Unknown ${what} ${JSON.stringify(key)}${hint === undefined ? '' : ` (did you mean ${hint}?)`}; expected one of ${known.join(', ')}`,
    );
  }
}

/** The candidate within edit distance 2 (case-insensitive), so `seg_num`, `segnum` and `thread` find their option. */
function closestName(name: string, candidates: readonly string[]): string | undefined {
  const a = name.toLowerCase();
  let best: string | undefined;
  let bestDistance = 3;
  for (const candidate of candidates) {
    const b = candidate.toLowerCase();
    const row = Array.from({ length: b.length + 1 }, (_, j) => j);
    for (let i = 1; i <= a.length; i++) {
      let diagonal = row[0]!;
      row[0] = i;
      for (let j = 1; j <= b.length; j++) {
        const above = row[j]!;
        row[j] = Math.min(above + 1, row[j - 1]! + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
        diagonal = above;
      }
    }
    if (row[b.length]! < bestDistance) [best, bestDistance] = [candidate, row[b.length]!];
  }
  return best;
}
