// First use of the real `stnet` binary: what commander itself rejects (unknown command or flag, a missing value, a
// missing required flag, extra arguments) prints in the one `stnet: error E_...` form with exit 2, a bare video
// path gets the --input_path it needs, and on a terminal the progress bar names the video being worked on.
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GOLDEN_SKIP_REASON, HAS_GOLDEN, goldenXz } from '../helpers/golden.js';
import { BIN, ROOT, cleanEnv, ensureBuilt, runCli } from './run-cli.js';

let tmp = '';
let env: NodeJS.ProcessEnv;

beforeAll(() => {
  ensureBuilt();
  tmp = mkdtempSync(join(tmpdir(), 'stnet-usage-'));
  env = cleanEnv({ STNET_HOME: join(tmp, 'home'), STNET_WEIGHTS_URL: 'http://127.0.0.1:9/never-used-by-usage-tests' });
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe.concurrent("commander's errors: the stnet form, exit 2, nothing on stdout", () => {
  it.each([
    [['run', 'a.avi'], 'stnet run takes no bare arguments (got a.avi): use --input_path a.avi (see stnet run --help)'],
    [['run', 'a.avi', 'my clip.mp4'], "stnet run takes no bare arguments (got a.avi 'my clip.mp4'): use --input_path a.avi 'my clip.mp4' (see stnet run --help)"],
    [['run', '--top_k', '3', "it's.mp4"], "stnet run takes no bare arguments (got 'it'\\''s.mp4'): use --input_path 'it'\\''s.mp4' (see stnet run --help)"],
    [['run', '--input-path', 'a.mp4'], "unknown option '--input-path'; did you mean --input_path? (see stnet run --help)"],
    [['run', '--input_path'], "option '--input_path <video...>' argument missing (see stnet run --help)"],
    [['rn'], "unknown command 'rn'; did you mean run? (see stnet --help)"],
    [['a.avi'], "unknown command 'a.avi' (see stnet --help)"],
    [['export-onnx'], "required option '--out <file>' not specified (see stnet export-onnx --help)"],
    [['weights', 'path', 'extra'], 'unexpected argument extra for stnet weights path, which takes none (see stnet weights path --help)'],
    [['weights', 'verify', '--weight', 'w.pdparams'], "unknown option '--weight'; did you mean --weights? (see stnet weights verify --help)"],
    [['serve', '--prot', '8080'], "unknown option '--prot'; did you mean --port? (see stnet serve --help)"],
  ])('stnet %j', async (args, message) => {
    const r = await runCli(args, { env });
    expect(r).toEqual({ code: 2, stdout: '', stderr: `stnet: error E_USAGE: ${message}\n`, ms: r.ms });
  });

  it('help and --version still exit 0 on stdout', async () => {
    const v = await runCli(['--version'], { env });
    expect(v).toMatchObject({ code: 0, stderr: '' });
    expect(v.stdout).toMatch(/^\d+\.\d+\.\d+\n$/);
    const h = await runCli(['run', '--help'], { env });
    expect(h).toMatchObject({ code: 0, stderr: '' });
    expect(h.stdout).toMatch(/^Usage: stnet run \[options\]/);
  });
});

/**
 * Runs the binary with stdin, stdout and stderr on a pseudo-terminal (util-linux `script`, which takes its command
 * as one shell string: the arguments are quoted here) and returns everything the terminal received.
 */
function runOnTerminal(args: readonly string[], opts: { cwd: string; env: NodeJS.ProcessEnv }): Promise<{ code: number | null; text: string }> {
  const quote = (a: string): string => `'${a.replace(/'/g, `'\\''`)}'`;
  const command = [process.execPath, BIN, ...args].map(quote).join(' ');
  return new Promise((resolve, reject) => {
    const child = spawn('script', ['-q', '-e', '-c', command, '/dev/null'], { cwd: opts.cwd, env: opts.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (text += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (text += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 150_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, text });
    });
  });
}

const HAS_SCRIPT = spawnSync('script', ['--version'], { stdio: 'ignore' }).status === 0;
const BAR_SKIP = !HAS_GOLDEN ? GOLDEN_SKIP_REASON : !HAS_SCRIPT ? "util-linux's script command not found (it provides the terminal)" : '';

describe.skipIf(BAR_SKIP !== '')(`progress bar on a terminal${BAR_SKIP === '' ? '' : ` (skipped: ${BAR_SKIP})`}`, () => {
  it('is labelled with the video being worked on, not the one that just finished', async () => {
    const weights = await goldenXz('stnet_seed7_q.pdparams');
    for (const name of ['first.avi', 'second.avi']) copyFileSync(join(ROOT, 'examples', 'archery.avi'), join(tmp, name));
    const r = await runOnTerminal(
      ['run', '--input_path', 'first.avi', 'second.avi', '--weights', weights, '--top_k', '1', '--seg_num', '7', '--short_size', '112', '--target_size', '112'],
      { cwd: tmp, env: { ...env, TERM: 'xterm' } },
    );
    expect(r.code, r.text).toBe(0);
    // Each frame of the bar, as drawn (cursor codes split them).
    const frames = r.text.split(/\r|\n|\x1b\[[0-9;]*[A-Za-z]/).filter((f) => /^stnet \S+ \d+\/2 videos/.test(f));
    expect(frames.some((f) => /^stnet \S+ 0\/2 videos .*\| first\.avi$/.test(f)), frames.join('\n')).toBe(true);
    // After the first result the mean stage times follow the label (the terminal may crop them).
    expect(frames.some((f) => /^stnet \S+ 1\/2 videos .*\| second\.avi \| decode \d+\.\ds infer \d+\.\ds per video$/.test(f)), frames.join('\n')).toBe(true);
    expect(frames.filter((f) => /1\/2 videos .*first\.avi/.test(f))).toEqual([]);
    // And the results themselves (a table: stdout is the terminal too).
    expect(r.text.replace(/\x1b\[[0-9;?]*[A-Za-z]|\x1b[78]/g, '')).toMatch(/first\.avi {2}\(decode [\s\S]*second\.avi {2}\(decode /);
  });
});
