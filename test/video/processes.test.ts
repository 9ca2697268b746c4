// How loadVideo runs its children: ffmpeg starts while ffprobe still runs (it waits for its frame selection on
// stdin), the `niceness` option lowers both children's OS priority, and names that could be image2 patterns take
// the plain path. Wrapper scripts around the real binaries record when and at which priority they ran.
import { copyFileSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { getPriority } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadVideo } from '../../src/video/load-video.js';
import { clearFfmpegCache, findFfmpeg } from '../../src/video/ffmpeg.js';
import { expectClipMatches, ffmpegMake, fullDecode, mediaChildren, tempDir } from './helpers.js';

const SMALL = { segNum: 7, seglen: 5, shortSize: 112, targetSize: 112 };
let dir = '';
const f = (name: string): string => join(dir, name);
const saved = { ffmpeg: process.env.STNET_FFMPEG, ffprobe: process.env.STNET_FFPROBE };
let real = { ffmpeg: '', ffprobe: '' };

beforeAll(async () => {
  dir = tempDir('processes');
  clearFfmpegCache();
  const tools = await findFfmpeg();
  real = { ffmpeg: tools.ffmpeg, ffprobe: tools.ffprobe };
  await ffmpegMake(['-f', 'lavfi', '-i', 'testsrc2=size=64x48:rate=10:duration=2', '-c:v', 'libx264', '-pix_fmt', 'yuv420p', '-preset', 'ultrafast', f('ok.mp4')]);
}, 60_000);

afterEach(() => {
  for (const [k, v] of [['STNET_FFMPEG', saved.ffmpeg], ['STNET_FFPROBE', saved.ffprobe]] as const) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  clearFfmpegCache();
});
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/**
 * A wrapper that, for real runs (not discovery's -version / -h), appends "<start ns> <niceness>" to `log`,
 * optionally sleeps, then execs the real binary. Niceness is field 19 of /proc/self/stat.
 */
function wrapper(name: 'ffmpeg' | 'ffprobe', sleepS = 0): { bin: string; log: string } {
  const bin = f(`wrap-${name}-${sleepS}`);
  const log = `${bin}.log`;
  writeFileSync(log, '');
  writeFileSync(bin, [
    '#!/bin/sh',
    `case "$*" in *-version*|*"-h long"*) exec '${real[name]}' "$@" ;; esac`,
    // The parent sets the priority right after spawning; the short sleep lets that land before it is read.
    't=$(date +%s%N); sleep 0.1',
    `echo "$t $(cut -d' ' -f19 /proc/$$/stat)" >> '${log}'`,
    ...(sleepS > 0 ? [`sleep ${sleepS}`] : []),
    `exec '${real[name]}' "$@"`,
    '',
  ].join('\n'), { mode: 0o755 });
  return { bin, log };
}
const entries = (log: string): Array<{ ns: bigint; nice: number }> =>
  readFileSync(log, 'utf8').trim().split('\n').filter(Boolean).map((l) => {
    const [ns, nice] = l.split(' ');
    return { ns: BigInt(ns!), nice: Number(nice) };
  });

describe('loadVideo child processes', () => {
  it('spawns ffmpeg while ffprobe is still running, and the frames are still the sampled ones', async () => {
    const probe = wrapper('ffprobe', 1.5);
    const mpeg = wrapper('ffmpeg');
    process.env.STNET_FFPROBE = probe.bin;
    process.env.STNET_FFMPEG = mpeg.bin;
    clearFfmpegCache();
    const clip = await loadVideo(f('ok.mp4'), SMALL);
    const [p] = entries(probe.log);
    const m = entries(mpeg.log);
    expect(m).toHaveLength(1); // one decode run
    // ffmpeg started before the (sleeping) ffprobe could have finished: well inside its 1.5 s sleep.
    expect(Number(m[0]!.ns - p!.ns) / 1e6).toBeLessThan(1000);
    expect(clip.info.decodePasses).toBe(1);
    expectClipMatches(clip, fullDecode(f('ok.mp4'), 64, 48), SMALL);
    expect(mediaChildren()).toEqual([]);
  });

  it('niceness lowers the priority of ffprobe and ffmpeg (relative to this process); the default keeps it', async () => {
    const probe = wrapper('ffprobe');
    const mpeg = wrapper('ffmpeg');
    process.env.STNET_FFPROBE = probe.bin;
    process.env.STNET_FFMPEG = mpeg.bin;
    clearFfmpegCache();
    const base = getPriority();
    await loadVideo(f('ok.mp4'), { ...SMALL, niceness: 7 });
    await loadVideo(f('ok.mp4'), SMALL);
    // Both runs are checked, so the test fails if the option does nothing or leaks into the next call.
    expect(entries(probe.log).map((e) => e.nice)).toEqual([Math.min(19, base + 7), base]);
    expect(entries(mpeg.log).map((e) => e.nice)).toEqual([Math.min(19, base + 7), base]);
  });

  it('a file name with % (a possible image2 pattern) is decoded by a plain run after the probe', async () => {
    copyFileSync(f('ok.mp4'), f('clip%03d.mp4'));
    const clip = await loadVideo(f('clip%03d.mp4'), SMALL);
    expect(clip.info.frameCount).toBe(20);
    expectClipMatches(clip, fullDecode(f('ok.mp4'), 64, 48), SMALL);
    expect(mediaChildren()).toEqual([]);
  });
});
