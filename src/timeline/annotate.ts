// The annotated video (`stnet annotate`): a copy of the input, H.264 MP4 with the same frames and timestamps, audio
// copied, with the current window's top labels drawn as a small bar chart in the top-left corner.
// ffmpeg draws it (drawbox + drawtext, both in Debian's and in the bundled static build): each window's bars and
// labels are filters enabled between that window's start and the next window's start. The labels go through
// small text files (drawtext's textfile), so no label text needs filtergraph escaping; the file paths do, and
// are escaped for both levels (option value, then filtergraph) as ffmpeg's documentation describes.

import { existsSync } from 'node:fs';
import { mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { envFont } from '../env.js';
import { StnetError, invalidOption } from '../errors.js';
import { runChild, stderrSummary } from '../video/child.js';
import { findFfmpeg } from '../video/ffmpeg.js';
import type { WindowResult } from './types.js';

export interface AnnotateOptions {
  /** The windows of the input's timeline, in order. */
  windows: readonly WindowResult[];
  /** Decoded frame size (for the overlay's scale). */
  width: number;
  height: number;
  /** Labels drawn per window (default 3). */
  topK?: number;
  /** Replace an existing output. Default false (an existing file is refused). */
  overwrite?: boolean;
  /** Frames encoded so far (from ffmpeg's -progress). */
  onProgress?: (framesDone: number) => void;
  signal?: AbortSignal;
  /** Limit for the encode in ms (default 10 min plus 20x the video's length). */
  timeoutMs?: number;
}

/** Fonts tried for drawtext, first found wins; STNET_FONT overrides. Debian: fonts-dejavu-core (scripts/setup.sh). */
const FONT_CANDIDATES = [
  '/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf',
  '/usr/share/fonts/dejavu/DejaVuSans.ttf',
  '/usr/share/fonts/TTF/DejaVuSans.ttf',
  '/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf',
  '/System/Library/Fonts/Supplemental/Arial.ttf',
  '/Library/Fonts/Arial.ttf',
  'C:\\Windows\\Fonts\\arial.ttf',
];

export function findFont(): string {
  const env = envFont();
  if (env !== undefined) {
    if (!existsSync(env)) throw new StnetError('E_FONT_MISSING', `STNET_FONT points to ${env}, which does not exist; fix or unset it`, { path: env });
    return env;
  }
  const found = FONT_CANDIDATES.find((f) => existsSync(f));
  if (found === undefined) {
    throw new StnetError('E_FONT_MISSING', `No font for the labels was found (tried ${FONT_CANDIDATES.join(', ')}); install one (Debian/Ubuntu: apt-get install fonts-dejavu-core) or set STNET_FONT to a .ttf file`);
  }
  return found;
}

/** Escapes a value for a filter option, then for the filtergraph (ffmpeg-filters "Notes on filtergraph escaping"). */
export function filterValue(s: string): string {
  const option = s.replace(/[\\':]/g, (c) => `\\${c}`);
  return option.replace(/[\\'[\],;]/g, (c) => `\\${c}`);
}

/** Checks where the output goes before any work: its folder must exist, an existing file needs `overwrite`. */
export async function checkOutput(out: string, overwrite: boolean): Promise<string> {
  if (typeof out !== 'string' || out === '') throw invalidOption('out', 'a non-empty output path', out);
  const abs = resolve(out);
  const dir = dirname(abs);
  const dirStat = await stat(dir).catch(() => undefined);
  if (dirStat === undefined || !dirStat.isDirectory()) {
    throw new StnetError('E_INVALID_OPTION', `cannot write ${abs}: folder ${dir} does not exist; create it or choose another --out path`, { path: abs });
  }
  const existing = await stat(abs).catch(() => undefined);
  if (existing !== undefined && !overwrite) {
    throw new StnetError('E_INVALID_OPTION', `${abs} already exists; pass --overwrite (overwrite: true) to replace it, or choose another --out path`, { path: abs });
  }
  if (existing?.isDirectory() === true) throw new StnetError('E_INVALID_OPTION', `cannot write ${abs}: it is a folder`, { path: abs });
  return abs;
}

const BAR_COLORS = ['0x4caf50', '0x2196f3', '0xff9800', '0x9c27b0', '0xf44336'];

/** The filter script: a translucent panel, then per window (shown until the next window starts) bars and labels. */
export function overlayFilter(windows: readonly WindowResult[], width: number, height: number, topK: number, font: string, textFile: (window: number, rank: number) => string): string {
  const fontSize = Math.max(10, Math.round(Math.min(width, height * 16 / 9) / 48));
  const pad = Math.round(fontSize / 2);
  const row = Math.round(fontSize * 1.6);
  const panelW = Math.min(width - 2 * pad, Math.round(fontSize * 18));
  const barMax = panelW - 2 * pad;
  const rows = Math.max(1, Math.min(topK, ...windows.map((w) => w.predictions.length)));
  const panelH = 2 * pad + rows * row;
  const parts = [`drawbox=x=${pad}:y=${pad}:w=${panelW}:h=${panelH}:color=black@0.55:t=fill`];
  windows.forEach((w, i) => {
    const from = w.startSec;
    const next = windows[i + 1];
    const enable = next === undefined ? `gte(t\\,${from})` : `between(t\\,${from}\\,${next.startSec - 1e-6})`;
    w.predictions.slice(0, rows).forEach((p, r) => {
      const y = pad + pad + r * row;
      const bw = Math.max(1, Math.round(p.prob * barMax));
      parts.push(`drawbox=x=${2 * pad}:y=${y}:w=${bw}:h=${row - 4}:color=${BAR_COLORS[r % BAR_COLORS.length]}@0.85:t=fill:enable='${enable}'`);
      parts.push(
        `drawtext=fontfile=${filterValue(font)}:textfile=${filterValue(textFile(i, r))}:expansion=none:fontsize=${fontSize}:fontcolor=white:shadowcolor=black:shadowx=1:shadowy=1:x=${2 * pad + 4}:y=${y + Math.round((row - 4 - fontSize) / 2)}:enable='${enable}'`,
      );
    });
  });
  return `${parts.join(',\n')}\n`;
}

/**
 * Writes `out`: the input re-encoded to H.264 (same frames, passthrough timestamps), audio copied, with the
 * overlay. Written to a temporary file beside `out` and renamed, so a failed run leaves nothing half-written.
 */
export async function renderAnnotated(input: string, out: string, opts: AnnotateOptions): Promise<void> {
  const abs = await checkOutput(out, opts.overwrite === true);
  const tools = await findFfmpeg();
  const font = findFont();
  const topK = opts.topK ?? 3;
  const work = join(dirname(abs), `.${basename(abs)}.stnet-${process.pid}`);
  const tmpOut = join(work, 'out.mp4');
  await mkdir(work, { recursive: true });
  try {
    const textFile = (w: number, r: number): string => join(work, `w${w}_${r}.txt`);
    for (const [i, w] of opts.windows.entries()) {
      for (const [r, p] of w.predictions.slice(0, topK).entries()) await writeFile(textFile(i, r), `${p.label.replace(/_/g, ' ')} ${(p.prob * 100).toFixed(0)}%`);
    }
    const script = join(work, 'overlay.txt');
    await writeFile(script, overlayFilter(opts.windows, opts.width, opts.height, topK, font, textFile));
    const duration = opts.windows.at(-1)?.endSec ?? 0;
    const timeoutMs = opts.timeoutMs ?? 600_000 + Math.ceil(duration * 20_000);
    const encode = async (audio: string[]): Promise<{ code: number | null; stderr: string }> => {
      let text = '';
      const res = await runChild(
        tools.ffmpeg,
        [
          '-hide_banner', '-nostdin', '-nostats', '-v', 'error', '-y',
          '-progress', 'pipe:1',
          '-i', `file:${resolve(input)}`,
          '-filter_script:v', script,
          '-map', '0:v:0', '-map', '0:a?',
          ...tools.passthroughArgs,
          '-c:v', 'libx264', '-preset', 'veryfast', '-crf', '20', '-pix_fmt', 'yuv420p',
          ...audio,
          '-movflags', '+faststart',
          '-f', 'mp4',
          tmpOut,
        ],
        { deadline: Date.now() + timeoutMs, timeoutMs, signal: opts.signal, path: resolve(input) },
        (chunk) => {
          text += chunk.toString('latin1');
          const lines = text.split('\n');
          text = lines.pop() ?? '';
          for (const l of lines) if (l.startsWith('frame=')) opts.onProgress?.(Number(l.slice(6)));
        },
      );
      return res;
    };
    let res = await encode(['-c:a', 'copy']);
    // Audio an MP4 cannot hold as it is (PCM from an AVI, for instance) is encoded to AAC instead of dropped.
    if (res.code !== 0 && /codec not currently supported in container|Could not find tag for codec/i.test(res.stderr)) res = await encode(['-c:a', 'aac', '-b:a', '192k']);
    if (res.code !== 0) {
      throw new StnetError('E_VIDEO_UNDECODABLE', `ffmpeg could not write the annotated video ${abs}: ${stderrSummary(res.stderr) || `exit status ${res.code}`}`, { path: abs, cause: new Error(res.stderr.slice(-4000)) });
    }
    await rename(tmpOut, abs);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
