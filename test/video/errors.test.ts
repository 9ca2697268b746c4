// Bad input: each case gets its stable code, the path in the message, no ffmpeg/ffprobe left running and no
// temporary file (TMPDIR points at an empty folder during the call; ffmpeg and ffprobe inherit it).
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { LOAD_VIDEO_DEFAULTS, LOAD_VIDEO_LIMITS, loadVideo, resolveLoadVideoOptions, type LoadVideoOptions } from '../../src/video/load-video.js';
import { clearFfmpegCache, findFfmpeg } from '../../src/video/ffmpeg.js';
import { StnetError } from '../../src/errors.js';
import { PATH_FFMPEG, SYSTEM_FFMPEG, ffmpegMake, isAlive, mediaChildren, tempDir, useHangingFfmpeg } from './helpers.js';

const SMALL = { segNum: 7, seglen: 5, shortSize: 112, targetSize: 112 };
let dir = '';
let tmp = '';
const f = (name: string): string => join(dir, name);
const saved = { ffmpeg: process.env.STNET_FFMPEG, ffprobe: process.env.STNET_FFPROBE, path: process.env.PATH, tmpdir: process.env.TMPDIR };

function restoreEnv(): void {
  for (const [k, v] of [['STNET_FFMPEG', saved.ffmpeg], ['STNET_FFPROBE', saved.ffprobe], ['PATH', saved.path], ['TMPDIR', saved.tmpdir]] as const) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  clearFfmpegCache();
}

beforeAll(async () => {
  dir = tempDir('errors');
  tmp = join(dir, 'tmp');
  mkdirSync(tmp);
  mkdirSync(f('a directory.mp4'));
  writeFileSync(f('empty.mp4'), '');
  writeFileSync(f('notes.mp4'), 'this is a text file, not a video\n');
  // A header-only YUV4MPEG stream: a video stream (64x48 rawvideo) with zero frames.
  writeFileSync(f('zero-frames.y4m'), 'YUV4MPEG2 W64 H48 F10:1 Ip A1:1 C420jpeg\n');
  await Promise.all([
    ffmpegMake(['-f', 'lavfi', '-i', 'sine=duration=1', '-c:a', 'aac', f('audio-only.m4a')]),
    ffmpegMake(['-f', 'lavfi', '-i', 'testsrc2=size=64x48:rate=10:duration=2', '-c:v', 'libx264', '-pix_fmt', 'yuv420p', '-preset', 'ultrafast', f('ok.mp4')]),
    ffmpegMake(['-f', 'lavfi', '-i', 'testsrc2=size=64x48:rate=10:duration=2', '-c:v', 'libx264', '-pix_fmt', 'yuv420p', '-preset', 'ultrafast', '-movflags', '+faststart', f('fast.mp4')]),
  ]);
  // moov at the end, file cut at 60%: there is no header to read.
  const whole = readFileSync(f('ok.mp4'));
  writeFileSync(f('cut-no-header.mp4'), whole.subarray(0, Math.floor(whole.length * 0.6)));
  // moov first, but the data stops inside the first frame: a header and not one decodable frame.
  const fast = readFileSync(f('fast.mp4'));
  const mdat = fast.indexOf('mdat');
  expect(mdat).toBeGreaterThan(0);
  writeFileSync(f('cut-first-frame.mp4'), fast.subarray(0, mdat + 4 + 40));
}, 60_000);

afterEach(restoreEnv);
afterAll(() => {
  restoreEnv();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Runs loadVideo expecting a StnetError; checks code, path, no child left, no temp file. */
async function expectFailure(path: string, code: string, message: RegExp, opts: LoadVideoOptions = SMALL): Promise<StnetError> {
  process.env.TMPDIR = tmp;
  let caught: unknown;
  try {
    await loadVideo(path, opts);
  } catch (err) {
    caught = err;
  } finally {
    process.env.TMPDIR = saved.tmpdir ?? '';
    if (saved.tmpdir === undefined) delete process.env.TMPDIR;
  }
  expect(caught).toBeInstanceOf(StnetError);
  const err = caught as StnetError;
  expect(err.code).toBe(code);
  expect(err.message).toMatch(message);
  expect(mediaChildren()).toEqual([]);
  expect(readdirSync(tmp)).toEqual([]);
  return err;
}

describe('bad files', () => {
  it('missing path -> E_VIDEO_NOT_FOUND, "not found" with the path', async () => {
    const err = await expectFailure(f('nope.mp4'), 'E_VIDEO_NOT_FOUND', /Video not found: .*nope\.mp4/);
    expect(err.path).toBe(f('nope.mp4'));
  });

  it('a directory -> E_VIDEO_NOT_FILE', async () => {
    await expectFailure(f('a directory.mp4'), 'E_VIDEO_NOT_FILE', /a directory\.mp4 is a directory/);
  });

  it('an empty file -> E_VIDEO_EMPTY', async () => {
    await expectFailure(f('empty.mp4'), 'E_VIDEO_EMPTY', /empty \(0 bytes\): .*empty\.mp4/);
  });

  it('a text file named .mp4 -> E_VIDEO_UNDECODABLE with ffprobe\'s reason', async () => {
    await expectFailure(f('notes.mp4'), 'E_VIDEO_UNDECODABLE', /cannot read .*notes\.mp4 as a video: .*(moov atom not found|Invalid data)/);
  });

  it('a truncated mp4 without its header (moov at the end) -> E_VIDEO_UNDECODABLE', async () => {
    await expectFailure(f('cut-no-header.mp4'), 'E_VIDEO_UNDECODABLE', /cut-no-header\.mp4 as a video: .*moov atom not found/);
  });

  it('a truncated mp4 in which not one frame decodes -> E_VIDEO_NO_FRAMES', async () => {
    await expectFailure(f('cut-first-frame.mp4'), 'E_VIDEO_NO_FRAMES', /cut-first-frame\.mp4/);
  });

  it('an audio-only file -> E_VIDEO_NO_STREAM', async () => {
    await expectFailure(f('audio-only.m4a'), 'E_VIDEO_NO_STREAM', /audio-only\.m4a has no video stream/);
  });

  it('a video stream with zero frames -> E_VIDEO_NO_FRAMES', async () => {
    await expectFailure(f('zero-frames.y4m'), 'E_VIDEO_NO_FRAMES', /zero-frames\.y4m has a video stream \(rawvideo\) but no frames/);
  });
});

describe('options are validated before any work', () => {
  it.each([
    [{ segNum: 0 }, /Expected integer between 1 and 100 for segNum but received 0/],
    [{ segNum: 101 }, /Expected integer between 1 and 100 for segNum but received 101/],
    [{ shortSize: 16, targetSize: 16 }, /Expected integer between 32 and 1024 for shortSize but received 16/],
    [{ targetSize: 2000, shortSize: 2000 }, /Expected integer between 32 and 1024 for shortSize but received 2000/],
    [{ segNum: 2.5 }, /segNum but received 2.5/],
    [{ seglen: -1 }, /seglen but received -1/],
    [{ shortSize: '256' as unknown as number }, /shortSize but received "256"/],
    [{ targetSize: 300 }, /Expected integer <= shortSize \(256\) for targetSize but received 300/],
    [{ shortSize: 112 }, /targetSize but received 256/], // default target 256 > 112
    [{ timeoutMs: 0 }, /Expected integer between 1 and 86400000 for timeoutMs but received 0/],
    [{ timeoutMs: 2.5 }, /Expected integer between 1 and 86400000 for timeoutMs but received 2.5/],
    [{ timeoutMs: Number.POSITIVE_INFINITY }, /for timeoutMs but received Infinity/],
    [{ signal: 'stop' as unknown as AbortSignal }, /AbortSignal for signal/],
    [{ segnum: 7 } as unknown as LoadVideoOptions, /Unknown loadVideo option "segnum" \(did you mean segNum\?\)/],
    [{ segNum: 100, seglen: 64, targetSize: 256 }, /segNum \* seglen \* 3 \* targetSize\^2 <= 536870912 but received 100\*64\*3\*256\^2/],
    [{ segNum: 2, targetSize: 32, shortSize: 32, output: new Float32Array(10) }, /a Float32Array of segNum \* seglen \* 3 \* targetSize\^2 = 30720 values for output but received "?one of 10/],
    [{ output: new Float64Array(3) as unknown as Float32Array }, /a Float32Array of .* values for output/],
  ])('%j -> E_INVALID_OPTION', async (opts, message) => {
    expect(() => resolveLoadVideoOptions(opts)).toThrow(message);
    // a missing file with bad options reports the options: nothing was touched yet
    await expectFailure(f('nope.mp4'), 'E_INVALID_OPTION', message, opts);
  });

  it('defaults are the reference inference settings', () => {
    expect(resolveLoadVideoOptions()).toEqual({ segNum: 25, seglen: 5, shortSize: 256, targetSize: 256, timeoutMs: undefined, signal: undefined, niceness: 0, output: undefined });
    expect(resolveLoadVideoOptions()).toMatchObject(LOAD_VIDEO_DEFAULTS);
  });

  it('the bounds are LOAD_VIDEO_LIMITS, both ends accepted', () => {
    for (const [key, [min, max]] of Object.entries(LOAD_VIDEO_LIMITS)) {
      const base = { segNum: 1, seglen: 1, shortSize: 32, targetSize: 32 };
      expect(resolveLoadVideoOptions({ ...base, [key]: min })).toMatchObject({ [key]: min });
      if (key !== 'targetSize') expect(resolveLoadVideoOptions({ ...base, [key]: max })).toMatchObject({ [key]: max });
      expect(() => resolveLoadVideoOptions({ ...base, [key]: max + 1 })).toThrow(new RegExp(`Expected integer between ${min} and ${max} for ${key} but received ${max + 1}`));
    }
    expect(resolveLoadVideoOptions({ segNum: 1, seglen: 1, shortSize: 1024, targetSize: 1024 })).toMatchObject({ targetSize: 1024 });
  });

  it('messages use the caller\'s names for the options (classify: decodeTimeoutMs; the CLI: --seg_num)', () => {
    const cli = (k: string): string => (k === 'timeoutMs' ? '--decode_timeout' : `--${k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)}`);
    expect(() => resolveLoadVideoOptions({ segNum: 0 }, cli)).toThrow(/Expected integer between 1 and 100 for --seg_num but received 0/);
    expect(() => resolveLoadVideoOptions({ timeoutMs: 1.5 }, cli)).toThrow(/for --decode_timeout but received 1.5/);
    expect(() => resolveLoadVideoOptions({ shortSize: 64, targetSize: 65 }, cli)).toThrow(/Expected integer <= --short_size \(64\) for --target_size but received 65/);
  });
});

describe('ffmpeg discovery', () => {
  it('STNET_FFMPEG pointing at a missing file -> E_FFMPEG_MISSING saying how to get ffmpeg', async () => {
    process.env.STNET_FFMPEG = join(dir, 'no-such-ffmpeg');
    clearFfmpegCache();
    await expectFailure(f('ok.mp4'), 'E_FFMPEG_MISSING', /STNET_FFMPEG points to .*no-such-ffmpeg, which does not exist.*apt-get install ffmpeg/);
  });

  it('STNET_FFPROBE pointing at a file that is not executable -> E_FFMPEG_MISSING', async () => {
    writeFileSync(f('ffprobe-text'), 'not a program');
    chmodSync(f('ffprobe-text'), 0o644);
    process.env.STNET_FFPROBE = f('ffprobe-text');
    clearFfmpegCache();
    await expectFailure(f('ok.mp4'), 'E_FFMPEG_MISSING', /STNET_FFPROBE points to .*ffprobe-text, which is not an executable file/);
  });

  it('order: env, then PATH, then the bundled binaries (which run offline)', async () => {
    delete process.env.STNET_FFMPEG;
    delete process.env.STNET_FFPROBE;
    clearFfmpegCache();
    const fromPath = await findFfmpeg();
    if (PATH_FFMPEG) {
      expect(fromPath.source).toBe('path');
      expect(fromPath.ffmpeg).toBe(PATH_FFMPEG);
      // ffmpeg >= 5.1 (Debian bookworm's 5.1.9 here) has -fps_mode
      if (/^(5\.[1-9]|[6-9]\.|\d\d\.)/.test(fromPath.version)) expect(fromPath.passthroughArgs).toEqual(['-fps_mode', 'passthrough']);
    } else {
      expect(fromPath.source).toBe('bundled');
    }
    expect(await findFfmpeg()).toBe(fromPath); // cached

    process.env.PATH = join(dir, 'empty-path-dir');
    clearFfmpegCache();
    const bundled = await findFfmpeg();
    expect(bundled.source).toBe('bundled');
    expect(bundled.ffprobeSource).toBe('bundled');
    expect(bundled.ffmpeg).toMatch(/@ffmpeg-installer/);
    // The 2018 static build predates -fps_mode.
    expect(bundled.passthroughArgs).toEqual(['-vsync', 'passthrough']);
    const clip = await loadVideo(f('ok.mp4'), SMALL);
    expect(clip.info.frameCount).toBe(20);

    process.env.PATH = saved.path;
    process.env.STNET_FFMPEG = SYSTEM_FFMPEG;
    clearFfmpegCache();
    const fromEnv = await findFfmpeg();
    expect(fromEnv.source).toBe('env');
    expect(fromEnv.ffmpeg).toBe(SYSTEM_FFMPEG);
    const beside = join(dirname(SYSTEM_FFMPEG), 'ffprobe');
    if (existsSync(beside)) expect(fromEnv.ffprobe).toBe(beside); // the one beside STNET_FFMPEG
  });
});

describe('a crashing ffprobe', () => {
  it('a binary that dies of a signal is reported as a crash of that build -> E_VIDEO_UNDECODABLE', async () => {
    const fake = join(dir, 'crashing');
    mkdirSync(fake, { recursive: true });
    const probe = join(fake, 'ffprobe');
    writeFileSync(probe, ['#!/bin/sh', 'case "$*" in *-version*) echo "ffprobe version 9.9-crashy"; exit 0 ;; esac', 'kill -SEGV $$', ''].join('\n'), { mode: 0o755 });
    process.env.STNET_FFPROBE = probe;
    clearFfmpegCache();
    await expectFailure(f('ok.mp4'), 'E_VIDEO_UNDECODABLE', /ffprobe 9\.9-crashy \(.*crashing\/ffprobe\) crashed \(SIGSEGV\) reading .*ok\.mp4: a bug of that build/);
  });
});

describe('hanging decode and cancellation', () => {
  it('timeoutMs stops a decode that hangs -> E_VIDEO_TIMEOUT, the child is killed', async () => {
    const pidFile = useHangingFfmpeg(dir);
    const t0 = Date.now();
    // 4 s covers the real ffprobe run even on a loaded machine; the fake ffmpeg then hangs until killed.
    await expectFailure(f('ok.mp4'), 'E_VIDEO_TIMEOUT', /Decoding .*ok\.mp4 took longer than the timeout of 4000 ms/, { ...SMALL, timeoutMs: 4000 });
    expect(Date.now() - t0).toBeLessThan(8000);
    const pid = Number(readFileSync(pidFile, 'utf8'));
    expect(isAlive(pid)).toBe(false);
  });

  it('aborting the signal kills ffmpeg at once -> E_CANCELLED', async () => {
    const pidFile = useHangingFfmpeg(dir);
    const ac = new AbortController();
    let abortedAt = 0;
    // Abort once the (fake) ffmpeg is running, i.e. mid-decode: once its pid is in the file (the shell creates
    // the file before it writes to it; a kill in between left an empty file, read as pid 0, which is "alive").
    const poll = setInterval(() => {
      if (existsSync(pidFile) && readFileSync(pidFile, 'utf8').trim() !== '') {
        clearInterval(poll);
        abortedAt = Date.now();
        ac.abort();
      }
    }, 20);
    try {
      await expectFailure(f('ok.mp4'), 'E_CANCELLED', /Decoding .*ok\.mp4 was cancelled/, { ...SMALL, signal: ac.signal });
    } finally {
      clearInterval(poll);
    }
    expect(abortedAt).toBeGreaterThan(0);
    expect(Date.now() - abortedAt).toBeLessThan(3000); // SIGKILL, not a graceful stop (loaded CI machines are slow)
    expect(isAlive(Number(readFileSync(pidFile, 'utf8')))).toBe(false);
  });

  it('an already aborted signal rejects before starting anything', async () => {
    await expectFailure(f('ok.mp4'), 'E_CANCELLED', /ok\.mp4 was cancelled/, { ...SMALL, signal: AbortSignal.abort() });
  });
});
