// ffprobe facts about the video stream the reference would read, and OpenCV's frame count for it.
// One ffprobe run: `-count_packets` demuxes the whole file (no decoding) to count the stream's packets, which is
// cheap and, for ordinary files, equals the number of frames that decode.

import { StnetError } from '../errors.js';
import type { FfmpegInfo } from './ffmpeg.js';
import { childFailure, runChild, type RunLimits } from './child.js';

export interface ProbeResult {
  /** Index of the chosen stream in the file (the first video stream, as OpenCV's FFmpeg backend picks). */
  streamIndex: number;
  codec: string;
  /** Coded size, before rotation. */
  codedWidth: number;
  codedHeight: number;
  /** Size of the frames ffmpeg outputs (and OpenCV returns): swapped for 90/270 degree rotation. */
  width: number;
  height: number;
  /** Frames per second as OpenCV reports it (av_guess_frame_rate). */
  fps: number;
  /** Display rotation in degrees clockwise, 0/90/180/270, as OpenCV's CAP_PROP_ORIENTATION_META. */
  rotation: number;
  /** Container duration in seconds (0 when unknown). */
  durationSec: number;
  /** Stream frame count from the container header (`nb_frames`), 0 when the container has none. */
  nbFrames: number;
  /**
   * OpenCV's CAP_PROP_FRAME_COUNT: nb_frames, else floor(duration * fps + 0.5); Infinity when the file gives
   * neither (still images, raw streams), where OpenCV's estimate is 0 or negative and the reference would read
   * no frame at all: there the frames that decode are used instead.
   */
  opencvFrameCount: number;
  /** Packets of the stream counted by demuxing the whole file. */
  packets: number;
  formatName: string;
}

interface FfprobeStream {
  index?: number;
  codec_name?: string;
  codec_type?: string;
  width?: number;
  height?: number;
  r_frame_rate?: string;
  avg_frame_rate?: string;
  duration?: string;
  nb_frames?: string;
  nb_read_packets?: string;
  tags?: Record<string, string>;
  side_data_list?: Array<{ side_data_type?: string; rotation?: number | string }>;
}

interface FfprobeOutput {
  streams?: FfprobeStream[];
  format?: { duration?: string; format_name?: string };
}

function rational(s: string | undefined): number {
  if (!s) return 0;
  const [n, d] = s.split('/').map(Number);
  if (!Number.isFinite(n) || !Number.isFinite(d) || !n || !d) return 0;
  return n / d;
}

function num(s: string | number | undefined): number {
  const v = typeof s === 'number' ? s : s === undefined ? NaN : Number(s);
  return Number.isFinite(v) ? v : 0;
}

/** av_guess_frame_rate's main rule: r_frame_rate, unless it is implausibly high while avg_frame_rate is sane. */
export function guessFps(rFrameRate: number, avgFrameRate: number): number {
  if (avgFrameRate > 0 && rFrameRate > 0 && avgFrameRate < 70 && rFrameRate > 210) return avgFrameRate;
  return rFrameRate > 0 ? rFrameRate : avgFrameRate;
}

/**
 * OpenCV 4.x `get_total_frames()`: the container's nb_frames when set, else floor(duration * fps + 0.5).
 * (OpenCV's duration is the container's, falling back to the stream's.)
 */
export function opencvFrameCount(nbFrames: number, durationSec: number, fps: number): number {
  if (nbFrames > 0) return nbFrames;
  if (!(durationSec > 0) || !(fps > 0)) return Infinity;
  return Math.floor(durationSec * fps + 0.5);
}

/** OpenCV's rotation angle from the display matrix (`-round(av_display_rotation_get)` mod 360) or the rotate tag. */
export function rotationOf(stream: FfprobeStream): number {
  let angle = 0;
  const dm = stream.side_data_list?.find((s) => s.side_data_type === 'Display Matrix' && s.rotation !== undefined);
  if (dm) angle = -Math.round(num(dm.rotation));
  else if (stream.tags?.rotate !== undefined) angle = Math.round(num(stream.tags.rotate));
  angle = ((angle % 360) + 360) % 360;
  return angle;
}

export async function probeVideo(tools: FfmpegInfo, absPath: string, limits: RunLimits, niceness = 0): Promise<ProbeResult> {
  const chunks: Buffer[] = [];
  // -pattern_type none: a still image named like "frame%03d.png" is one file, not an image-sequence pattern
  // (ffprobe ignores the option for other formats).
  const args = ['-hide_banner', '-v', 'error', '-pattern_type', 'none', '-count_packets', '-select_streams', 'v:0', '-show_streams', '-show_format', '-of', 'json', `file:${absPath}`];
  const res = await runChild(tools.ffprobe, args, limits, (c) => chunks.push(c), { niceness });
  // Decoded once at the end: a chunk boundary may split a UTF-8 sequence (the file name is in the output).
  const stdout = Buffer.concat(chunks).toString('utf8');
  const path = limits.path;
  const failed = childFailure(res, { tool: 'ffprobe', version: tools.ffprobeVersion, bin: tools.ffprobe, doing: 'reading', cannot: `cannot read ${path} as a video`, path });
  if (failed) throw failed;
  let parsed: FfprobeOutput;
  try {
    parsed = JSON.parse(stdout) as FfprobeOutput;
  } catch (err) {
    throw new StnetError('E_VIDEO_UNDECODABLE', `ffprobe gave unreadable output for ${path}`, { path, cause: err });
  }
  const stream = parsed.streams?.[0];
  if (!stream || stream.codec_type !== 'video') {
    throw new StnetError('E_VIDEO_NO_STREAM', `${path} has no video stream (format ${parsed.format?.format_name ?? 'unknown'}); pass a file that contains video`, { path });
  }
  const codedWidth = num(stream.width);
  const codedHeight = num(stream.height);
  if (codedWidth <= 0 || codedHeight <= 0) {
    throw new StnetError('E_VIDEO_UNDECODABLE', `ffprobe finds no frame size for the video stream of ${path} (codec ${stream.codec_name ?? 'unknown'}); the file is damaged or the codec is not supported by ${tools.ffprobe}`, { path });
  }
  const rotation = rotationOf(stream);
  const swap = rotation === 90 || rotation === 270;
  const fps = guessFps(rational(stream.r_frame_rate), rational(stream.avg_frame_rate));
  const formatDuration = num(parsed.format?.duration);
  const durationSec = formatDuration >= 0.000025 ? formatDuration : num(stream.duration);
  const nbFrames = Math.trunc(num(stream.nb_frames));
  return {
    streamIndex: num(stream.index),
    codec: stream.codec_name ?? 'unknown',
    codedWidth,
    codedHeight,
    width: swap ? codedHeight : codedWidth,
    height: swap ? codedWidth : codedHeight,
    fps,
    rotation,
    durationSec,
    nbFrames,
    opencvFrameCount: opencvFrameCount(nbFrames, durationSec, fps),
    packets: Math.trunc(num(stream.nb_read_packets)),
    formatName: parsed.format?.format_name ?? 'unknown',
  };
}
