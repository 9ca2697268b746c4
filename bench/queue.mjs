// The queue's cost: the same list classified by model.classify in one process (what `stnet run` does after
// loading), by 1 `stnet worker` with 2 threads, and by 2 workers with 1 thread each, through a Redis the bench
// starts itself (127.0.0.1, free port, temp dir). Configurations alternate order between rounds.
// Also 1 worker with --concurrency 2 (decode of one video overlapping inference of another, as the in-process
// pipeline does). Prints videos/s, the queue's overhead per job against the in-process run, and Redis commands per job
// (INFO commandstats before/after, commands run inside BullMQ's Lua scripts included; the bench waits on the
// workers' own log lines so its waiting adds none) and Redis memory per finished job.
//   node bench/queue.mjs [--full] [--videos N] [--rounds N] [weights]
// Needs `npx tsc -p .` and redis-server. Default weights: the golden pickle in .cache/test (run the tests once).
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync, existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BIN = join(ROOT, 'dist', 'cli', 'main.js');
const args = process.argv.slice(2);
const flag = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const full = args.includes('--full');
const count = flag('--videos', 8);
const rounds = flag('--rounds', 2);
const weights = args.find((a, i) => !a.startsWith('--') && !['--videos', '--rounds'].includes(args[i - 1])) ?? join(ROOT, '.cache', 'test', 'stnet_seed7_q.pdparams');
const clip = join(ROOT, '..', 'shared', 'fixtures', 'videos', 'paddlevideo_example.avi');
if (!existsSync(weights) || !existsSync(clip)) {
  console.error(`needs ${weights} and ${clip}`);
  process.exit(2);
}
const size = full ? { segNum: 25, shortSize: 256, targetSize: 256 } : { segNum: 7, shortSize: 128, targetSize: 112 };

const tmp = mkdtempSync(join(tmpdir(), 'stnet-bench-queue-'));
const home = join(tmp, 'home');
const videos = Array.from({ length: count }, (_, i) => {
  const p = join(tmp, `v${i}.avi`);
  symlinkSync(clip, p);
  return p;
});
const env = { ...process.env, STNET_HOME: home, STNET_GRAPH_CACHE: '1' };

const port = await new Promise((resolve) => {
  const s = createServer().listen(0, '127.0.0.1', () => {
    const p = s.address().port;
    s.close(() => resolve(p));
  });
});
const redisUrl = `redis://127.0.0.1:${port}`;
const redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', tmp, '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });

const { Redis } = await import(join(ROOT, 'node_modules', 'ioredis', 'built', 'index.js'));
const { submitBatch, batchStatus } = await import(join(ROOT, 'dist', 'queue', 'index.js'));
const { StNet } = await import(join(ROOT, 'dist', 'stnet.js'));
for (let i = 0; ; i++) {
  try {
    await batchStatus({ redis: redisUrl, batch: 'none' });
  } catch (e) {
    if (e.code !== 'E_QUEUE_UNREACHABLE') break; // "no such batch": Redis answers
    if (i > 50) throw e;
    await new Promise((r) => setTimeout(r, 100));
  }
}
const admin = new Redis(redisUrl);

async function commandStats() {
  const text = await admin.info('commandstats');
  const out = {};
  for (const m of text.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) out[m[1]] = Number(m[2]);
  return out;
}
/** MEMORY USAGE of the batch's job hashes, its manifest, and its share of the queue's event stream. */
async function batchMemory(batch) {
  let bytes = 0;
  let cursor = '0';
  do {
    const [next, keys] = await admin.scan(cursor, 'MATCH', `bull:stnet:${batch}.*`, 'COUNT', 1000);
    cursor = next;
    for (const k of keys) bytes += Number(await admin.memory('USAGE', k));
  } while (cursor !== '0');
  for (const k of await admin.keys(`bull:stnet:stnet-batch:{${batch}}:*`)) bytes += Number(await admin.memory('USAGE', k));
  const events = Number(await admin.memory('USAGE', 'bull:stnet:events'));
  const entries = await admin.xlen('bull:stnet:events');
  // Each job writes a few events (added, active, completed); the stream is capped at 10,000 entries.
  const xrange = await admin.xrange('bull:stnet:events', '-', '+');
  const mine = xrange.filter(([, fields]) => fields.some((f) => f.startsWith(`${batch}.`))).length;
  return bytes + (entries > 0 ? (events * mine) / entries : 0);
}
const diff = (a, b) => Object.fromEntries(Object.keys(b).map((k) => [k, b[k] - (a[k] ?? 0)]).filter(([, v]) => v > 0));
const sum = (o) => Object.values(o).reduce((s, v) => s + v, 0);

function startWorker([threads, concurrency]) {
  const child = spawn(process.execPath, [BIN, 'worker', '--redis', redisUrl, '--weights', weights, '--threads', String(threads), '--concurrency', String(concurrency)], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  const w = { child, done: 0, ready: undefined };
  let buf = '';
  w.ready = new Promise((resolve, reject) => {
    child.stderr.setEncoding('utf8').on('data', (d) => {
      buf += d;
      const lines = buf.split('\n');
      buf = lines.pop();
      for (const l of lines) {
        if (l.includes(' ready: ')) resolve();
        if (l.startsWith('stnet: done ') || l.startsWith('stnet: failed ')) w.done++;
      }
    });
    child.on('exit', (code) => reject(new Error(`worker exited ${code}`)));
  });
  return w;
}

async function viaQueue(workerThreads, batch) {
  const workers = workerThreads.map(startWorker);
  await Promise.all(workers.map((w) => w.ready));
  const before = await commandStats();
  const t0 = performance.now();
  await submitBatch({ redis: redisUrl, batch, paths: videos, options: size });
  const afterSubmit = await commandStats();
  while (workers.reduce((s, w) => s + w.done, 0) < count) await new Promise((r) => setTimeout(r, 20));
  const ms = performance.now() - t0;
  const after = await commandStats();
  const memBytes = await batchMemory(batch);
  await Promise.all(
    workers.map(
      (w) =>
        new Promise((resolve) => {
          w.child.on('exit', resolve);
          w.child.kill('SIGTERM');
        }),
    ),
  );
  const status = await batchStatus({ redis: redisUrl, batch });
  if (status.done !== count) throw new Error(`batch ${batch}: ${JSON.stringify(status)}`);
  return { ms, submitOps: diff(before, afterSubmit), workerOps: diff(afterSubmit, after), bytesPerJob: memBytes / count };
}

async function inProcess() {
  const model = await StNet.load({ weights, threads: availableParallelism() });
  const t0 = performance.now();
  const results = await model.classify(videos, size);
  const ms = performance.now() - t0;
  await model.close();
  if (!results.every((r) => r.ok)) throw new Error(JSON.stringify(results[0]));
  return { ms };
}

const configs = {
  'in-process classify (stnet run after load), 2 threads': () => inProcess(),
  '1 worker x 2 threads': (b) => viaQueue([[2, 1]], b),
  '2 workers x 1 thread': (b) => viaQueue([[1, 1], [1, 1]], b),
  '1 worker x 2 threads, --concurrency 2': (b) => viaQueue([[2, 2]], b),
};
const names = Object.keys(configs);
const times = Object.fromEntries(names.map((n) => [n, []]));
let ops;
// Warm-up: builds the graph cache and fills the page cache.
await configs[names[1]]('warmup');
for (let r = 0; r < rounds; r++) {
  const order = r % 2 === 0 ? names : [...names].reverse();
  for (const n of order) {
    const res = await configs[n](`round${r}-${names.indexOf(n)}`);
    times[n].push(res.ms);
    if (n === names[1] && ops === undefined) ops = res;
  }
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
console.log(`${count} videos (${clip.split('/').pop()}), seg_num ${size.segNum}, ${size.shortSize} -> ${size.targetSize} px, ${rounds} rounds, ${availableParallelism()} cores (machine shared: ratios are what counts)`);
const base = median(times[names[0]]);
for (const n of names) {
  const m = median(times[n]);
  console.log(`${n.padEnd(54)} ${(m / 1000).toFixed(2)} s  ${((count * 1000) / m).toFixed(2)} videos/s  x${(base / m).toFixed(2)}  [${times[n].map((t) => (t / 1000).toFixed(1)).join(', ')}]`);
}
console.log(`queue overhead per job (1 worker x 2 threads vs in-process): ${((median(times[names[1]]) - base) / count).toFixed(0)} ms`);
const fmt = (o) => Object.entries(o).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${(v / count).toFixed(1)}`).join(', ');
console.log(`Redis commands per job, submit: ${(sum(ops.submitOps) / count).toFixed(1)} (${fmt(ops.submitOps)})`);
console.log(`Redis commands per job, worker: ${(sum(ops.workerOps) / count).toFixed(1)} (${fmt(ops.workerOps)})`);
console.log(`Redis memory per finished job (job hash with result, manifest, its events; kept for --keep): ${(ops.bytesPerJob / 1024).toFixed(1)} KiB`);
console.log('(worker commands include the idle blocking fetches, lock renewals and stall checks of the run; EVALSHA = one BullMQ Lua script)');

admin.disconnect();
redis.kill('SIGTERM');
await new Promise((r) => redis.on('exit', r));
rmSync(tmp, { recursive: true, force: true });
