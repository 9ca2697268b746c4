// Privacy: the CLI, the server and a library script, each in its own process with a fresh, empty HOME, TMPDIR,
// XDG_CACHE_HOME and STNET_HOME, leave nothing behind outside STNET_HOME and their outputs. Without the
// ORT_DISABLE_TELEMETRY guard in src/graph/session.ts, onnxruntime-node's Linux build writes a device id and an
// event queue under $XDG_CACHE_HOME (or ~/.cache)/Microsoft/DeveloperTools/.onnxruntime and $TMPDIR/.ses and
// $TMPDIR/mat-debug-<pid>.log in every process; these tests then fail with those paths listed.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, ROOT, cleanEnv, ensureBuilt } from './cli/run-cli.js';
import { GOLDEN_SKIP_REASON, HAS_GOLDEN, goldenXz } from './helpers/golden.js';

const VIDEO = join(ROOT, 'examples', 'archery.avi');
const SMALL = ['--seg_num', '7', '--short_size', '112', '--target_size', '112'];
const LIB_OPTS = '{ topK: 1, segNum: 7, shortSize: 112, targetSize: 112 }';
/** What onnxruntime-node's telemetry writes (see the header): the guard's test of itself must see these appear. */
const TELEMETRY = /(^|\/)(Microsoft\/DeveloperTools\/\.onnxruntime\/deviceid|\.ses|mat-debug-\d+\.log)$/;

let root = '';
let weights = '';

beforeAll(async () => {
  if (!HAS_GOLDEN) return;
  ensureBuilt();
  root = mkdtempSync(join(tmpdir(), 'stnet-privacy-'));
  // Decompressed into the project's test cache (outside the fresh dirs below), like every other golden test.
  weights = await goldenXz('stnet_seed7_q.pdparams');
});
afterAll(() => {
  if (root !== '') rmSync(root, { recursive: true, force: true });
});

interface Sandbox {
  env: NodeJS.ProcessEnv;
  /** HOME, TMPDIR and XDG_CACHE_HOME: what must stay empty. */
  watched: Record<string, string>;
  stnetHome: string;
}

/** Fresh empty HOME, TMPDIR, XDG_CACHE_HOME and STNET_HOME; ORT_DISABLE_TELEMETRY as given (default: unset). */
function sandbox(name: string, telemetry?: string): Sandbox {
  const dir = join(root, name);
  const watched = { HOME: join(dir, 'home'), TMPDIR: join(dir, 'tmp'), XDG_CACHE_HOME: join(dir, 'xdg-cache') };
  const stnetHome = join(dir, 'stnet-home');
  for (const d of [...Object.values(watched), stnetHome]) mkdirSync(d, { recursive: true });
  const env = cleanEnv({ ...watched, STNET_HOME: stnetHome, STNET_WEIGHTS_URL: 'http://127.0.0.1:9/no-download-in-privacy-tests' });
  // The developer's shell (and CI) may export it: the point is what stnet does when the user did not.
  delete env.ORT_DISABLE_TELEMETRY;
  if (telemetry !== undefined) env.ORT_DISABLE_TELEMETRY = telemetry;
  return { env, watched, stnetHome };
}

/** Every file and folder under `dir`, as paths relative to it. */
function walk(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) out.push(relative(dir, join(e.parentPath, e.name)));
  return out.sort();
}

/** What appeared in the watched folders, as "HOME/...", "TMPDIR/..." paths. */
function leftBehind(s: Sandbox): string[] {
  return Object.entries(s.watched).flatMap(([k, d]) => walk(d).map((p) => `${k}/${p}`));
}

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runNode(args: readonly string[], env: NodeJS.ProcessEnv): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { env, cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 150_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** A library user's ES-module script: StNet.load + classify, then what the process's environment says. */
function libraryScript(): string[] {
  const index = pathToFileURL(join(ROOT, 'dist', 'index.js')).href;
  const src = `
    import { StNet } from ${JSON.stringify(index)};
    const model = await StNet.load({ weights: ${JSON.stringify(weights)}, threads: 1 });
    const [r] = await model.classify([${JSON.stringify(VIDEO)}], ${LIB_OPTS});
    await model.close();
    process.stdout.write(JSON.stringify({ ok: r.ok, label: r.predictions?.[0]?.label, env: process.env.ORT_DISABLE_TELEMETRY ?? null }));
  `;
  return ['--input-type=module', '-e', src];
}

describe.skipIf(!HAS_GOLDEN)(`nothing is written outside STNET_HOME and the outputs${HAS_GOLDEN ? '' : ` (skipped: ${GOLDEN_SKIP_REASON})`}`, () => {
  it('stnet run', async () => {
    const s = sandbox('cli');
    const r = await runNode([BIN, 'run', '--input_path', VIDEO, '--weights', weights, '--top_k', '1', '--format', 'json', ...SMALL], s.env);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject([{ ok: true }]);
    expect(leftBehind(s)).toEqual([]);
    // The graph cache is the one thing written, and it is where the docs say.
    expect(walk(s.stnetHome).some((p) => /^graphs\/.+\.onnx$/.test(p))).toBe(true);
  });

  it('stnet serve: start, one classify request, SIGTERM', async () => {
    const s = sandbox('server');
    const args = [BIN, 'serve', '--port', '0', '--weights', weights, '--workers', '1', '--threads', '1', ...SMALL];
    const child = spawn(process.execPath, args, { env: s.env, cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.stdout.resume();
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      const port = await new Promise<number>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`server did not start:\n${stderr}`)), 120_000);
        child.stderr.on('data', () => {
          const m = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(stderr);
          if (m !== null) {
            clearTimeout(timer);
            resolve(Number(m[1]));
          }
        });
        child.on('exit', () => reject(new Error(`server exited before listening:\n${stderr}`)));
      });
      const res = await fetch(`http://127.0.0.1:${port}/v1/classify?top_k=1`, {
        method: 'POST',
        headers: { 'content-type': 'video/x-msvideo' },
        body: readFileSync(VIDEO),
      });
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ ok: true });
      child.kill('SIGTERM');
      expect(await exited, stderr).toBe(0);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
    expect(leftBehind(s)).toEqual([]);
  });

  it('library: StNet.load + classify; the guard sets ORT_DISABLE_TELEMETRY=1 when the user did not', async () => {
    const s = sandbox('library');
    const r = await runNode(libraryScript(), s.env);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: true, env: '1' });
    expect(leftBehind(s)).toEqual([]);
  });

  it("the user's own ORT_DISABLE_TELEMETRY is kept, not overwritten (=0: whatever onnxruntime's telemetry writes is seen)", async () => {
    const s = sandbox('user-value', '0');
    const r = await runNode(libraryScript(), s.env);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: true, env: '0' });
    // With telemetry on, onnxruntime writes its files on most machines, and then the walk above must see them
    // where the header says. Not on every machine: on one CI machine it wrote nothing at all with =0 (it gives
    // up early in some set-ups, e.g. when its event store cannot start), so their absence is reported, not failed.
    const left = leftBehind(s);
    const telemetry = left.filter((p) => TELEMETRY.test(p));
    if (telemetry.length === 0) {
      console.warn(`[privacy] onnxruntime wrote no telemetry files here even with ORT_DISABLE_TELEMETRY=0 (left: ${left.join(', ') || 'nothing'})`);
    } else {
      expect(telemetry.every((p) => p.startsWith('XDG_CACHE_HOME/') || p.startsWith('TMPDIR/')), telemetry.join('\n')).toBe(true);
      expect(telemetry.some((p) => p.startsWith('TMPDIR/')), telemetry.join('\n')).toBe(true);
    }
  });
});
