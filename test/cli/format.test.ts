// Pure parts of the CLI: output formats, the option table's parsing, the list-file reader, colour rules.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { VideoResult } from '../../src/classify.js';
import { csvField, formatter } from '../../src/cli/format.js';
import { INT_OPTIONS, flagOf, toClassifyOptions, toRunValues, toServeOptions } from '../../src/cli/options.js';
import { readList } from '../../src/cli/program.js';
import { colorEnabled } from '../../src/cli/progress.js';

const OK: VideoResult = {
  path: 'clips/a, "b".mp4',
  ok: true,
  predictions: [
    { label: 'archery', index: 5, prob: 0.9312 },
    { label: "massaging_person's_head", index: 196, prob: 0.0123456 },
  ],
  timing: { decodeMs: 812.4, inferMs: 1500.6 },
};
const BAD: VideoResult = { path: 'gone.mp4', ok: false, error: { code: 'E_VIDEO_NOT_FOUND', message: 'Video not found: /x/gone.mp4' } };

describe('formats', () => {
  it('json: one pretty array at the end, nothing per item', () => {
    const f = formatter('json');
    expect(f.header + f.item(OK) + f.item(BAD)).toBe('');
    expect(JSON.parse(f.footer([OK, BAD]))).toEqual([OK, BAD]);
  });

  it('jsonl: one compact line per video as it finishes', () => {
    const f = formatter('jsonl');
    expect(f.item(OK)).toBe(`${JSON.stringify(OK)}\n`);
    expect(f.item(BAD)).toBe('{"path":"gone.mp4","ok":false,"error":{"code":"E_VIDEO_NOT_FOUND","message":"Video not found: /x/gone.mp4"}}\n');
    expect(f.footer([OK, BAD])).toBe('');
  });

  it('csv: a header, one row per prediction, one row per failed video; RFC 4180 quoting', () => {
    const f = formatter('csv');
    expect(f.header).toBe('path,rank,label,index,prob,error_code,error_message\n');
    expect(f.item(OK)).toBe('"clips/a, ""b"".mp4",1,archery,5,0.9312,,\n"clips/a, ""b"".mp4",2,massaging_person\'s_head,196,0.0123456,,\n');
    expect(f.item(BAD)).toBe('gone.mp4,,,,,E_VIDEO_NOT_FOUND,Video not found: /x/gone.mp4\n');
    expect(csvField('line\nbreak')).toBe('"line\nbreak"');
    expect(csvField(3)).toBe('3');
  });

  it('text: path with timing, aligned ranks and 4-decimal probabilities; errors inline', () => {
    const f = formatter('text');
    expect(f.item(OK)).toBe(
      'clips/a, "b".mp4  (decode 812 ms, infer 1501 ms)\n' +
        '    1. archery                  0.9312\n' +
        "    2. massaging_person's_head  0.0123\n",
    );
    expect(f.item(BAD)).toBe('gone.mp4\n  error E_VIDEO_NOT_FOUND: Video not found: /x/gone.mp4\n');
  });

  it('text with colour: bold path, red error code', () => {
    const f = formatter('text', { color: true });
    expect(f.item(BAD)).toBe('\x1b[1mgone.mp4\x1b[22m\n  \x1b[31merror E_VIDEO_NOT_FOUND\x1b[39m: Video not found: /x/gone.mp4\n');
  });
});

describe('colour only on a terminal without NO_COLOR', () => {
  const saved = process.env.NO_COLOR;
  afterAll(() => {
    if (saved === undefined) delete process.env.NO_COLOR;
    else process.env.NO_COLOR = saved;
  });
  it.each([
    [true, undefined, true],
    [true, '1', false],
    [true, '', true],
    [false, undefined, false],
  ])('isTTY=%s NO_COLOR=%s -> %s', (isTTY, noColor, expected) => {
    if (noColor === undefined) delete process.env.NO_COLOR;
    else process.env.NO_COLOR = noColor;
    expect(colorEnabled({ isTTY } as NodeJS.WriteStream)).toBe(expected);
  });
});

describe('option table: snake_case flags -> camelCase options', () => {
  it('parses every integer flag and leaves absent ones undefined', () => {
    const v = toRunValues({ input_path: ['a.mp4'], top_k: '3', seg_num: '7', short_size: '112', target_size: '112', threads: '2', decode_timeout: '5000' });
    expect(v).toMatchObject({ inputPaths: ['a.mp4'], topK: 3, segNum: 7, shortSize: 112, targetSize: 112, threads: 2, decodeTimeoutMs: 5000, useGpu: false, quiet: false });
    expect(toClassifyOptions(v)).toEqual({ topK: 3, segNum: 7, shortSize: 112, targetSize: 112, decodeTimeoutMs: 5000 });
    expect(toClassifyOptions(toRunValues({}))).toEqual({});
  });

  it.each([
    [{ top_k: '5x' }, /Expected integer between 1 and 400 for --top_k but received "5x"/],
    [{ top_k: '' }, /for --top_k but received ""/],
    [{ seg_num: '1e3' }, /for --seg_num but received "1e3"/],
    [{ threads: '0' }, /Expected integer between 1 and 1024 for --threads but received 0/],
    [{ format: 'XML' }, /Expected one of text, json, jsonl, csv for --format but received "XML"/],
  ])('%j is refused', (raw, re) => {
    expect(() => toRunValues(raw)).toThrow(re);
  });

  it('every integer option has a flag in the hub style and a camelCase key', () => {
    for (const o of INT_OPTIONS) {
      expect(o.flag).toMatch(/^--[a-z]+(_[a-z]+)*$/);
      expect(flagOf(o.key)).toBe(o.flag);
    }
  });
});

describe('serve flags -> ServeOptions', () => {
  it('translates every flag; absent ones stay absent so the server defaults apply', () => {
    expect(toServeOptions({})).toEqual({ classifyDefaults: {} });
    expect(
      toServeOptions({
        host: '0.0.0.0',
        port: '8080',
        workers: '2',
        threads: '3',
        max_queue: '9',
        shutdown_grace_ms: '500',
        max_upload_mb: '1.5',
        token: 't',
        log: true,
        weights: 'w.pdparams',
        seg_num: '7',
        short_size: '128',
        target_size: '112',
      }),
    ).toEqual({
      host: '0.0.0.0',
      port: 8080,
      workers: 2,
      threads: 3,
      maxQueue: 9,
      shutdownGraceMs: 500,
      maxUploadMb: 1.5,
      token: 't',
      log: true,
      weights: 'w.pdparams',
      classifyDefaults: { segNum: 7, shortSize: 128, targetSize: 112 },
    });
  });
});

describe('readList', () => {
  const dir = mkdtempSync(join(tmpdir(), 'stnet-list-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('skips blank lines and # comments, trims, handles CRLF and a BOM, keeps relative paths as written', async () => {
    writeFileSync(join(dir, 'l.txt'), '\uFEFF# header\r\na.mp4\r\n\r\n  sub/b.avi  \n#c.mp4\n/abs/d.mp4\n');
    expect(await readList('l.txt', dir)).toEqual(['a.mp4', 'sub/b.avi', '/abs/d.mp4']);
  });

  it('a directory, a missing file and an empty list are usage errors naming the file', async () => {
    await expect(readList('.', dir)).rejects.toMatchObject({ code: 'E_INVALID_OPTION', message: `--input_file ${dir} is a directory, not a list file` });
    await expect(readList('nope.txt', dir)).rejects.toMatchObject({ message: `--input_file ${join(dir, 'nope.txt')} not found` });
    writeFileSync(join(dir, 'e.txt'), '\n# only\n');
    await expect(readList('e.txt', dir)).rejects.toMatchObject({ message: expect.stringMatching(/lists no videos/) });
  });
});
