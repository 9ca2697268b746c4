// The real `stnet` binary: exit code, stdout and stderr asserted together.
// Usage errors fail before any weights or onnxruntime work, so they are cheap; the few runs that load
// the model use the golden seed-7 weights and the small input size (seg_num 7, 112 px).
import { createHash } from 'node:crypto';
import { copyFileSync, createReadStream, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeModel } from '../../src/graph/onnx.js';
import { cudaAvailable } from '../../src/graph/session.js';

/** Asked once, as StNet.load asks (a one-node CUDA session). */
const HAS_CUDA = await cudaAvailable();
import { KINETICS400_LABELS } from '../../src/labels/kinetics400.js';
import { EXIT_CODES } from '../../src/cli/options.js';
import { GOLDEN_SKIP_REASON, HAS_GOLDEN, HAS_VIDEOS, VIDEOS_DIR, goldenXz } from '../helpers/golden.js';
import { spawn } from 'node:child_process';
import { BIN, ROOT, cleanEnv, ensureBuilt, runCli } from './run-cli.js';
import { closedPort } from '../helpers/net.js';

const SMALL = ['--seg_num', '7', '--short_size', '112', '--target_size', '112'];
const AVI = join(VIDEOS_DIR, 'paddlevideo_example.avi');
const MP4 = join(VIDEOS_DIR, 'mmaction2_demo.mp4');
/** sha256 of the decompressed golden LoDTensor stream, from ../shared/fixtures/golden/README.md. */
const GOLDEN_LODTENSOR_SHA256 = 'f8329fb8818f7c34b20d2a619707298dcdaa0cfffb427f6f738ce636e1ea702f';

let tmp = '';
let home = '';
let env: NodeJS.ProcessEnv;

beforeAll(() => {
  ensureBuilt();
  tmp = mkdtempSync(join(tmpdir(), 'stnet-cli-'));
  home = join(tmp, 'home');
  env = cleanEnv({ STNET_HOME: home, STNET_WEIGHTS_URL: 'http://127.0.0.1:9/never-used-by-usage-tests' });
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

// Each of these waits on a child process that does little: run them side by side.
describe.concurrent('usage errors: exit 2 before any weights, ffmpeg or onnxruntime work', () => {
  it('unknown flag: commander suggests the closest one', async () => {
    const r = await runCli(['run', '--input-path', 'a.mp4'], { env });
    expect(r).toMatchObject({ code: 2, stdout: '' });
    expect(r.stderr).toBe("stnet: error E_USAGE: unknown option '--input-path'; did you mean --input_path? (see stnet run --help)\n");
  });

  it('unknown command: suggestion, exit 2', async () => {
    const r = await runCli(['rn'], { env });
    expect(r).toMatchObject({ code: 2, stdout: '' });
    expect(r.stderr).toBe("stnet: error E_USAGE: unknown command 'rn'; did you mean run? (see stnet --help)\n");
  });

  it('no arguments at all: help on stderr, exit 2', async () => {
    const r = await runCli([], { env });
    expect(r).toMatchObject({ code: 2, stdout: '' });
    expect(r.stderr).toMatch(/^Usage: stnet \[options\] \[command\]/);
  });

  it('--input_path and --input_file both missing', async () => {
    const r = await runCli(['run', '--top_k', '3'], { env });
    expect(r).toMatchObject({ code: 2, stdout: '' });
    expect(r.stderr).toMatch(/^stnet: error E_INVALID_OPTION: no videos given: pass --input_path <video> \(repeatable\) or --input_file <list.txt>/);
  });

  it('a list file that does not exist', async () => {
    const r = await runCli(['run', '--input_file', 'no-such-list.txt'], { env, cwd: tmp });
    expect(r).toMatchObject({ code: 2, stdout: '' });
    expect(r.stderr).toBe(`stnet: error E_INVALID_OPTION: --input_file ${join(tmp, 'no-such-list.txt')} not found (see stnet run --help)\n`);
  });

  it('a list file with only comments and blank lines', async () => {
    const list = join(tmp, 'empty-list.txt');
    writeFileSync(list, '# nothing here\n\n   \n');
    const r = await runCli(['run', '--input_file', list], { env });
    expect(r).toMatchObject({ code: 2, stdout: '' });
    expect(r.stderr).toMatch(/--input_file .*empty-list\.txt lists no videos \(only blank lines or # comments\)/);
  });

  it.each([
    [['--top_k', '0'], /Expected integer between 1 and 400 for --top_k but received 0/],
    [['--top_k', '401'], /Expected integer between 1 and 400 for --top_k but received 401/],
    [['--top_k', '2.5'], /for --top_k but received "2.5"/],
    [['--threads', '-1'], /Expected integer between 1 and 1024 for --threads but received -1/],
    [['--seg_num', 'many'], /for --seg_num but received "many"/],
    [['--target_size', '300'], /Expected integer <= --short_size \(256\) for --target_size but received 300/],
    [['--format', 'xml'], /Expected one of text, json, jsonl, csv for --format but received "xml"/],
  ])('%j', async (flags, re) => {
    const r = await runCli(['run', '--input_path', 'a.mp4', ...flags], { env });
    expect(r).toMatchObject({ code: 2, stdout: '' });
    expect(r.stderr).toMatch(/^stnet: error E_INVALID_OPTION: /);
    expect(r.stderr).toMatch(re);
  });

  it('a flag without its value', async () => {
    const r = await runCli(['run', '--input_path', 'a.mp4', '--top_k'], { env });
    expect(r).toMatchObject({ code: 2, stdout: '' });
    expect(r.stderr).toMatch(/^stnet: error E_USAGE: option '--top_k <k>' argument missing \(see stnet run --help\)\n$/);
  });

  it('a weights path that does not exist', async () => {
    const r = await runCli(['run', '--input_path', AVI, '--weights', join(tmp, 'nope.pdparams')], { env });
    expect(r).toMatchObject({ code: 2, stdout: '' });
    expect(r.stderr).toMatch(/^stnet: error E_WEIGHTS_NOT_FOUND: weights not found: .*nope\.pdparams \(from the weights option \(--weights\)\)/);
  });

  it('STNET_WEIGHTS pointing nowhere', async () => {
    const r = await runCli(['run', '--input_path', AVI], { env: { ...env, STNET_WEIGHTS: join(tmp, 'gone.pdparams') } });
    expect(r).toMatchObject({ code: 2, stdout: '' });
    expect(r.stderr).toMatch(/E_WEIGHTS_NOT_FOUND: weights not found: .*gone\.pdparams \(from STNET_WEIGHTS\)/);
  });

  it.skipIf(!HAS_VIDEOS)('weights of the wrong kind (a video passed as weights)', async () => {
    const r = await runCli(['run', '--input_path', AVI, '--weights', MP4], { env });
    expect(r).toMatchObject({ code: 2, stdout: '' });
    expect(r.stderr).toMatch(/^stnet: error E_WEIGHTS_FORMAT: .*mmaction2_demo\.mp4: not a supported weights file/);
  });

  it('offline: no weights anywhere and the download cannot connect -> exit 2 within seconds, cache left empty', async () => {
    const url = `http://127.0.0.1:${await closedPort()}/video_classification/STNET.pdparams`;
    const r = await runCli(['run', '--input_path', AVI], { env: { ...env, STNET_WEIGHTS_URL: url } });
    expect(r).toMatchObject({ code: 2, stdout: '' });
    expect(r.stderr).toContain(`stnet: error E_WEIGHTS_DOWNLOAD: cannot download the StNet weights from ${url} (connection refused (ECONNREFUSED))`);
    expect(r.stderr).toMatch(/--weights <file>.*STNET_WEIGHTS=<file>/);
    expect(r.ms).toBeLessThan(10_000);
    expect(existsSync(join(home, 'weights')) ? readdirSync(join(home, 'weights')) : []).toEqual([]);
  });

  it('Ctrl-C during a download: exit 130, E_CANCELLED, no partial file left', async () => {
    // A server that sends headers and a little data, then nothing: the download is in flight when SIGINT comes.
    const server = http.createServer((_req, res) => {
      res.writeHead(200, { 'content-length': 100_000_000 });
      res.write(Buffer.alloc(65536));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/STNET.pdparams`;
    const intHome = join(tmp, 'int-home');
    const child = spawn(process.execPath, [BIN, 'weights', 'download', '--weights_url', url], {
      env: { ...env, STNET_HOME: intHome },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
      if (d.includes('downloading')) setTimeout(() => child.kill('SIGINT'), 200);
    });
    const code = await new Promise<number | null>((r) => child.on('close', r));
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
    expect(code).toBe(130);
    expect(stdout).toBe('');
    expect(stderr).toMatch(/\nstnet: error E_CANCELLED: download of .* was cancelled; nothing was written to .*int-home\/weights\n$/);
    expect(readdirSync(join(intHome, 'weights'))).toEqual([]);
  });

  it('weights path with nothing cached: exit 2 and how to get weights; never downloads', async () => {
    const r = await runCli(['weights', 'path'], { env });
    expect(r).toMatchObject({ code: 2, stdout: '' });
    expect(r.stderr).toMatch(/E_WEIGHTS_NOT_FOUND: no weights given and none in the cache .*home\/weights: run "stnet weights download"/);
  });

  it.skipIf(HAS_CUDA || !HAS_GOLDEN)('--use_gpu without a CUDA onnxruntime: E_GPU_UNAVAILABLE saying how to install it, exit 2', async () => {
    const weights = await goldenXz('stnet_seed7_q.lodtensor');
    const r = await runCli(['run', '--input_path', AVI, '--use_gpu', '--weights', weights, ...SMALL], { env });
    expect(r).toMatchObject({ code: 2, stdout: '' });
    expect(r.stderr).toMatch(/^stnet: error E_GPU_UNAVAILABLE: .*onnxruntime-node-install=cuda12/);
  });
});

describe.concurrent('serve: flag translation', () => {
  it.each([
    [['--port', '70000'], /Expected integer between 0 and 65535 for port but received 70000/],
    [['--workers', 'two'], /Expected integer for --workers but received "two"/],
    [['--max_upload_mb', 'big'], /Expected number for --max_upload_mb but received "big"/],
    [['--seg_num', '0'], /for --seg_num but received 0/],
  ])('%j: exit 2 before any model loads', async (flags, re) => {
    const r = await runCli(['serve', ...flags], { env });
    expect(r).toMatchObject({ code: 2, stdout: '' });
    expect(r.stderr).toMatch(/^stnet: error E_INVALID_OPTION: /);
    expect(r.stderr).toMatch(re);
  });
});

describe.concurrent('help and version: exit 0 on stdout', () => {
  it('--version prints package.json version', async () => {
    const r = await runCli(['--version'], { env });
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    expect(r).toEqual({ code: 0, stdout: `${pkg.version}\n`, stderr: '', ms: r.ms });
  });

  it.each(
    [['--help'], ['run', '--help'], ['weights', '--help'], ['weights', 'download', '--help'], ['weights', 'path', '--help'], ['weights', 'verify', '--help'], ['export-onnx', '--help'], ['serve', '--help']].map(
      (a) => [a.join(' '), a] as const,
    ),
  )(
    'stnet %s has examples',
    async (_name, args) => {
      const r = await runCli(args, { env });
      expect(r.code).toBe(0);
      expect(r.stderr).toBe('');
      expect(r.stdout).toMatch(/\nExamples:\n {2}\$ stnet /);
    },
  );

  it('run --help documents list files, formats and every exit code from the one table', async () => {
    const r = await runCli(['run', '--help'], { env });
    expect(r.stdout).toMatch(/relative paths\s+are resolved against the current directory \(as hub\s+does\)/);
    expect(r.stdout).toMatch(/blank lines\s+and lines starting with # are skipped/);
    for (const e of EXIT_CODES) expect(r.stdout).toContain(`  ${String(e.code).padEnd(4)} ${e.meaning}`);
  });
});

interface JsonResult {
  path: string;
  ok: boolean;
  predictions?: { label: string; index: number; prob: number }[];
  timing?: { decodeMs: number; inferMs: number };
  error?: { code: string; message: string };
}

describe.skipIf(!HAS_GOLDEN || !HAS_VIDEOS)('classification with the golden weights and the sample videos', () => {
  let weights = '';
  beforeAll(async () => {
    weights = await goldenXz('stnet_seed7_q.lodtensor');
  });

  it('a list with a missing video among good ones: exit 1, the good ones still classified, input order kept', async () => {
    const list = join(tmp, 'list.txt');
    // Relative entries resolve against the cwd (tmp): copy one video there under a relative name.
    copyFileSync(AVI, join(tmp, 'clip.avi'));
    writeFileSync(list, `# videos\n\nclip.avi\n  missing.mp4  \r\n${MP4}\n`);
    // No --format: stdout is a pipe here, so the default is json.
    const r = await runCli(['run', '--input_file', 'list.txt', '--input_path', AVI, '--top_k', '3', '--weights', weights, ...SMALL], {
      env,
      cwd: tmp,
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('stnet: 1 of 4 videos failed (see the output)\n');
    const out = JSON.parse(r.stdout) as JsonResult[];
    expect(out.map((x) => [x.path, x.ok])).toEqual([
      [AVI, true],
      ['clip.avi', true],
      ['missing.mp4', false],
      [MP4, true],
    ]);
    expect(out[2]!.error).toEqual({ code: 'E_VIDEO_NOT_FOUND', message: expect.stringContaining(join(tmp, 'missing.mp4')) });
    for (const x of out.filter((o) => o.ok)) {
      expect(x.predictions).toHaveLength(3);
      for (const p of x.predictions!) expect(p.label).toBe(KINETICS400_LABELS[p.index]);
      const probs = x.predictions!.map((p) => p.prob);
      expect([...probs].sort((a, b) => b - a)).toEqual(probs);
      expect(x.timing!.decodeMs).toBeGreaterThan(0);
      expect(x.timing!.inferMs).toBeGreaterThan(0);
    }
    // The same file by absolute and by list-relative path gives the same answer.
    expect(out[1]!.predictions).toEqual(out[0]!.predictions);
  });

  it('all good: exit 0; jsonl and csv carry the same predictions', async () => {
    const r = await runCli(['run', '--input_path', AVI, MP4, '--format', 'jsonl', '--quiet', '--weights', weights, ...SMALL], { env });
    expect(r).toMatchObject({ code: 0, stderr: '' });
    const lines = r.stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as JsonResult);
    // Streamed: the first video's line arrives on its own, while the second video is still being classified.
    const firstChunk = r.chunks![0]!;
    expect(firstChunk.text).toBe(`${r.stdout.split('\n')[0]}\n`);
    expect(r.ms - firstChunk.ms).toBeGreaterThan(200);
    expect(lines.map((l) => [l.path, l.ok, l.predictions!.length])).toEqual([
      [AVI, true, 5],
      [MP4, true, 5],
    ]);
    const csv = await runCli(['run', '--input_path', AVI, '--format', 'csv', '--top_k', '2', '--weights', weights, ...SMALL], { env });
    expect(csv).toMatchObject({ code: 0, stderr: '' });
    const rows = csv.stdout.trimEnd().split('\n');
    expect(rows[0]).toBe('path,rank,label,index,prob,error_code,error_message');
    const first = lines[0]!.predictions!;
    expect(rows.slice(1)).toEqual(first.slice(0, 2).map((p, i) => `${AVI},${i + 1},${p.label},${p.index},${p.prob},,`));
  });

  it.skipIf(!existsSync('/usr/bin/script'))('on a terminal: a progress bar on stderr (done/total, rate, ETA), coloured text results, bar cleared at the end', async () => {
    // util-linux `script` gives the binary a pseudo-terminal for stdin, stdout and stderr.
    const cmd = [process.execPath, BIN, 'run', '--input_path', AVI, '--input_path', MP4, '--weights', weights, ...SMALL].map((a) => `'${a}'`).join(' ');
    const r = await new Promise<{ code: number | null; out: string }>((resolve) => {
      const child = spawn('script', ['-qec', cmd, '/dev/null'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
      child.on('close', (code) => resolve({ code, out }));
    });
    expect(r.code).toBe(0);
    // After the first video the label names the second, the one being worked on (shortened to fit 80 columns).
    expect(r.out).toMatch(/stnet .* 1\/2 videos \| \d+\.\d\d\/s \| ETA \d+s \| \.\.\.\S*_demo\.mp4/);
    expect(r.out).toMatch(/stnet .* 2\/2 videos/);
    // Per-stage mean times at the line's end (the first thing a narrow terminal crops).
    expect(r.out).toMatch(/_demo\.mp4 \| decode \d+\.\ds infer \d+\.\ds per video/);
    expect(r.out).toContain(`\x1b[1m${AVI}\x1b[22m  (decode `);
    expect(r.out).toContain(`\x1b[1m${MP4}\x1b[22m  (decode `);
    expect(r.out).toMatch(/\x1b\[2K$/); // the bar's line is cleared at the end
  });

  it('weights verify: format, 301 tensors, the value count and the sha256 the fixture README gives', async () => {
    const r = await runCli(['weights', 'verify'], { env: { ...env, STNET_WEIGHTS: weights } });
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(r.stdout).toBe(
      [
        `path     ${weights}`,
        'source   STNET_WEIGHTS',
        'format   lodtensor',
        'params   301 tensors, 33,223,248 float32 values',
        `size     ${statSync(weights).size.toLocaleString('en-US')} bytes`,
        `sha256   ${GOLDEN_LODTENSOR_SHA256}`,
        'valid    StNet ResNet-50, seglen 5, Kinetics-400 (every shape checked, all values finite)',
        '',
      ].join('\n'),
    );
  });

  it('export-onnx writes a model onnxruntime-compatible tools can read (input image, outputs probs, logits and embedding); a missing folder is exit 2', async () => {
    const out = join(tmp, 'stnet.onnx');
    const r = await runCli(['export-onnx', '--out', 'stnet.onnx', '--weights', weights], { env, cwd: tmp });
    expect(r).toEqual({ code: 0, stdout: `${out}\n`, stderr: `stnet: wrote ${out}\n`, ms: r.ms });
    const model = decodeModel(new Uint8Array(readFileSync(out)));
    expect(model.graph?.input?.map((i) => i.name)).toEqual(['image']);
    expect(model.graph?.output?.map((o) => o.name).sort()).toEqual(['embedding', 'logits', 'probs']);
    expect(Number(model.opsetImport?.[0]?.version)).toBe(15);

    const bad = await runCli(['export-onnx', '--out', join(tmp, 'no-such-dir', 'm.onnx'), '--weights', weights], { env });
    expect(bad).toMatchObject({ code: 2, stdout: '' });
    expect(bad.stderr).toMatch(/^stnet: error E_INVALID_OPTION: cannot write the ONNX model to .*no-such-dir\/m\.onnx: folder .* does not exist/);
  });

  it('weights verify on a file that is not weights: exit 2', async () => {
    const bad = join(tmp, 'notes.pdparams');
    writeFileSync(bad, 'this is not a weights file\n');
    const r = await runCli(['weights', 'verify', '--weights', bad], { env });
    expect(r).toMatchObject({ code: 2, stdout: '' });
    expect(r.stderr).toMatch(/^stnet: error E_WEIGHTS_FORMAT: .*notes\.pdparams: not a supported weights file: it is a text file/);
  });

  it('first use: no weights given -> downloads into the cache (from a local mirror), classifies, keeps the graph; the second run reuses both', async () => {
    let requests = 0;
    const server = http.createServer((req, res) => {
      requests++;
      if (req.url !== '/video_classification/STNET.pdparams') return void res.writeHead(404).end();
      res.writeHead(200, { 'content-length': statSync(weights).size });
      createReadStream(weights).pipe(res);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/video_classification/STNET.pdparams`;
    const firstHome = join(tmp, 'first-use-home');
    const fuEnv = { ...env, STNET_HOME: firstHome, STNET_WEIGHTS_URL: url };
    try {
      const r = await runCli(['run', '--input_path', AVI, '--format', 'jsonl', ...SMALL], { env: fuEnv });
      expect(r.code).toBe(0);
      expect(r.stderr).toBe(
        `stnet: no weights given and none cached: downloading ${url} (126.7 MB)\nstnet: weights saved to ${join(firstHome, 'weights', 'STNET.pdparams')}\n`,
      );
      expect((JSON.parse(r.stdout) as JsonResult).ok).toBe(true);
      expect(readdirSync(join(firstHome, 'weights'))).toEqual(['STNET.pdparams']);
      expect(readdirSync(join(firstHome, 'graphs')).filter((n) => n.endsWith('.onnx'))).toHaveLength(1);
      expect(requests).toBe(1);

      const again = await runCli(['run', '--input_path', AVI, '--format', 'jsonl', ...SMALL], { env: fuEnv });
      expect(again).toMatchObject({ code: 0, stderr: '' });
      expect(JSON.parse(again.stdout).predictions).toEqual(JSON.parse(r.stdout).predictions);
      expect(requests).toBe(1);
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
    }
  });

  it('weights download from a local server, then path and verify find it in the cache', async () => {
    const server = http.createServer((req, res) => {
      if (req.url !== '/m/STNET.pdparams') return void res.writeHead(404).end();
      res.writeHead(200, { 'content-length': statSync(weights).size });
      res.end(readFileSync(weights));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/m/STNET.pdparams`;
    const dlHome = join(tmp, 'dl-home');
    const dlEnv = { ...env, STNET_HOME: dlHome };
    try {
      const r = await runCli(['weights', 'download', '--weights_url', url], { env: dlEnv });
      const cached = join(dlHome, 'weights', 'STNET.pdparams');
      expect(r).toMatchObject({ code: 0, stdout: `${cached}\n` });
      expect(r.stderr).toBe(`stnet: downloading ${url} (126.7 MB)\nstnet: validating the download\n`);
      expect(readdirSync(join(dlHome, 'weights'))).toEqual(['STNET.pdparams']);
      expect(createHash('sha256').update(readFileSync(cached)).digest('hex')).toBe(GOLDEN_LODTENSOR_SHA256);

      const p = await runCli(['weights', 'path', '--weights_url', url], { env: dlEnv });
      expect(p).toEqual({ code: 0, stdout: `${cached}\n`, stderr: '', ms: p.ms });
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
});

describe.skipIf(!HAS_GOLDEN || !HAS_VIDEOS)('serve with the golden weights', () => {
  it('listens, answers a video, stops on SIGTERM with exit 0', async () => {
    const weights = await goldenXz('stnet_seed7_q.lodtensor');
    const child = spawn(process.execPath, [BIN, 'serve', '--port', '0', '--workers', '1', '--threads', '1', ...SMALL], {
      env: { ...env, STNET_WEIGHTS: weights },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no "listening" line: ${stderr}`)), 60_000);
      child.stderr.setEncoding('utf8').on('data', (d: string) => {
        stderr += d;
        const m = stderr.match(/listening on (http:\/\/[^ ]+)/);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]!);
        }
      });
    });
    const exited = new Promise<number | null>((r) => child.on('close', r));
    try {
      const form = new FormData();
      form.append('video', new Blob([readFileSync(AVI)]), 'paddlevideo_example.avi');
      const res = await fetch(`${url}/v1/classify`, { method: 'POST', body: form });
      const body = (await res.json()) as JsonResult;
      expect(res.status).toBe(200);
      expect(body).toMatchObject({ ok: true });
      expect(body.predictions).toHaveLength(5);
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
    expect(stdout).toBe('');
    expect(stderr).toMatch(/stnet serve: stopped\n$/);
  });
});

if (!HAS_GOLDEN) describe.skip(GOLDEN_SKIP_REASON, () => undefined);

