// `stnet quantize`, `--precision` and `--model`: the real binary, exit code, stdout and stderr together.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkStnetModel } from '../../src/graph/model-file.js';
import { GOLDEN_SKIP_REASON, HAS_GOLDEN, HAS_VIDEOS, VIDEOS_DIR, goldenXz } from '../helpers/golden.js';
import { ROOT, cleanEnv, ensureBuilt, runCli } from './run-cli.js';

const SMALL_RUN = ['--seg_num', '7', '--short_size', '112', '--target_size', '112'];
const MP4 = join(VIDEOS_DIR, 'mmaction2_demo.mp4');
const ARCHERY = join(ROOT, 'examples', 'archery.avi');

let tmp = '';
let home = '';
let env: NodeJS.ProcessEnv;

beforeAll(() => {
  ensureBuilt();
  tmp = mkdtempSync(join(tmpdir(), 'stnet-cli-int8-'));
  home = join(tmp, 'home');
  env = cleanEnv({ STNET_HOME: home, STNET_WEIGHTS_URL: 'http://127.0.0.1:9/never-used-by-usage-tests' });
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe.concurrent('usage errors: exit 2 before any weights work', () => {
  it.each<[string, string[], RegExp]>([
    ['quantize --method', ['quantize', '--method', 'entropy'], /E_INVALID_OPTION: Expected minmax or percentile for --method but received "entropy"/],
    ['quantize --int8_layers', ['quantize', '--int8_layers', 'resnet,conv9'], /Expected a comma-separated list of conv1, resnet, temporal, xception, fc for --int8_layers but received "resnet,conv9"/],
    ['quantize --seg_num', ['quantize', '--seg_num', '0'], /Expected integer between 1 and 1000 for --seg_num but received 0/],
    ['quantize --calibration missing', ['quantize', '--calibration', 'no-such-list.txt'], /--calibration .*no-such-list\.txt not found/],
    ['quantize --out in a missing folder', ['quantize', '--out', '/nonexistent-dir/q.onnx'], /folder \/nonexistent-dir does not exist/],
    ['run --precision', ['run', '--precision', 'fp16', '--input_path', 'a.mp4'], /Expected "fp32" or "int8" for --precision but received "fp16"/],
    ['run --precision int8 --use_gpu', ['run', '--precision', 'int8', '--use_gpu', '--input_path', 'a.mp4'], /precision 'int8' runs on the CPU only/],
    ['export-onnx --precision', ['export-onnx', '--precision', 'int4', '--out', 'x.onnx'], /Expected "fp32" or "int8" for --precision but received "int4"/],
    ['serve --precision', ['serve', '--precision', 'int4', '--port', '0'], /Expected "fp32" or "int8" for precision but received "int4"/],
  ])('%s', async (_name, args, message) => {
    const r = await runCli(args, { env, cwd: tmp });
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(message);
    expect(existsSync(home)).toBe(false);
  });

  it.skipIf(!HAS_VIDEOS)('run --model with a file that is not ONNX: E_MODEL_FORMAT, nothing cached', async () => {
    const bad = join(tmp, 'not-a-model.onnx');
    writeFileSync(bad, 'hello, I am a text file\n');
    const r = await runCli(['run', '--model', bad, '--input_path', MP4, ...SMALL_RUN], { env });
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/stnet: error E_MODEL_FORMAT: .*not-a-model\.onnx is not (a complete )?(an )?ONNX model/);
    expect(existsSync(home)).toBe(false);
  });
});

describe.skipIf(!HAS_GOLDEN || !HAS_VIDEOS)(`stnet quantize with the golden weights${HAS_GOLDEN ? '' : ` (${GOLDEN_SKIP_REASON})`}`, () => {
  let weights = '';
  beforeAll(async () => {
    weights = await goldenXz('stnet_seed7_q.pdparams');
  });

  it('calibrates (a bad video skipped with a warning), prints the drift, writes a graph that stnet run --model runs', async () => {
    const cal = join(tmp, 'calibration.txt');
    writeFileSync(cal, `# calibration clips\n/nonexistent/clip.mp4\n${ARCHERY}\n`);
    const ev = join(tmp, 'evaluation.txt');
    writeFileSync(ev, `${MP4}\n`);
    const out = join(tmp, 'q.onnx');
    const r = await runCli(['quantize', '--weights', weights, '--calibration', cal, '--evaluation', ev, '--seg_num', '7', '--size', '112', '--threads', '2', '--out', out], { env, timeoutMs: 600_000 });
    expect(r.stderr).toMatch(/warning: calibration video skipped: \/nonexistent\/clip\.mp4: E_VIDEO_NOT_FOUND/);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^model +${out.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(\\d+\\.\\d MiB\\)\n`));
    expect(r.stdout).toMatch(/\nint8 layers +conv1, resnet, temporal \(the rest fp32\)\n/);
    expect(r.stdout).toMatch(/\ncalibration +minmax over 1 clip\n/);
    expect(r.stdout).toMatch(/\ndrift on +1 evaluation clip\n/);
    expect(r.stdout).toMatch(/\nmax \|dp\| +\d\.\d{3}e[-+]\d+\nmean \|dp\| +\d\.\d{3}e[-+]\d+\ntop-1 agree +1\/1\ntop-5 overlap +min [45]\/5, mean [45]\.\d\d\/5\n$/);
    expect(checkStnetModel(new Uint8Array(readFileSync(out)), out).precision).toBe('int8');
    // quantize caches no graph or weights (only the CLI's record of the ffmpeg it ran), and leaves no temp file
    // beside the output.
    expect(readdirSync(home, { recursive: true }).sort()).toEqual(['tools', join('tools', 'ffmpeg.json')]);
    expect(JSON.parse(readFileSync(join(home, 'tools', 'ffmpeg.json'), 'utf8'))).toMatchObject({ format: 1, tools: [{ fpsMode: expect.any(Boolean) }] });
    expect(readdirSync(tmp).filter((n) => n.endsWith('.tmp'))).toEqual([]);

    const run = await runCli(['run', '--model', out, '--input_path', MP4, ...SMALL_RUN, '--threads', '2', '--format', 'json'], { env, timeoutMs: 300_000 });
    expect(run.code).toBe(0);
    const results = JSON.parse(run.stdout) as { ok: boolean; predictions: unknown[] }[];
    expect(results).toHaveLength(1);
    expect(results[0]!.ok).toBe(true);
    expect(results[0]!.predictions).toHaveLength(5);
  }, 900_000);

  it('a calibration list whose videos are all bad: a clear error, exit 2, no output file', async () => {
    const cal = join(tmp, 'bad-calibration.txt');
    writeFileSync(cal, '/nonexistent/a.mp4\n/nonexistent/b.mp4\n');
    const out = join(tmp, 'never.onnx');
    const r = await runCli(['quantize', '--weights', weights, '--calibration', cal, '--seg_num', '7', '--size', '112', '--out', out], { env, timeoutMs: 300_000 });
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/E_INVALID_OPTION: none of the 2 calibration videos could be read \(\/nonexistent\/a\.mp4: E_VIDEO_NOT_FOUND/);
    expect(existsSync(out)).toBe(false);
  }, 300_000);
});
