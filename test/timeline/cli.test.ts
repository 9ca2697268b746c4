// `stnet timeline` as a user runs it: the real binary, exit code, stdout and stderr together.
import { spawn, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GOLDEN_SKIP_REASON, HAS_GOLDEN, golden, goldenXz } from '../helpers/golden.js';
import { BIN, cleanEnv, ensureBuilt, runCli, type CliRun } from '../cli/run-cli.js';
import { ffmpegMake } from '../video/helpers.js';
import type { WindowResult } from '../../src/timeline/types.js';

const SMALL = ['--seg_num', '7', '--short_size', '112', '--target_size', '112', '--threads', '2'];
const VIDEO = golden('golden_testsrc2_160x120.mp4'); // 20 fps, 60 frames
const W20 = ['--window_frames', '20', '--stride_frames', '15'];

let tmp = '';
let env: NodeJS.ProcessEnv;

beforeAll(() => {
  ensureBuilt();
  tmp = mkdtempSync(join(tmpdir(), 'stnet-timeline-cli-'));
  env = cleanEnv({ STNET_HOME: join(tmp, 'home'), STNET_WEIGHTS_URL: 'http://127.0.0.1:9/never-used' });
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Processes (other than this one's) whose environment holds `marker`: what a CLI run left behind. */
function processesWith(marker: string): string[] {
  const found: string[] = [];
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      if (readFileSync(`/proc/${pid}/environ`, 'latin1').includes(marker)) found.push(pid);
    } catch {
      // gone, or not ours
    }
  }
  return found;
}

describe.concurrent('usage errors: exit 2 before any weights or ffmpeg work', () => {
  it.each([
    [['--window', '10', '--window_frames', '20'], /error E_INVALID_OPTION: Expected the window in seconds \(--window, --stride\) or in frames \(--window_frames, --stride_frames\), not both, but received --window, --window_frames/],
    [['--window_frames', '20', '--stride_frames', '0'], /Expected integer between 1 and \d+ for --stride_frames but received 0/],
    [['--window_frames', '3'], /at least seglen \(5\) frames for --window_frames but received 3/],
    [['--window', 'ten'], /Expected positive number of seconds for --window but received "ten"/],
    [['--stride', '0'], /Expected positive number of seconds for --stride but received "0"/],
    [['--format', 'xml'], /Expected one of text, json, jsonl, csv, vtt for --format but received "xml"/],
    [['--read_timeout', '0'], /Expected integer between 1 and 86400000 for --read_timeout but received 0/],
  ])('%j', async (flags, message) => {
    const r = await runCli(['timeline', '--input_path', VIDEO, ...flags], { env });
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(message);
    expect(r.stderr).toMatch(/\(see stnet timeline --help\)\n$/);
  });

  it('no input', async () => {
    const r = await runCli(['timeline'], { env });
    expect([r.code, r.stdout]).toEqual([2, '']);
    expect(r.stderr).toMatch(/no input given: pass --input_path/);
  });

  it('--input_path - with a terminal on stdin says to pipe a video in', async () => {
    // `script` gives the command a pseudo-terminal as stdin; -e passes its exit code through.
    const r = spawnSync('script', ['-qec', `${process.execPath} ${BIN} timeline --input_path -`, '/dev/null'], { env, encoding: 'utf8', timeout: 60_000 });
    expect(r.status).toBe(2);
    expect(r.stdout).toMatch(/error E_INVALID_OPTION: Expected a video piped into stdin for --input_path - but stdin is a terminal; pipe one in/);
  });

  it('--help lists the window flags, formats and examples', async () => {
    const r = await runCli(['timeline', '--help'], { env });
    expect(r.code).toBe(0);
    for (const flag of ['--window <s>', '--stride <s>', '--window_frames <n>', '--stride_frames <n>', '--read_timeout <ms>', '--embedding', '--format <format>']) expect(r.stdout).toContain(flag);
    expect(r.stdout).toMatch(/text, json, jsonl, csv, vtt/);
    expect(r.stdout).toMatch(/\| stnet timeline --input_path -/);
  });
});


/** Runs the binary with `stdinData` written to its stdin (ended unless `hold`); `onStdout` sees each chunk. */
function runWithStdin(args: string[], stdinData: Buffer, opts: { env: NodeJS.ProcessEnv; hold?: boolean; onStdout?: (all: string, child: ReturnType<typeof spawn>) => void }): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, [BIN, ...args], { env: opts.env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
      opts.onStdout?.(stdout, child);
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.stdin.on('error', () => undefined);
    child.stdin.write(stdinData);
    if (opts.hold !== true) child.stdin.end();
    const timer = setTimeout(() => child.kill('SIGKILL'), 180_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      child.stdin.destroy();
      resolve({ code, stdout, stderr, ms: performance.now() - t0 });
    });
  });
}

describe.skipIf(!HAS_GOLDEN)(`stnet timeline with the golden weights${HAS_GOLDEN ? '' : ` (${GOLDEN_SKIP_REASON})`}`, () => {
  let weights = '';
  let ts: Buffer;
  let longTs: Buffer;
  let fileWindows: WindowResult[];
  beforeAll(async () => {
    weights = await goldenXz('stnet_seed7_q.lodtensor');
    await ffmpegMake(['-i', VIDEO, '-c', 'copy', '-f', 'mpegts', join(tmp, 'v.ts')]);
    ts = readFileSync(join(tmp, 'v.ts'));
    await ffmpegMake(['-f', 'lavfi', '-i', 'testsrc2=size=160x120:rate=20:duration=12', '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', '-f', 'mpegts', join(tmp, 'long.ts')]);
    longTs = readFileSync(join(tmp, 'long.ts'));
  }, 300_000);

  it('json (the default on a pipe): one array of the windows, with embeddings on request', async () => {
    const r = await runCli(['timeline', '--input_path', VIDEO, ...W20, '--top_k', '2', '--embedding', '--weights', weights, ...SMALL], { env });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    fileWindows = JSON.parse(r.stdout) as WindowResult[];
    expect(fileWindows.map((w) => [w.path, w.window, w.startFrame, w.endFrame, w.startSec, w.endSec])).toEqual([
      [VIDEO, 0, 0, 20, 0, 1],
      [VIDEO, 1, 15, 35, 0.75, 1.75],
      [VIDEO, 2, 30, 50, 1.5, 2.5],
      [VIDEO, 3, 40, 60, 2, 3],
    ]);
    for (const w of fileWindows) {
      expect(w.predictions).toHaveLength(2);
      expect(w.predictions[0]!.prob).toBeGreaterThanOrEqual(w.predictions[1]!.prob);
      expect(w.embedding).toHaveLength(1024);
    }
  });

  it('jsonl from stdin (MPEG-TS): the windows of the file, one line each', async () => {
    const r = await runWithStdin(['timeline', '--input_path', '-', ...W20, '--top_k', '2', '--format', 'jsonl', '--weights', weights, ...SMALL], ts, { env });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as WindowResult);
    expect(lines.map((w) => ({ ...w, path: VIDEO }))).toEqual(fileWindows.map(({ embedding: _e, ...w }) => w));
    expect(lines[0]!.path).toBe('-');
  });

  it('vtt, csv and text carry the same windows; a missing input among good ones: exit 1, the others still done', async () => {
    const vtt = await runCli(['timeline', '--input_path', VIDEO, ...W20, '--top_k', '2', '--format', 'vtt', '--weights', weights, ...SMALL], { env });
    expect(vtt.code).toBe(0);
    const [w0, w1] = fileWindows;
    const pct = (p: number): string => `${(p * 100).toFixed(0)}%`;
    const human = (l: string): string => l.replace(/_/g, ' ');
    expect(vtt.stdout.startsWith(`WEBVTT\n\nNOTE ${VIDEO}\n\n1\n00:00:00.000 --> 00:00:01.000\n${human(w0!.predictions[0]!.label)} ${pct(w0!.predictions[0]!.prob)}, ${human(w0!.predictions[1]!.label)} ${pct(w0!.predictions[1]!.prob)}\n\n2\n00:00:00.750 --> 00:00:01.750\n`)).toBe(true);
    expect(vtt.stdout.match(/ --> /g)).toHaveLength(4);

    const csv = await runCli(['timeline', '--input_path', VIDEO, join(tmp, 'missing.mp4'), ...W20, '--top_k', '2', '--format', 'csv', '--weights', weights, ...SMALL], { env });
    expect(csv.code).toBe(1);
    expect(csv.stderr).toMatch(/missing\.mp4: error E_VIDEO_NOT_FOUND: Video not found: .*missing\.mp4\nstnet: 1 of 2 inputs failed\n$/);
    const rows = csv.stdout.trimEnd().split('\n');
    expect(rows[0]).toBe('path,window,start_frame,end_frame,start_sec,end_sec,rank,label,index,prob');
    expect(rows).toHaveLength(1 + 4 * 2);
    expect(rows[3]).toBe([VIDEO, 1, 15, 35, 0.75, 1.75, 1, w1!.predictions[0]!.label, w1!.predictions[0]!.index, w1!.predictions[0]!.prob].join(','));

    const text = await runCli(['timeline', '--input_path', VIDEO, ...W20, '--format', 'text', '--weights', weights, ...SMALL], { env });
    expect(text.code).toBe(0);
    expect(text.stdout).toContain(`${VIDEO}\n  window  time               top labels\n`);
    expect(text.stdout).toMatch(/\n {7}1 {2}0:00\.7-0:01\.7 {6}\w+ 0\.\d{3}, \w+ 0\.\d{3}, \w+ 0\.\d{3}\n/);
    expect(text.stdout).toMatch(/\nsummary\n( {2}\d:\d\d-\d:\d\d [a-z ()'-]+\n)+$/);
  });

  it('a live stream on stdin: windows print as they come; Ctrl-C prints the windows so far, exits 130, ends ffmpeg', async () => {
    const marker = `STNET_TEST_MARKER=${randomUUID()}`;
    const [k, v] = marker.split('=') as [string, string];
    let sent = false;
    const r = await runWithStdin(['timeline', '--input_path', '-', '--window_frames', '20', '--stride_frames', '20', '--format', 'jsonl', '--weights', weights, ...SMALL], longTs.subarray(0, Math.floor(longTs.length * 0.9)), {
      env: { ...env, [k]: v },
      hold: true,
      onStdout: (all, child) => {
        if (!sent && all.split('\n').length > 2) {
          sent = true;
          child.kill('SIGINT');
        }
      },
    });
    expect(r.code).toBe(130);
    const lines = r.stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as WindowResult);
    expect(lines.length).toBeGreaterThanOrEqual(2);
    expect(lines.map((w) => w.window)).toEqual(lines.map((_, i) => i));
    expect(r.stderr).toMatch(/stnet: interrupted: \d+ windows? printed\n$/);
    expect(processesWith(v)).toEqual([]);
  });

  it('stnet run --input_path - (MPEG-TS on stdin): one answer for the whole stream, the same as for the file', async () => {
    const piped = await runWithStdin(['run', '--input_path', '-', '--weights', weights, ...SMALL], ts, { env });
    const file = await runCli(['run', '--input_path', VIDEO, '--weights', weights, ...SMALL], { env });
    expect([piped.code, file.code]).toEqual([0, 0]);
    const [p] = JSON.parse(piped.stdout) as { path: string; predictions: unknown[] }[];
    const [f] = JSON.parse(file.stdout) as { path: string; predictions: unknown[] }[];
    expect(p!.path).toBe('-');
    expect(p!.predictions).toEqual(f!.predictions);
  });

  it('stnet run --embedding adds the 1024 values to the JSON result', async () => {
    const r = await runCli(['run', '--input_path', VIDEO, '--embedding', '--weights', weights, ...SMALL], { env });
    expect(r.code).toBe(0);
    const [res] = JSON.parse(r.stdout) as { ok: boolean; embedding: number[] }[];
    expect(res!.ok).toBe(true);
    expect(res!.embedding).toHaveLength(1024);
    expect(res!.embedding.every((x) => typeof x === 'number' && x >= 0)).toBe(true);
  });
});
