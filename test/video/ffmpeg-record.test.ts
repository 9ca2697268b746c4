// The on-disk record of ffmpeg discovery (src/video/ffmpeg.ts): a new process that finds the same binary files
// runs none of them; a changed binary, a damaged or tampered record, or an unwritable place only mean the
// probes run again. Fake ffmpeg/ffprobe scripts log every invocation, so "ran" and "did not run" are observed.
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { clearFfmpegCache, findFfmpeg, keepFfmpegRecord, saveFfmpegRecord } from '../../src/video/ffmpeg.js';
import { tempDir } from './helpers.js';

const saved = { ffmpeg: process.env.STNET_FFMPEG, ffprobe: process.env.STNET_FFPROBE };
let dir = '';
let log = '';
let record = '';
let n = 0;

/** Writes fake binaries that answer -version (and ffmpeg's -h long) and append their arguments to `log`. */
function fakeTools(version: string, fpsMode: boolean): { ffmpeg: string; ffprobe: string } {
  const bin = join(dir, 'bin');
  mkdirSync(bin, { recursive: true });
  const script = (tool: string): string =>
    [
      '#!/bin/sh',
      `echo "${tool} $*" >> "${log}"`,
      `case "$*" in *-version*) echo "${tool} version ${version} Copyright"; exit 0 ;; esac`,
      `case "$*" in *"-h long"*) echo "${fpsMode ? '-fps_mode            set framerate mode' : '-vsync              video sync method'}"; exit 0 ;; esac`,
      'exit 1',
      '',
    ].join('\n');
  const ffmpeg = join(bin, 'ffmpeg');
  const ffprobe = join(bin, 'ffprobe');
  writeFileSync(ffmpeg, script('ffmpeg'), { mode: 0o755 });
  writeFileSync(ffprobe, script('ffprobe'), { mode: 0o755 });
  process.env.STNET_FFMPEG = ffmpeg;
  process.env.STNET_FFPROBE = ffprobe;
  return { ffmpeg, ffprobe };
}

const runs = (): string[] => (existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n') : []);

/** A new process that ends well: no in-process cache, the record file on disk, what it learned saved. */
async function freshFind(): Promise<Awaited<ReturnType<typeof findFfmpeg>>> {
  clearFfmpegCache();
  const info = await findFfmpeg();
  saveFfmpegRecord();
  return info;
}

beforeEach(() => {
  dir = tempDir(`ffmpeg-record-${n++}`);
  log = join(dir, 'runs.log');
  record = join(dir, 'home', 'tools', 'ffmpeg.json');
  keepFfmpegRecord(record);
});

afterEach(() => {
  keepFfmpegRecord(undefined);
  for (const [k, v] of [['STNET_FFMPEG', saved.ffmpeg], ['STNET_FFPROBE', saved.ffprobe]] as const) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  clearFfmpegCache();
  rmSync(dir, { recursive: true, force: true });
});

describe('the ffmpeg record', () => {
  it('the first process runs the three probes and writes the record; the next one runs none and sees the same', async () => {
    const { ffmpeg, ffprobe } = fakeTools('7.7-fake', true);
    const first = await freshFind();
    expect(first).toMatchObject({ ffmpeg, ffprobe, source: 'env', version: '7.7-fake', ffprobeVersion: '7.7-fake', passthroughArgs: ['-fps_mode', 'passthrough'] });
    expect(runs().sort()).toEqual(['ffmpeg -hide_banner -h long', 'ffmpeg -hide_banner -version', 'ffprobe -hide_banner -version']);
    const written = JSON.parse(readFileSync(record, 'utf8')) as { format: number; tools: Array<Record<string, unknown>> };
    expect(written.format).toBe(1);
    expect(written.tools).toHaveLength(1);
    expect(written.tools[0]).toMatchObject({ ffmpeg, ffprobe, version: '7.7-fake', ffprobeVersion: '7.7-fake', fpsMode: true });

    const second = await freshFind();
    expect(second).toEqual(first);
    expect(runs()).toHaveLength(3);
  });

  it('a binary replaced in place (another version, no -fps_mode) is run again and the record follows it', async () => {
    fakeTools('7.7-fake', true);
    await freshFind();
    fakeTools('4.1-older', false);
    const after = await freshFind();
    expect(after).toMatchObject({ version: '4.1-older', ffprobeVersion: '4.1-older', passthroughArgs: ['-vsync', 'passthrough'] });
    expect(runs()).toHaveLength(6);
    expect(await freshFind()).toEqual(after);
    expect(runs()).toHaveLength(6);
  });

  it('ffprobe alone replaced in place (ffmpeg untouched) is run again: each binary has its own identity', async () => {
    const { ffprobe } = fakeTools('7.7-fake', true);
    await freshFind();
    writeFileSync(ffprobe, readFileSync(ffprobe, 'utf8').replace('7.7-fake', '7.8-newer'));
    expect(await freshFind()).toMatchObject({ version: '7.7-fake', ffprobeVersion: '7.8-newer' });
    expect(runs()).toHaveLength(6);
  });

  it('a damaged record, or one whose entry is not what the code writes, is ignored and rewritten', async () => {
    const { ffmpeg, ffprobe } = fakeTools('7.7-fake', true);
    await freshFind();
    const good = JSON.parse(readFileSync(record, 'utf8')) as { tools: Array<Record<string, unknown>> };
    for (const bad of [
      '{ not json',
      JSON.stringify({ format: 2, tools: good.tools }),
      // arguments in place of the flag: nothing read from the file may reach ffmpeg's command line
      JSON.stringify({ format: 1, tools: [{ ...good.tools[0], fpsMode: ['-i', '/etc/passwd'] }] }),
      JSON.stringify({ format: 1, tools: [{ ...good.tools[0], version: 7 }] }),
    ]) {
      writeFileSync(record, bad);
      const before = runs().length;
      expect(await freshFind()).toMatchObject({ ffmpeg, ffprobe, version: '7.7-fake', passthroughArgs: ['-fps_mode', 'passthrough'] });
      expect(runs().length).toBe(before + 3);
      expect(JSON.parse(readFileSync(record, 'utf8'))).toEqual(good);
    }
  });

  it('records each ffmpeg/ffprobe pair: switching between two builds runs neither again', async () => {
    const a = fakeTools('7.7-fake', true);
    await freshFind();
    process.env.STNET_FFPROBE = join(dir, 'other', 'ffprobe');
    mkdirSync(join(dir, 'other'));
    writeFileSync(process.env.STNET_FFPROBE, readFileSync(a.ffprobe, 'utf8').replace('7.7-fake', '6.0-other'), { mode: 0o755 });
    expect(await freshFind()).toMatchObject({ ffprobe: process.env.STNET_FFPROBE, ffprobeVersion: '6.0-other' });
    expect(runs()).toHaveLength(6);
    process.env.STNET_FFPROBE = a.ffprobe;
    expect(await freshFind()).toMatchObject({ ffprobeVersion: '7.7-fake' });
    expect(runs()).toHaveLength(6);
    expect((JSON.parse(readFileSync(record, 'utf8')) as { tools: unknown[] }).tools).toHaveLength(2);
  });

  it('a record that cannot be written (its folder is a file) changes nothing but the probes running each time', async () => {
    fakeTools('7.7-fake', true);
    mkdirSync(join(dir, 'home'));
    writeFileSync(join(dir, 'home', 'tools'), 'a file where the folder would go');
    expect(await freshFind()).toMatchObject({ version: '7.7-fake' });
    expect(await freshFind()).toMatchObject({ version: '7.7-fake' });
    expect(runs()).toHaveLength(6);
    expect(existsSync(record)).toBe(false);
  });

  it('a process that does not save (a command that failed) writes nothing; the next one probes again', async () => {
    fakeTools('7.7-fake', true);
    await findFfmpeg();
    expect(existsSync(join(dir, 'home'))).toBe(false);
    await freshFind();
    expect(runs()).toHaveLength(6);
    expect(existsSync(record)).toBe(true);
  });

  it('off (the default for library calls): nothing is written', async () => {
    keepFfmpegRecord(undefined);
    fakeTools('7.7-fake', true);
    await freshFind();
    await freshFind();
    expect(runs()).toHaveLength(6);
    expect(existsSync(join(dir, 'home'))).toBe(false);
  });
});
