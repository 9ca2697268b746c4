// Test helpers for the video tests: small generated fixtures (system ffmpeg + lavfi), an independent full decode
// for comparison, and a check that no ffmpeg/ffprobe child outlives a call.
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';
import { expect } from 'vitest';
import { clearFfmpegCache } from '../../src/video/ffmpeg.js';
import type { Clip, LoadVideoOptions } from '../../src/video/load-video.js';
import { resizeBilinear, groupScaleSize } from '../../src/transforms/resize.js';
import { centerCropOffsets, cropRgb } from '../../src/transforms/crop.js';
import { normalizeToChw } from '../../src/transforms/normalize.js';
import { frameOffset } from '../../src/transforms/layout.js';

const run = promisify(execFile);

function onPath(name: string): string | undefined {
  for (const d of (process.env.PATH ?? '').split(delimiter)) {
    if (d && existsSync(join(d, name))) return join(d, name);
  }
  return undefined;
}

function bundledFfmpeg(): string | undefined {
  try {
    return (createRequire(import.meta.url)('@ffmpeg-installer/ffmpeg') as { path: string }).path;
  } catch {
    return undefined;
  }
}

/** ffmpeg on PATH when there is one (what discovery picks), else the bundled static build. */
export const PATH_FFMPEG = onPath('ffmpeg');
/**
 * Whether the ffprobe discovery will use can read MPEG-TS: the bundled 2023 static ffprobe crashes on every .ts
 * file (docs/video.md), so without an ffprobe on PATH the TS cases are skipped.
 */
export const PROBE_READS_TS = onPath('ffprobe') !== undefined || (process.env.STNET_FFPROBE ?? '') !== '';
/** The ffmpeg used to make fixtures and the independent reference decode (not the code under test). */
export const SYSTEM_FFMPEG = PATH_FFMPEG ?? bundledFfmpeg() ?? 'ffmpeg';
// The 2018 bundled build predates -fps_mode.
const HAS_FPS_MODE = spawnSync(SYSTEM_FFMPEG, ['-hide_banner', '-h', 'long']).stdout?.toString().includes('-fps_mode') ?? false;
/** `-fps_mode <mode>`, spelled `-vsync <mode>` for builds older than 5.1. */
export function fpsMode(mode: 'passthrough' | 'vfr'): string[] {
  return [HAS_FPS_MODE ? '-fps_mode' : '-vsync', mode];
}
const PASSTHROUGH = fpsMode('passthrough');

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `stnet-${prefix}-`));
}

/** Runs the system ffmpeg to make a fixture (argument array, quiet). */
export async function ffmpegMake(args: string[]): Promise<void> {
  await run(SYSTEM_FFMPEG, ['-hide_banner', '-v', 'error', '-nostdin', '-y', ...args]);
}

/** Every frame of the first video stream as RGB, decoded independently of src/ (plain ffmpeg CLI). */
export function fullDecode(path: string, width: number, height: number, extra: string[] = []): Uint8Array[] {
  const r = spawnSync(SYSTEM_FFMPEG, ['-hide_banner', '-v', 'error', '-nostdin', ...extra, '-i', `file:${path}`, '-map', '0:v:0', ...PASSTHROUGH, '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1'], {
    maxBuffer: 1 << 30,
  });
  if (r.status !== 0) throw new Error(`reference decode of ${path} failed: ${r.stderr.toString()}`);
  const size = width * height * 3;
  const out: Uint8Array[] = [];
  for (let o = 0; o + size <= r.stdout.length; o += size) out.push(new Uint8Array(r.stdout.subarray(o, o + size)));
  return out;
}

/** The clip built from independently decoded frames with the (separately verified) pure transforms. */
export function expectClipMatches(clip: Clip, frames: Uint8Array[], opts: Required<Pick<LoadVideoOptions, 'seglen' | 'shortSize' | 'targetSize'>>): void {
  const { width, height } = clip.info;
  const [rw, rh] = groupScaleSize(width, height, opts.shortSize);
  const { x, y } = centerCropOffsets(rw, rh, opts.targetSize);
  const t = opts.targetSize;
  clip.info.frameIndices.forEach((idx, k) => {
    const src = { width, height, data: frames[idx]! };
    const resized = rw === width && rh === height ? src : resizeBilinear(src, rw, rh);
    const want = normalizeToChw(cropRgb(resized, x, y, t, t));
    const off = frameOffset(k, opts.seglen, t);
    const got = clip.data.subarray(off, off + want.length);
    let same = true;
    for (let i = 0; i < want.length; i++) if (got[i] !== want[i]) { same = false; break; }
    expect(same, `sampled frame ${k} (video frame ${idx})`).toBe(true);
  });
}

/** pid -> [comm, ppid] of every live process, read from /proc. */
function processTable(): Map<number, [string, number]> {
  const table = new Map<number, [string, number]>();
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      // pid (comm) state ppid ...: comm may contain spaces, so split after the last ')'.
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      table.set(Number(pid), [comm, Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])]);
    } catch {
      // the process ended while we looked
    }
  }
  return table;
}

/** A live process: its pid, command name and command line (arguments joined by spaces, as `ps -o args` shows). */
export interface LiveProcess {
  readonly pid: number;
  readonly comm: string;
  readonly args: string;
}

/** Live descendants of process `root` (default: this one), children of stnet's process helper included. */
export function descendants(root = process.pid): LiveProcess[] {
  const table = processTable();
  const found: LiveProcess[] = [];
  const parents = new Set([root]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const [pid, [comm, ppid]] of table) {
      if (parents.has(ppid) && !parents.has(pid)) {
        parents.add(pid);
        let args = comm;
        try {
          args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ') || comm;
        } catch {
          // ended meanwhile
        }
        found.push({ pid, comm, args });
        grew = true;
      }
    }
  }
  return found;
}

/**
 * Live descendants of this process whose command is ffmpeg, ffprobe or sleep (the fake ffmpeg): children, and
 * the children of stnet's process helper (src/video/spawner.ts), which starts them once this process is big.
 */
export function mediaChildren(): string[] {
  return descendants().filter((p) => /ffmpeg|ffprobe|sleep|fake/.test(p.comm)).map((p) => `${p.pid} ${p.comm}`);
}

/** Pids of this process's live process helpers (src/video/spawn-helper.js). */
export function helperPids(): number[] {
  return descendants().filter((p) => p.args.includes('spawn-helper.js')).map((p) => p.pid);
}

/** A fake ffmpeg that identifies itself, then hangs in `sleep` (pid written to $STNET_FAKE_PIDFILE). */
export function writeHangingFfmpeg(dir: string): string {
  const p = join(dir, 'ffmpeg');
  writeFileSync(
    p,
    [
      '#!/bin/sh',
      'case "$*" in',
      '  *-version*) echo "ffmpeg version 9.9-fake"; exit 0 ;;',
      '  *"-h long"*) echo " -fps_mode           set framerate mode"; exit 0 ;;',
      'esac',
      'echo $$ > "$STNET_FAKE_PIDFILE"',
      'exec sleep 30',
      '',
    ].join('\n'),
    { mode: 0o755 },
  );
  return p;
}

/**
 * Points STNET_FFMPEG at a new hanging fake ffmpeg in a folder of its own under `dir` (the real ffprobe is kept)
 * and returns the file where the fake writes its pid.
 */
export function useHangingFfmpeg(dir: string): string {
  const fake = join(dir, `fake-${Date.now()}`);
  mkdirSync(fake);
  process.env.STNET_FFMPEG = writeHangingFfmpeg(fake);
  delete process.env.STNET_FFPROBE;
  process.env.STNET_FAKE_PIDFILE = join(fake, 'pid');
  clearFfmpegCache();
  return join(fake, 'pid');
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
