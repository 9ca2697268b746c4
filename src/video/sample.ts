// Frame sampling of the reference's `mp4_loader`, non-train branch (reference.md 2a). Pure arithmetic.

import { StnetError, checkInteger } from '../errors.js';

/**
 * StNet's frames per segment (the reference reader's `seglen`), stacked into one 15-channel super-image. The
 * video stage owns it (it samples and packs the frames) and imports nothing of the model; the model's input
 * check (graph/stnet.ts SEGLEN, INPUT_CHANNELS) must agree, which test/video/sample.test.ts checks.
 */
export const SEGLEN = 5;

/**
 * Indices (into the N decoded frames) of the segNum * seglen frames the reference samples, segment-major:
 * `average_dur = floor(N / segNum)`; segment i starts at `(average_dur - 1) // 2 + i * average_dur` when
 * average_dur >= seglen, at `i * average_dur` when average_dur >= 1, else at `i`; it takes seglen consecutive
 * frames, each index taken modulo N (short videos wrap around and repeat frames).
 */
export function sampleFrameIndices(frameCount: number, segNum: number, seglen: number): number[] {
  checkInteger('segNum', segNum, 1);
  checkInteger('seglen', seglen, 1);
  if (!Number.isInteger(frameCount) || frameCount < 1) {
    throw new StnetError('E_VIDEO_NO_FRAMES', `Cannot sample frames from a video with ${frameCount} decodable frames`);
  }
  const averageDur = Math.floor(frameCount / segNum);
  const out: number[] = [];
  for (let i = 0; i < segNum; i++) {
    let idx: number;
    if (averageDur >= seglen) idx = Math.floor((averageDur - 1) / 2) + i * averageDur;
    else if (averageDur >= 1) idx = i * averageDur;
    else idx = i;
    for (let jj = idx; jj < idx + seglen; jj++) out.push(jj % frameCount);
  }
  return out;
}

/** The distinct indices of a sample, ascending: the frames to decode (each once, however often it is used). */
export function distinctSorted(indices: readonly number[]): number[] {
  return [...new Set(indices)].sort((a, b) => a - b);
}

/**
 * An ffmpeg `select` filter expression picking exactly these frame numbers (`n`, counted from 0 in decode output
 * order), merged into ranges. Commas are escaped for the filtergraph parser; no shell is involved.
 */
export function selectExpression(distinct: readonly number[]): string {
  if (distinct.length === 0) throw new RangeError('selectExpression: no frames');
  const parts: string[] = [];
  let start = distinct[0]!;
  let prev = start;
  const flush = (): void => {
    parts.push(start === prev ? `eq(n\\,${start})` : `between(n\\,${start}\\,${prev})`);
  };
  for (let i = 1; i < distinct.length; i++) {
    const v = distinct[i]!;
    if (v === prev + 1) {
      prev = v;
      continue;
    }
    flush();
    start = prev = v;
  }
  flush();
  return parts.join('+');
}
