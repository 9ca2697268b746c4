// The process helper (src/video/spawner.ts): once this process is big, ffprobe and ffmpeg are started by a small
// helper process instead of a fork of this one. Forced on here (setHelperMinRss(0)), it must give the same clip
// byte for byte, stop children on timeout and abort as direct runs do, not leak per run, and when it dies fail
// only the run it had, after which children are spawned directly again. Wrapper scripts record each child's parent.
import { readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { getPriority } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { loadVideo } from '../../src/video/load-video.js';
import { clearFfmpegCache, findFfmpeg } from '../../src/video/ffmpeg.js';
import { runChild } from '../../src/video/child.js';
import { setHelperMinRss } from '../../src/video/spawner.js';
import { StnetError } from '../../src/errors.js';
import { ffmpegMake, helperPids, isAlive, mediaChildren, tempDir, useHangingFfmpeg } from './helpers.js';

const SMALL = { segNum: 7, seglen: 5, shortSize: 112, targetSize: 112 };
let dir = '';
const f = (name: string): string => join(dir, name);
const saved = { ffmpeg: process.env.STNET_FFMPEG, ffprobe: process.env.STNET_FFPROBE, pidfile: process.env.STNET_FAKE_PIDFILE };
let real = { ffmpeg: '', ffprobe: '' };
let minRss = 0;

beforeAll(async () => {
  dir = tempDir('spawner');
  clearFfmpegCache();
  const tools = await findFfmpeg();
  real = { ffmpeg: tools.ffmpeg, ffprobe: tools.ffprobe };
  await ffmpegMake(['-f', 'lavfi', '-i', 'testsrc2=size=64x48:rate=10:duration=2', '-c:v', 'libx264', '-pix_fmt', 'yuv420p', '-preset', 'ultrafast', f('ok.mp4')]);
  minRss = setHelperMinRss(0);
}, 60_000);

afterEach(() => {
  for (const [k, v] of [['STNET_FFMPEG', saved.ffmpeg], ['STNET_FFPROBE', saved.ffprobe], ['STNET_FAKE_PIDFILE', saved.pidfile]] as const) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  clearFfmpegCache();
  setHelperMinRss(0);
});
afterAll(() => {
  setHelperMinRss(minRss);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** A wrapper that appends its parent's command line to `log`, then execs the real binary. */
function parentLogging(name: 'ffmpeg' | 'ffprobe'): { bin: string; log: string } {
  const bin = f(`parent-${name}`);
  const log = `${bin}.log`;
  writeFileSync(log, '');
  writeFileSync(bin, [
    '#!/bin/sh',
    `case "$*" in *-version*|*"-h long"*) exec '${real[name]}' "$@" ;; esac`,
    `echo "$PPID $(tr '\\0' ' ' < /proc/$PPID/cmdline)" >> '${log}'`,
    `exec '${real[name]}' "$@"`,
    '',
  ].join('\n'), { mode: 0o755 });
  return { bin, log };
}
const parents = (log: string): Array<{ pid: number; cmd: string }> =>
  readFileSync(log, 'utf8').trim().split('\n').filter(Boolean).map((l) => ({ pid: Number(l.split(' ')[0]), cmd: l.slice(l.indexOf(' ') + 1) }));

function useWrappers(): { ffmpeg: string; ffprobe: string } {
  const ffmpeg = parentLogging('ffmpeg');
  const ffprobe = parentLogging('ffprobe');
  process.env.STNET_FFMPEG = ffmpeg.bin;
  process.env.STNET_FFPROBE = ffprobe.bin;
  clearFfmpegCache();
  return { ffmpeg: ffmpeg.log, ffprobe: ffprobe.log };
}

async function fakePid(pidFile: string): Promise<number> {
  for (let i = 0; i < 200; i++) {
    if (existsSync(pidFile) && readFileSync(pidFile, 'utf8').trim() !== '') return Number(readFileSync(pidFile, 'utf8'));
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error('the fake ffmpeg did not start');
}

async function failure(p: Promise<unknown>): Promise<StnetError> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(StnetError);
  return err as StnetError;
}

describe('children started through the process helper', () => {
  it('setHelperMinRss(Infinity): ffprobe and ffmpeg are children of this process', async () => {
    setHelperMinRss(Infinity);
    const logs = useWrappers();
    await loadVideo(f('ok.mp4'), SMALL);
    expect(parents(logs.ffprobe).map((p) => p.pid)).toEqual([process.pid]);
    expect(parents(logs.ffmpeg).map((p) => p.pid)).toEqual([process.pid]);
  });

  it('gives the clip of a direct run byte for byte, with ffprobe and ffmpeg run by the helper', async () => {
    setHelperMinRss(Infinity);
    const direct = await loadVideo(f('ok.mp4'), SMALL);
    setHelperMinRss(0);
    const logs = useWrappers();
    const helped = await loadVideo(f('ok.mp4'), SMALL);
    expect(Buffer.from(helped.data.buffer).equals(Buffer.from(direct.data.buffer))).toBe(true);
    expect(helped.info).toEqual(direct.info);
    for (const log of [logs.ffprobe, logs.ffmpeg]) {
      const [p, ...more] = parents(log);
      expect(more).toEqual([]);
      expect(p!.pid).not.toBe(process.pid);
      expect(p!.cmd).toMatch(/spawn-helper\.js/);
    }
    expect(helperPids()).toEqual([parents(logs.ffmpeg)[0]!.pid]);
  });

  it('many runs through it: nothing accumulates per run (no listener-leak warning), no child left', async () => {
    const warnings: string[] = [];
    const onWarning = (w: Error): void => void warnings.push(`${w.name}: ${w.message}`);
    process.on('warning', onWarning);
    try {
      for (let i = 0; i < 14; i++) await loadVideo(f('ok.mp4'), { segNum: 3, seglen: 5, shortSize: 64, targetSize: 64 });
      await new Promise((r) => setTimeout(r, 50));
    } finally {
      process.off('warning', onWarning);
    }
    expect(warnings).toEqual([]);
    expect(mediaChildren()).toEqual([]);
    expect(helperPids()).toHaveLength(1);
  });

  it('a binary that does not exist -> E_FFMPEG_MISSING with the spawn error', async () => {
    const err = await failure(runChild(f('no-such-tool'), ['-version'], { deadline: Date.now() + 10_000, timeoutMs: 10_000, path: f('ok.mp4') }));
    expect(err.code).toBe('E_FFMPEG_MISSING');
    expect(err.message).toMatch(/Cannot run .*no-such-tool: spawn .*no-such-tool ENOENT/);
  });

  it('stdin text reaches the child and stdout comes back through the channel', async () => {
    const out: Buffer[] = [];
    const res = await runChild('/bin/cat', [], { deadline: Date.now() + 10_000, timeoutMs: 10_000, path: 'cat' }, (c) => out.push(Buffer.from(c)), { stdin: Promise.resolve('through the helper\n') });
    expect(res.code).toBe(0);
    expect(Buffer.concat(out).toString()).toBe('through the helper\n');
  });

  it('niceness reaches a child the helper runs (field 19 of its /proc stat, relative to this process)', async () => {
    const out: Buffer[] = [];
    const script = "sleep 0.2; cut -d' ' -f19 /proc/$$/stat";
    const res = await runChild('/bin/sh', ['-c', script], { deadline: Date.now() + 10_000, timeoutMs: 10_000, path: 'sh' }, (c) => out.push(Buffer.from(c)), { niceness: 5 });
    expect(res.code).toBe(0);
    expect(Number(Buffer.concat(out).toString().trim())).toBe(Math.min(19, getPriority() + 5));
    expect(helperPids()).toHaveLength(1);
  });

  it('SIGINT and SIGTERM to the helper (a Ctrl-C reaches the whole process group) leave its run alone', async () => {
    const run = runChild('/bin/sleep', ['0.5'], { deadline: Date.now() + 10_000, timeoutMs: 10_000, path: 'sleep' });
    await new Promise((r) => setTimeout(r, 150));
    const [helperPid] = helperPids();
    process.kill(helperPid!, 'SIGINT');
    process.kill(helperPid!, 'SIGTERM');
    expect((await run).code).toBe(0);
    expect(helperPids()).toEqual([helperPid]);
  });

  it('timeoutMs stops a hanging ffmpeg run by the helper -> E_VIDEO_TIMEOUT, the child is killed', async () => {
    const pidFile = useHangingFfmpeg(dir);
    const err = await failure(loadVideo(f('ok.mp4'), { ...SMALL, timeoutMs: 4000 }));
    expect(err.code).toBe('E_VIDEO_TIMEOUT');
    expect(isAlive(Number(readFileSync(pidFile, 'utf8')))).toBe(false);
    expect(mediaChildren()).toEqual([]);
  });

  it('an abort kills the ffmpeg the helper runs -> E_CANCELLED', async () => {
    const pidFile = useHangingFfmpeg(dir);
    const ac = new AbortController();
    const run = loadVideo(f('ok.mp4'), { ...SMALL, signal: ac.signal });
    const pid = await fakePid(pidFile);
    ac.abort();
    const err = await failure(run);
    expect(err.code).toBe('E_CANCELLED');
    expect(isAlive(pid)).toBe(false);
  });

  it('a helper that dies before it is ready: the spawns waiting for it run directly, in their order', async () => {
    // A fresh copy of the module, whose helper is not started yet.
    vi.resetModules();
    const fresh = await import('../../src/video/spawner.js');
    fresh.setHelperMinRss(0);
    const before = helperPids();
    const child = fresh.startChild('/bin/sh', ['-c', 'read line; echo "$PPID $line"'], { stdin: true, stdout: 'pipe' });
    const newHelper = helperPids().filter((p) => !before.includes(p));
    expect(newHelper).toHaveLength(1);
    process.kill(newHelper[0]!, 'SIGKILL');
    child.stdin!.end('queued stdin\n');
    const out: Buffer[] = [];
    child.stdout!.on('data', (c) => out.push(c));
    const [code] = await new Promise<[number | null, NodeJS.Signals | null]>((r) => child.on('close', (c, sig) => r([c, sig])));
    expect(code).toBe(0);
    expect(Buffer.concat(out).toString()).toBe(`${process.pid} queued stdin\n`);
  });

  it('the helper killed mid-run: that run fails saying so, its child is killed, the next run spawns directly', async () => {
    const pidFile = useHangingFfmpeg(dir);
    const run = loadVideo(f('ok.mp4'), SMALL);
    const pid = await fakePid(pidFile);
    const [helperPid, ...others] = helperPids();
    expect(others).toEqual([]);
    process.kill(helperPid!, 'SIGKILL');
    const err = await failure(run);
    expect(err.code).toBe('E_VIDEO_UNDECODABLE');
    expect(err.message).toMatch(/^stnet's process helper \(pid \d+\) exited \(SIGKILL\) while it ran \S+(ffprobe|ffmpeg) \(later runs start their children directly\): \S+ok\.mp4 was not read to the end; run it again$/);
    // Orphaned by the helper, the killed child is reaped by init, which may take a moment: a zombie is dead.
    const dead = (): boolean => {
      try {
        return !isAlive(pid) || / Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8').slice(0, 64));
      } catch {
        return true;
      }
    };
    for (let i = 0; i < 40 && !dead(); i++) await new Promise((r) => setTimeout(r, 25));
    expect(dead()).toBe(true);

    const logs = useWrappers();
    const again = await loadVideo(f('ok.mp4'), SMALL);
    expect(again.info.frameCount).toBe(20);
    expect(parents(logs.ffmpeg).map((p) => p.pid)).toEqual([process.pid]);
    expect(helperPids()).toEqual([]);
  });
});
