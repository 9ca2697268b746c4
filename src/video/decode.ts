// ffmpeg -> RGB frames for the sampled indices only. One ffmpeg run decodes the stream and lets through only the
// wanted frame numbers (`select`), so only those are converted to RGB and piped; the caller gets each frame as
// it arrives in one reused buffer, so memory does not grow with the video's length or resolution.
//
// Arguments (reference.md 10): `-map 0:v:0 -an -fps_mode passthrough -f rawvideo -pix_fmt rgb24` gives frames
// bit-identical to OpenCV's FFmpeg backend (same libswscale defaults, no extra sws flags). Passthrough matters
// twice here: without it ffmpeg's constant-frame-rate output would duplicate/drop frames, and it would also fill
// the gaps `select` leaves. ffmpeg applies the display-matrix rotation itself (autorotate), as OpenCV 4.x does.

import { StnetError } from '../errors.js';
import type { FfmpegInfo } from './ffmpeg.js';
import { childFailure, runChild, stderrSummary, type RunLimits, type RunResult } from './child.js';
import { selectExpression } from './sample.js';
import { FrameAssembler } from './frames.js';
import type { RgbImage } from '../transforms/resize.js';

export interface DecodeRequest {
  /** Distinct frame numbers to output, ascending. */
  distinct: readonly number[];
  /** Size of the frames ffmpeg outputs (after rotation). */
  width: number;
  height: number;
  /** ffprobe's format name (for image2-only options). */
  formatName?: string;
  /** Where to assemble each frame (width * height * 3 bytes), e.g. a transform's input; default: a new buffer. */
  frameBuffer?: Uint8Array;
}

export interface DecodeResult {
  /** Frames the decoder produced for the stream (ffmpeg's own count), when ffmpeg reported it. */
  framesDecoded: number | undefined;
  /** Frames received through the pipe (the selected ones that exist). */
  framesReceived: number;
}

/** ffmpeg's final statistics, logged at -v verbose: "Input stream #0:0 (video): 60 packets read (...); 60 frames decoded;" */
export function parseFramesDecoded(stderr: string): number | undefined {
  const re = /Input stream #\d+:\d+ \(video\): \d+ packets read \(\d+ bytes\); (\d+) frames decoded/g;
  let found: number | undefined;
  for (let m = re.exec(stderr); m; m = re.exec(stderr)) found = (found ?? 0) + Number(m[1]);
  return found;
}

export function decodeArgs(tools: FfmpegInfo, absPath: string, distinct: readonly number[], formatName = ''): string[] {
  return ffmpegArgs(tools, absPath, ['-vf', `select=${selectExpression(distinct)}`], formatName);
}

/**
 * The same run with the filter graph read from stdin (`-filter_script:v pipe:0`): ffmpeg starts, loads its
 * libraries and opens the file, then waits for the graph, so it can be spawned while ffprobe still runs.
 */
export function earlyDecodeArgs(tools: FfmpegInfo, absPath: string): string[] {
  return ffmpegArgs(tools, absPath, ['-filter_script:v', 'pipe:0'], '');
}

function ffmpegArgs(tools: FfmpegInfo, absPath: string, filter: string[], formatName: string): string[] {
  return [
    '-hide_banner',
    '-nostdin',
    // verbose: the final per-stream statistics give the decoded-frame count in the same pass.
    '-v', 'verbose',
    // Keep one filter graph for the whole stream: on a mid-stream size change ffmpeg would otherwise rebuild it,
    // restarting `select`'s frame counter `n` (and selecting wrong frames). Later frames are scaled to the first size.
    '-reinit_filter', '0',
    // ffmpeg (unlike ffprobe) refuses this image2-only option for other formats, so only for still images.
    ...(formatName === 'image2' ? ['-pattern_type', 'none'] : []),
    '-i', `file:${absPath}`,
    '-map', '0:v:0',
    '-an', '-sn', '-dn',
    ...filter,
    ...tools.passthroughArgs,
    '-f', 'rawvideo',
    '-pix_fmt', 'rgb24',
    'pipe:1',
  ];
}

/** Assembles stdout chunks into frames of `req`'s size and hands them to `onFrame`. */
function frameSink(req: DecodeRequest, path: string, onFrame: (index: number, image: RgbImage) => void) {
  const frames = new FrameAssembler(req.width, req.height, req.frameBuffer);
  const sink = {
    received: 0,
    /** ffmpeg's next bytes are read straight into the frame being assembled. */
    readInto: (): Uint8Array => frames.writable(),
    push(chunk: Buffer): void {
      for (const image of frames.feed(chunk)) {
        if (sink.received >= req.distinct.length) {
          throw new StnetError('E_VIDEO_UNDECODABLE', `ffmpeg returned more frames than the ${req.distinct.length} requested from ${path} (the frame size probably changed mid-stream)`, { path });
        }
        onFrame(req.distinct[sink.received]!, image);
        sink.received++;
      }
    },
  };
  return sink;
}

function finish(tools: FfmpegInfo, res: RunResult, received: number, limits: RunLimits): DecodeResult {
  const framesDecoded = parseFramesDecoded(res.stderr);
  if (res.code !== 0 && received === 0 && (framesDecoded === 0 || /Cannot determine format of input stream \S+ after EOF/.test(res.stderr))) {
    // ffmpeg fails when not one frame decodes (e.g. "Cannot determine format of input stream 0:0 after EOF").
    throw new StnetError('E_VIDEO_NO_FRAMES', `No frame of ${limits.path} decodes: ${stderrSummary(res.stderr)}`, {
      path: limits.path,
      cause: new Error(res.stderr.slice(-4000)),
    });
  }
  const failed = childFailure(res, { tool: 'ffmpeg', version: tools.version, bin: tools.ffmpeg, doing: 'decoding', cannot: `cannot decode ${limits.path}`, path: limits.path });
  if (failed) throw failed;
  return { framesDecoded, framesReceived: received };
}

/**
 * Decodes the video and calls `onFrame(index, image)` for each requested frame, in ascending index order.
 * `image.data` is reused for the next frame: copy it if you keep it.
 */
export async function decodeFrames(
  tools: FfmpegInfo,
  absPath: string,
  req: DecodeRequest,
  limits: RunLimits,
  onFrame: (index: number, image: RgbImage) => void,
  niceness = 0,
): Promise<DecodeResult> {
  const sink = frameSink(req, limits.path, onFrame);
  const res = await runChild(tools.ffmpeg, decodeArgs(tools, absPath, req.distinct, req.formatName), limits, (chunk) => sink.push(chunk), { niceness, transientChunks: true, readInto: sink.readInto });
  return finish(tools, res, sink.received, limits);
}

/** An ffmpeg already started (see earlyDecodeArgs), waiting to be told which frames to decode. */
export interface EarlyDecoder {
  /** Sends the frame selection and decodes, as decodeFrames does; call once. */
  decode(req: DecodeRequest, onFrame: (index: number, image: RgbImage) => void): Promise<DecodeResult>;
  /** Kills the waiting ffmpeg (the probe failed); resolves once it has exited. */
  abandon(): Promise<void>;
}

/**
 * Spawns ffmpeg for `absPath` now; the caller probes meanwhile and then calls decode() or abandon().
 * Not for file names with '%' (a possible image2 pattern, which needs `-pattern_type none` known only after
 * probing): use decodeFrames there.
 */
export function startDecoder(tools: FfmpegInfo, absPath: string, limits: RunLimits, niceness = 0): EarlyDecoder {
  let sendScript!: (text: string | null) => void;
  const script = new Promise<string | null>((resolve) => (sendScript = resolve));
  let sink: ReturnType<typeof frameSink> | undefined;
  const run = runChild(tools.ffmpeg, earlyDecodeArgs(tools, absPath), limits, (chunk) => {
    if (!sink) throw new Error('ffmpeg wrote frames before it was told which');
    sink.push(chunk);
  }, { stdin: script, niceness, transientChunks: true, readInto: () => sink?.readInto() });
  // Until decode() or abandon() awaits it, a failure (e.g. a timeout) must not count as unhandled.
  run.catch(() => {});
  return {
    async decode(req, onFrame) {
      sink = frameSink(req, limits.path, onFrame);
      sendScript(`select=${selectExpression(req.distinct)}`);
      const res = await run;
      return finish(tools, res, sink.received, limits);
    },
    async abandon() {
      sendScript(null);
      await run.then(() => undefined, () => undefined);
    },
  };
}
