// stnet worker / submit / status / results against a real redis-server and real worker processes.
// The golden seed-7 weights, a short clip copied 10 times and small inputs (seg_num 7, 128 -> 112 px) keep
// a video at about a second; lock and stall intervals are shortened through the worker's flags so a
// SIGKILLed worker's video comes back within seconds.
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { batchStatus } from '../../src/queue/index.js';
import type { BatchStatus } from '../../src/queue/index.js';
import { GOLDEN_SKIP_REASON, HAS_GOLDEN, golden, goldenXz } from '../helpers/golden.js';
import { closedPort } from '../helpers/net.js';
import { BIN, cleanEnv, ensureBuilt, runCli } from '../cli/run-cli.js';
import { HAS_REDIS, REDIS_SKIP_REASON, startRedis, type RedisServer } from './redis.js';

const SMALL = ['--seg_num', '7', '--short_size', '128', '--target_size', '112'];
/** Short locks so a dead worker's video comes back within about 6 s (production default: 60 s / 15 s). */
const FAST_LOCKS = ['--lock_ms', '5000', '--stalled_ms', '1000'];

let tmp = '';
let env: NodeJS.ProcessEnv;

beforeAll(() => {
  ensureBuilt();
  tmp = mkdtempSync(join(tmpdir(), 'stnet-queue-'));
  // STNET_GRAPH_CACHE=1: each worker start after the first reads the built graph instead of the weights.
  env = cleanEnv({ STNET_HOME: join(tmp, 'home'), STNET_WEIGHTS_URL: 'http://127.0.0.1:9/never-used', STNET_GRAPH_CACHE: '1' });
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('Redis unreachable: exit 2 within a few seconds, naming the URL, before any model work', () => {
  // The machine may be loaded: time is compared with a run that exits on a bad flag before any network work.
  let baselineMs = 0;
  beforeAll(async () => {
    const r = await runCli(['status', '--redis', 'redis://127.0.0.1:1', '--batch', 'a:b'], { env });
    expect(r.code).toBe(2);
    baselineMs = r.ms;
  });

  it.each([
    ['submit', ['--batch', 'b', '--input_path', 'a.mp4']],
    ['worker', []],
    ['status', ['--batch', 'b']],
    ['results', ['--batch', 'b']],
  ])('refused: stnet %s', async (command, extra) => {
    const url = `redis://127.0.0.1:${await closedPort()}`;
    const r = await runCli([command, '--redis', url, ...extra], { env, timeoutMs: 60_000 });
    expect(r).toMatchObject({ code: 2, stdout: '' });
    expect(r.stderr).toBe(`stnet: error E_QUEUE_UNREACHABLE: cannot reach Redis at ${url} (ECONNREFUSED): start Redis there or pass the right --redis URL\n`);
    expect(r.ms).toBeLessThan(baselineMs + 5000);
  });

  it('a server that accepts but never answers: gives up after the 3 s connect timeout', async () => {
    const sockets: Socket[] = [];
    const silent = createServer((s) => sockets.push(s));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const url = `redis://127.0.0.1:${(silent.address() as AddressInfo).port}`;
    try {
      const r = await runCli(['worker', '--redis', url], { env, timeoutMs: 60_000 });
      expect(r).toMatchObject({ code: 2, stdout: '' });
      expect(r.stderr).toBe(`stnet: error E_QUEUE_UNREACHABLE: cannot reach Redis at ${url} (no answer within 3000 ms): start Redis there or pass the right --redis URL\n`);
      expect(r.ms).toBeLessThan(baselineMs + 3000 + 6000);
    } finally {
      for (const s of sockets) s.destroy();
      silent.close();
    }
  });

  it('a password in the URL is not printed', async () => {
    const port = await closedPort();
    const r = await runCli(['status', '--redis', `redis://user:s3cret@127.0.0.1:${port}`, '--batch', 'b'], { env, timeoutMs: 60_000 });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`redis://user:***@127.0.0.1:${port}`);
    expect(r.stderr).not.toContain('s3cret');
  });
});

describe.concurrent('bad flags: exit 2 before Redis is contacted', () => {
  it.each([
    [['submit', '--redis', 'http://127.0.0.1:1', '--batch', 'b', '--input_path', 'a.mp4'], /Expected a redis:\/\/ or rediss:\/\/ URL for --redis but received "http:\/\/127.0.0.1:1\/"/],
    [['submit', '--redis', 'redis://127.0.0.1:1', '--batch', 'a:b', '--input_path', 'a.mp4'], /for --batch but received "a:b"/],
    [['submit', '--redis', 'redis://127.0.0.1:1', '--batch', 'b'], /no videos given/],
    [['submit', '--redis', 'redis://127.0.0.1:1', '--batch', 'b', '--input_path', 'a.mp4', '--seg_num', '0'], /Expected integer between 1 and 100 for --seg_num but received 0/],
    [['submit', '--redis', 'redis://127.0.0.1:1', '--batch', 'b', '--input_path', 'a.mp4', '--keep', '5x'], /Expected a duration such as 3600, 90m, 12h or 7d \(at least 60 s\) for --keep but received "5x"/],
    [['submit', '--redis', 'redis://127.0.0.1:1', '--batch', 'b', '--input_path', 'a.mp4', '--attempts', '0'], /Expected integer between 1 and 100 for --attempts but received 0/],
    [['submit', '--redis', 'redis://127.0.0.1:1', '--batch', 'b', '--input_path', 'a.mp4', '--format', 'csv'], /--format applies to --wait only/],
    [['worker', '--redis', 'redis://127.0.0.1:1', '--concurrency', '0'], /Expected integer between 1 and 64 for --concurrency but received 0/],
    [['worker', '--redis', 'redis://127.0.0.1:1', '--queue', 'a b'], /for --queue but received "a b"/],
    [['status', '--redis', 'redis://127.0.0.1:1', '--batch', 'b', '--format', 'csv'], /Expected one of text, json for --format but received "csv"/],
    [['status', '--batch', 'b'], /required option '--redis <url>' not specified/],
    [['results', '--redis', 'redis://127.0.0.1:1'], /required option '--batch <id>' not specified/],
  ])('%j', async (args, message) => {
    const r = await runCli(args, { env, timeoutMs: 20_000 });
    expect(r).toMatchObject({ code: 2, stdout: '' });
    expect(r.stderr).toMatch(message);
    expect(r.stderr).not.toMatch(/E_QUEUE_UNREACHABLE/);
  });
});

describe.concurrent('help', () => {
  it.each([['worker'], ['submit'], ['status'], ['results']])('stnet %s --help has examples and the exit codes', async (command) => {
    const r = await runCli([command, '--help'], { env });
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(r.stdout).toMatch(/\nExamples:\n {2}\$ stnet /);
    expect(r.stdout).toContain('2 also: Redis unreachable (E_QUEUE_UNREACHABLE, within a few seconds)');
  });
});

/** A running `stnet worker`: its stderr lines as they come. */
class WorkerProc {
  readonly child: ChildProcess;
  readonly lines: string[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private partial = '';

  constructor(args: readonly string[]) {
    this.child = spawn(process.execPath, [BIN, 'worker', ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child.stdout!.resume();
    this.child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      const parts = (this.partial + d).split('\n');
      this.partial = parts.pop()!;
      this.lines.push(...parts);
    });
    this.exited = new Promise((resolve) => this.child.on('exit', (code, signal) => resolve({ code, signal })));
  }

  /** Resolves with the index of the first line from `from` on that matches. */
  async waitFor(re: RegExp, timeoutMs = 90_000, from = 0): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.lines.findIndex((l, j) => j >= from && re.test(l));
      if (i >= 0) return i;
      if (this.child.exitCode !== null || this.child.signalCode !== null || Date.now() > deadline) {
        throw new Error(`no line matching ${re} (exit ${this.child.exitCode ?? this.child.signalCode}); stderr:\n${this.lines.join('\n')}${this.partial}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  count(re: RegExp): number {
    return this.lines.filter((l) => re.test(l)).length;
  }

  /** Paths of the "done" lines. */
  done(): string[] {
    return this.lines.flatMap((l) => /^stnet: done (.+) \(\d+ ms\)$/.exec(l)?.[1] ?? []);
  }

  kill(signal: NodeJS.Signals): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
  }
}

async function waitForStatus(redis: string, batch: string, until: (s: BatchStatus) => boolean, timeoutMs = 90_000, queue?: string): Promise<BatchStatus> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const s = await batchStatus({ redis, batch, ...(queue !== undefined ? { queue } : {}) });
    if (until(s)) return s;
    if (Date.now() > deadline) throw new Error(`batch ${batch} did not get there: ${JSON.stringify(s)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const stripTiming = (line: string): unknown => {
  const r = JSON.parse(line) as Record<string, unknown>;
  delete r.timing;
  // ffmpeg's messages hold a pointer address that differs between runs.
  if (typeof r.error === 'object' && r.error !== null) {
    const e = r.error as { message: string };
    e.message = e.message.replace(/0x[0-9a-f]+/g, '0x');
  }
  return r;
};

describe.skipIf(!HAS_REDIS || !HAS_GOLDEN)('with a real Redis and real workers', () => {
  let weights = '';
  let videos: string[] = [];
  let junk = '';
  let missing = '';
  const workers: WorkerProc[] = [];
  const servers: RedisServer[] = [];
  const worker = (url: string, ...extra: string[]): WorkerProc => {
    const w = new WorkerProc(['--redis', url, '--weights', weights, '--threads', '1', ...extra]);
    workers.push(w);
    return w;
  };
  const redis = async (persistence = false): Promise<RedisServer> => {
    const s = await startRedis({ persistence });
    servers.push(s);
    return s;
  };

  beforeAll(async () => {
    if (!HAS_REDIS) console.warn(REDIS_SKIP_REASON);
    if (!HAS_GOLDEN) console.warn(GOLDEN_SKIP_REASON);
    weights = await goldenXz('stnet_seed7_q.pdparams');
    videos = Array.from({ length: 10 }, (_, i) => {
      const p = join(tmp, `clip${String(i).padStart(2, '0')}.mp4`);
      copyFileSync(golden('golden_testsrc2_160x120.mp4'), p);
      return p;
    });
    junk = join(tmp, 'junk.mp4');
    writeFileSync(junk, 'this is not a video\n');
    missing = join(tmp, 'no-such-video.mp4');
  });
  afterAll(async () => {
    for (const w of workers) w.kill('SIGKILL');
    await Promise.all(workers.map((w) => w.exited));
    await Promise.all(servers.map((s) => s.stop()));
  });

  describe('one Redis, two workers (the tests build on each other)', () => {
    let server: RedisServer;
    let a: WorkerProc;
    let b: WorkerProc;

    it('10 videos, one worker SIGKILLed mid-batch: every result exactly once', async () => {
      server = await redis();
      a = worker(server.url, ...FAST_LOCKS);
      b = worker(server.url, ...FAST_LOCKS);
      await Promise.all([a.waitFor(/ready: queue stnet, 1 thread, concurrency 1/), b.waitFor(/ready: queue stnet/)]);

      const list = join(tmp, 'list.txt');
      writeFileSync(list, `# ten copies\n${videos.join('\n')}\n`);
      const sub = await runCli(['submit', '--redis', server.url, '--batch', 'k1', '--input_file', list, ...SMALL], { env });
      expect(sub).toMatchObject({ code: 0, stdout: 'k1\n', stderr: 'stnet: batch k1: 10 videos queued\n' });

      // Kill A while it runs its second video (it has finished one, so it was really working).
      const firstDone = await a.waitFor(/^stnet: done /);
      const started = await a.waitFor(/^stnet: start /, 90_000, firstDone + 1);
      a.kill('SIGKILL');
      expect((await a.exited).signal).toBe('SIGKILL');
      const lost = /^stnet: start (.+)$/.exec(a.lines[started]!)![1]!;
      expect(a.done()).not.toContain(lost);

      const s = await waitForStatus(server.url, 'k1', (x) => x.done + x.failed === 10);
      expect(s).toEqual({ batch: 'k1', total: 10, done: 10, failed: 0, waiting: 0, active: 0 });
      // Exactly once: the done lines of both workers together name each video once; B redid A's lost one.
      expect([...a.done(), ...b.done()].sort()).toEqual(videos);
      expect(b.done()).toContain(lost);
      const client = new Redis(server.url);
      expect(await client.zcard('bull:stnet:completed')).toBe(10);
      client.disconnect();

      const res = await runCli(['results', '--redis', server.url, '--batch', 'k1', '--format', 'jsonl'], { env });
      expect(res).toMatchObject({ code: 0, stderr: '' });
      const lines = res.stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as { path: string; ok: boolean; predictions: unknown[] });
      expect(lines.map((l) => l.path)).toEqual(videos); // input order
      expect(lines.every((l) => l.ok && l.predictions.length === 5)).toBe(true);

      const st = await runCli(['status', '--redis', server.url, '--batch', 'k1', '--format', 'json'], { env });
      expect(st).toMatchObject({ code: 0, stderr: '' });
      expect(JSON.parse(st.stdout)).toEqual({ batch: 'k1', total: 10, done: 10, failed: 0, waiting: 0, active: 0 });
      const text = await runCli(['status', '--redis', server.url, '--batch', 'k1'], { env });
      expect(text.stdout).toBe('batch k1: 10 videos, 10 done, 0 failed, 0 active, 0 waiting\n');
    });

    it('the same list submitted again does no work twice', async () => {
      const before = b.count(/^stnet: start /);
      const again = await runCli(['submit', '--redis', server.url, '--batch', 'k1', '--input_path', ...videos, ...SMALL, '--wait', '--format', 'json'], { env });
      expect(again.code).toBe(0);
      expect(again.stderr).toBe('stnet: batch k1: 0 queued (10 already in the batch); waiting (Ctrl-C stops waiting, the jobs go on)\n');
      const res = await runCli(['results', '--redis', server.url, '--batch', 'k1', '--format', 'json'], { env });
      expect(again.stdout).toBe(res.stdout);
      await new Promise((r) => setTimeout(r, 1500));
      expect(b.count(/^stnet: start /)).toBe(before);
    });

    it('poison files fail at once with their code, no retries; --wait prints what stnet run prints', async () => {
      const before = b.lines.length;
      const paths = [videos[0]!, junk, missing];
      const sub = await runCli(['submit', '--redis', server.url, '--batch', 'p1', '--input_path', ...paths, ...SMALL, '--attempts', '3', '--wait', '--format', 'jsonl'], { env });
      expect(sub.code).toBe(1);
      expect(sub.stderr).toMatch(/stnet: 2 of 3 videos failed \(see the output\)\n$/);
      const got = sub.stdout.trimEnd().split('\n');
      expect(got.map((l) => (JSON.parse(l) as { error?: { code: string } }).error?.code)).toEqual([undefined, 'E_VIDEO_UNDECODABLE', 'E_VIDEO_NOT_FOUND']);
      // One try each: a bad video is not retried.
      const mine = b.lines.slice(before);
      expect(mine.filter((l) => l === `stnet: start ${junk}`)).toHaveLength(1);
      expect(mine.filter((l) => l === `stnet: start ${missing}`)).toHaveLength(1);
      expect(mine).toContain(`stnet: failed ${junk}: E_VIDEO_UNDECODABLE`);
      expect(mine.some((l) => l.startsWith('stnet: will retry'))).toBe(false);

      // The same videos through `stnet run`: the same lines, timing apart.
      const run = await runCli(['run', '--weights', weights, '--threads', '1', '--input_path', ...paths, ...SMALL, '--format', 'jsonl'], { env });
      expect(run.code).toBe(1);
      expect(got.map(stripTiming)).toEqual(run.stdout.trimEnd().split('\n').map(stripTiming));
    });

    it('submit --embedding: the option travels in the job; the worker returns the same 1024 values as stnet run --embedding', async () => {
      const sub = await runCli(['submit', '--redis', server.url, '--batch', 'e1', '--input_path', videos[1]!, ...SMALL, '--embedding', '--wait', '--format', 'json'], { env });
      expect(sub.code, sub.stderr).toBe(0);
      const [queued] = JSON.parse(sub.stdout) as { ok: boolean; embedding?: number[] }[];
      expect(queued!.ok).toBe(true);
      expect(queued!.embedding).toHaveLength(1024);
      const run = await runCli(['run', '--weights', weights, '--threads', '1', '--input_path', videos[1]!, ...SMALL, '--embedding', '--format', 'json'], { env });
      expect(run.code, run.stderr).toBe(0);
      const [local] = JSON.parse(run.stdout) as { embedding: number[] }[];
      // Same model, same frames; the worker has its own thread count, so allow float summation-order noise.
      const maxDiff = Math.max(...local!.embedding.map((v, i) => Math.abs(v - queued!.embedding![i]!)));
      expect(maxDiff).toBeLessThan(1e-4);
      // Without the flag the job carries none.
      const plain = await runCli(['submit', '--redis', server.url, '--batch', 'e2', '--input_path', videos[1]!, ...SMALL, '--wait', '--format', 'json'], { env });
      expect((JSON.parse(plain.stdout) as { embedding?: unknown }[])[0]!.embedding).toBeUndefined();
    });

    it('http URL jobs: downloaded into $STNET_HOME/tmp and removed; a 404 fails at once with E_VIDEO_DOWNLOAD', async () => {
      const clip = readFileSync(videos[0]!);
      const http = createHttpServer((req, res) => {
        if (req.url === '/clip.mp4') res.writeHead(200, { 'content-type': 'video/mp4', 'content-length': clip.length }).end(clip);
        else res.writeHead(404).end('not here');
      });
      await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
      const base = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
      try {
        const before = b.lines.length;
        const sub = await runCli(['submit', '--redis', server.url, '--batch', 'u1', '--input_path', `${base}/clip.mp4`, `${base}/gone.mp4`, ...SMALL, '--wait', '--format', 'jsonl'], { env });
        expect(sub.code).toBe(1);
        const got = sub.stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as { path: string; ok: boolean; error?: { code: string; message: string } });
        expect(got.map((r) => [r.path, r.ok])).toEqual([[`${base}/clip.mp4`, true], [`${base}/gone.mp4`, false]]);
        expect(got[1]!.error).toEqual({ code: 'E_VIDEO_DOWNLOAD', message: `${base}/gone.mp4: HTTP 404 Not Found` });
        expect(b.lines.slice(before).filter((l) => l === `stnet: start ${base}/gone.mp4`)).toHaveLength(1);
        expect(readdirSync(join(tmp, 'home', 'tmp'))).toEqual([]);
      } finally {
        http.close();
      }
    });

    it('SIGTERM during a job: that job finishes, the worker exits 0, the rest stays queued', async () => {
      b.kill('SIGTERM');
      expect(await b.exited).toEqual({ code: 0, signal: null });
      const c = worker(server.url, '--queue', 'q2', '--lock_ms', '4000', '--stalled_ms', '500');
      await c.waitFor(/ready: queue q2/);
      const sub = await runCli(['submit', '--redis', server.url, '--queue', 'q2', '--batch', 't1', '--input_path', ...videos.slice(0, 3), ...SMALL], { env });
      expect(sub.code).toBe(0);
      const started = await c.waitFor(/^stnet: start /);
      c.kill('SIGTERM');
      expect(await c.exited).toEqual({ code: 0, signal: null });
      const path = /^stnet: start (.+)$/.exec(c.lines[started]!)![1]!;
      const term = c.lines.findIndex((l) => l.startsWith('stnet: SIGTERM: taking no new videos'));
      const done = c.lines.findIndex((l) => l.startsWith(`stnet: done ${path} (`));
      expect(term).toBeGreaterThan(started);
      expect(done).toBeGreaterThan(term); // finished after the signal
      expect(c.count(/^stnet: start /)).toBe(1);
      const stopped = c.lines.find((l) => l.includes(' stopped: '))!;
      expect(stopped).toMatch(/stopped: 1 video \(0 failed\), event loop max delay \d+ ms$/);
      // The lock (4 s) is renewed every 2 s from the event loop: it must never have been blocked that long.
      expect(Number(/delay (\d+) ms/.exec(stopped)![1])).toBeLessThan(2000);
      expect(await batchStatus({ redis: server.url, queue: 'q2', batch: 't1' })).toEqual({ batch: 't1', total: 3, done: 1, failed: 0, waiting: 2, active: 0 });
    });
  });

  it('Redis restarted under a running worker, with persistence: it reconnects and nothing is lost', async () => {
    const server = await redis(true);
    const w = worker(server.url, '--lock_ms', '10000', '--stalled_ms', '1000');
    await w.waitFor(/ready: queue stnet/);
    const sub = await runCli(['submit', '--redis', server.url, '--batch', 'r1', '--input_path', ...videos.slice(0, 6), ...SMALL], { env });
    expect(sub.code).toBe(0);
    await w.waitFor(/^stnet: done /);
    await server.restart();
    // Jobs queued before the restart are still there, and the worker goes on with them.
    const s = await waitForStatus(server.url, 'r1', (x) => x.done + x.failed === 6);
    expect(s).toEqual({ batch: 'r1', total: 6, done: 6, failed: 0, waiting: 0, active: 0 });
    expect(w.done().sort()).toEqual(videos.slice(0, 6));
    expect(server.log()).toMatch(/DB loaded from append only file|Reading the remaining AOF tail|DB loaded from (base|incr) file/);
  });
});
