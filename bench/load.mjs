#!/usr/bin/env node
// Load test for `stnet serve` (not a unit test): M concurrent clients send a video for K seconds and
// the script prints throughput, p50/p95 latency, status counts and the server's RSS before, at peak
// and after. By default it starts a local server from dist/ (run `npx tsc -p .` first) in its own
// process, with a private TMPDIR, and stops it with SIGTERM at the end (checking it exits 0 and
// leaves no upload behind). With --url it loads an already running server instead.
//
//   node bench/load.mjs [--concurrency 4] [--seconds 20] [--video FILE] [--bad_ratio 0.1]
//                       [--workers N] [--threads N] [--max_queue N] [--weights FILE]
//                       [--seg_num 7] [--size 112] [--url http://127.0.0.1:8866] [--token T]
//                       [--mixed 7,25] [--requests N]
//
// Defaults keep a run short on a small machine: the golden seed-7 weights, seg_num 7 and 112x112
// input (pass --seg_num 25 --size 256 for the reference's full-size input). --mixed 7,25 makes the
// requests take turns with those seg_num values (?seg_num=), i.e. input shapes, and prints the RSS
// after every request: what grew when onnxruntime kept a memory plan per shape. --requests N stops
// after N requests instead of after --seconds.
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SHARED = join(ROOT, '..', 'shared', 'fixtures');

const { values: a } = parseArgs({
  options: {
    url: { type: 'string' },
    token: { type: 'string' },
    concurrency: { type: 'string', default: '4' },
    seconds: { type: 'string', default: '20' },
    video: { type: 'string', default: join(SHARED, 'videos', 'mmaction2_demo.mp4') },
    bad_ratio: { type: 'string', default: '0' },
    workers: { type: 'string' },
    threads: { type: 'string' },
    max_queue: { type: 'string' },
    weights: { type: 'string' },
    seg_num: { type: 'string', default: '7' },
    size: { type: 'string', default: '112' },
    mixed: { type: 'string' },
    requests: { type: 'string' },
    help: { type: 'boolean', default: false },
  },
  strict: true,
});
if (a.help) {
  process.stdout.write(readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n').slice(1).filter((l, i, all) => all.slice(0, i + 1).every((x) => x.startsWith('//'))).map((l) => l.replace(/^\/\/ ?/, '')).join('\n') + '\n');
  process.exit(0);
}

const M = Number(a.concurrency);
const K = Number(a.seconds);
const badRatio = Number(a.bad_ratio);
if (!(M >= 1) || !(K > 0) || !(badRatio >= 0 && badRatio <= 1)) throw new Error('--concurrency >= 1, --seconds > 0 and 0 <= --bad_ratio <= 1');
const mixed = a.mixed === undefined ? [] : a.mixed.split(',').map(Number);
if (mixed.some((n) => !Number.isInteger(n) || n < 1)) throw new Error('--mixed takes seg_num values, e.g. 7,25');
const maxRequests = a.requests === undefined ? Infinity : Number(a.requests);
if (!(maxRequests >= 1)) throw new Error('--requests >= 1');
const video = readFileSync(a.video);
const garbage = Buffer.from('this is not a video\n'.repeat(2000));

function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

/** Decompresses the golden weights once into .cache/test (as the tests do). */
function goldenWeights() {
  const out = join(ROOT, '.cache', 'test', 'stnet_seed7_q.pdparams');
  if (existsSync(out)) return out;
  const src = join(SHARED, 'golden', 'stnet_seed7_q.pdparams.xz');
  if (!existsSync(src)) throw new Error(`no --weights and no golden weights at ${src}`);
  mkdirSync(join(ROOT, '.cache', 'test'), { recursive: true });
  writeFileSync(`${out}.tmp`, execFileSync('xz', ['-dc', '--', src], { maxBuffer: 1 << 30 }));
  execFileSync('mv', [`${out}.tmp`, out]);
  return out;
}

async function startLocal() {
  const serve = join(ROOT, 'dist', 'server', 'serve.js');
  if (!existsSync(serve)) throw new Error(`${serve} not found: run npx tsc -p . first`);
  const tmp = mkdtempSync(join(tmpdir(), 'stnet-load-'));
  const opts = {
    port: 0,
    weights: a.weights ?? process.env.STNET_WEIGHTS ?? goldenWeights(),
    classifyDefaults: { segNum: Number(a.seg_num), shortSize: Number(a.size), targetSize: Number(a.size) },
    ...(a.workers !== undefined ? { workers: Number(a.workers) } : {}),
    ...(a.threads !== undefined ? { threads: Number(a.threads) } : {}),
    ...(a.max_queue !== undefined ? { maxQueue: Number(a.max_queue) } : {}),
    ...(a.token !== undefined ? { token: a.token } : {}),
  };
  const script = join(tmp, 'serve.mjs');
  writeFileSync(script, `import { serveCommand } from ${JSON.stringify(serve)};\nawait serveCommand(${JSON.stringify(opts)});\n`);
  const uploads = join(tmp, 'tmp');
  mkdirSync(uploads);
  const child = spawn(process.execPath, [script], { env: { ...process.env, TMPDIR: uploads }, stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d) => (log += d));
  const exited = new Promise((r) => child.on('exit', (code, signal) => r({ code, signal })));
  const t0 = Date.now();
  while (!/listening on (http:\/\/\S+)/.test(log)) {
    if (child.exitCode !== null) throw new Error(`server exited:\n${log}`);
    if (Date.now() - t0 > 120_000) throw new Error(`server did not start in 120 s:\n${log}`);
    await sleep(50);
  }
  const url = /listening on (http:\/\/\S+)/.exec(log)[1];
  const banner = /listening on \S+ \(([^)]*)\)/.exec(log)?.[1] ?? '';
  return {
    url,
    banner,
    log: () => log,
    async stop() {
      child.kill('SIGTERM');
      const res = await exited;
      // Only the server's own upload dir counts (other tools may drop files in TMPDIR too).
      const left = readdirSync(uploads).filter((n) => n.startsWith('stnet-serve-'));
      rmSync(tmp, { recursive: true, force: true });
      return { ...res, leftInTmp: left };
    },
  };
}

async function rssMiB(url) {
  const res = await fetch(`${url}/metrics`, { headers: a.token ? { authorization: `Bearer ${a.token}` } : {} });
  const m = /^process_resident_memory_bytes (\d+)$/m.exec(await res.text());
  return m ? Number(m[1]) / 1048576 : NaN;
}

function pct(sorted, p) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

const local = a.url === undefined ? await startLocal() : undefined;
const url = (a.url ?? local.url).replace(/\/$/, '');
const headers = { 'content-type': 'video/mp4', ...(a.token ? { authorization: `Bearer ${a.token}` } : {}) };

// One warm-up request so "before" is the RSS of a server that has run the model once.
const warm = await fetch(`${url}/predict/stnet_kinetics400`, { method: 'POST', body: video, headers });
if (warm.status !== 200) throw new Error(`warm-up request failed: ${warm.status} ${await warm.text()}`);
await sleep(500);
const rssBefore = await rssMiB(url);

const statuses = new Map();
const latOk = [];
const latAll = [];
let rssPeak = rssBefore;
let sent = 0;
let netErrors = 0;
const end = Date.now() + (Number.isFinite(maxRequests) ? 24 * 3600 : K) * 1000;
/** RSS after each answered request (with --mixed: which seg_num it had). */
const series = [];
const sampler = setInterval(() => {
  rssMiB(url).then((v) => (rssPeak = Math.max(rssPeak, v)), () => undefined);
}, 500);

async function client(id) {
  let n = 0;
  while (Date.now() < end && sent < maxRequests) {
    const bad = badRatio > 0 && ((n++ * 7919 + id * 104729) % 1000) / 1000 < badRatio;
    const t = performance.now();
    const segNum = mixed.length > 0 ? mixed[sent % mixed.length] : undefined;
    sent++;
    try {
      const query = segNum === undefined ? '' : `?seg_num=${segNum}`;
      const res = await fetch(`${url}/predict/stnet_kinetics400${query}`, { method: 'POST', body: bad ? garbage : video, headers });
      await res.arrayBuffer();
      const ms = performance.now() - t;
      if (mixed.length > 0) series.push({ segNum, status: res.status, rssMiB: await rssMiB(url) });
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      latAll.push(ms);
      if (res.status === 200) latOk.push(ms);
      if (res.status === 429) {
        // A polite client: wait as told (capped by the time left).
        const wait = Number(res.headers.get('retry-after') ?? '1') * 1000;
        await sleep(Math.max(0, Math.min(wait, end - Date.now())));
      }
    } catch {
      netErrors++;
    }
  }
}

const t0 = performance.now();
await Promise.all(Array.from({ length: M }, (_, i) => client(i)));
const wall = (performance.now() - t0) / 1000;
clearInterval(sampler);
await sleep(2000);
const rssAfter = await rssMiB(url);
const stopped = local ? await local.stop() : undefined;

latOk.sort((x, y) => x - y);
latAll.sort((x, y) => x - y);
const ok = statuses.get(200) ?? 0;
const fiveXX = [...statuses].filter(([s]) => s >= 500).reduce((n, [, c]) => n + c, 0);
const r1 = (v) => Math.round(v * 10) / 10;
const lines = [
  `stnet serve load test: ${M} concurrent clients for ${Number.isFinite(maxRequests) ? `${maxRequests} requests` : `${K} s`} against ${url}${local ? ` (local: ${local.banner})` : ''}`,
  `video ${a.video} (${(video.length / 1048576).toFixed(2)} MiB)${badRatio > 0 ? `, ${Math.round(badRatio * 100)} % undecodable bodies` : ''}${local ? `, seg_num ${mixed.length > 0 ? `${mixed.join('/')} in turn` : a.seg_num}, ${a.size}x${a.size}` : ''}`,
  `requests sent ${sent} in ${r1(wall)} s; status counts ${JSON.stringify(Object.fromEntries([...statuses].sort((x, y) => x[0] - y[0])))}; network errors ${netErrors}; 5xx ${fiveXX}`,
  `throughput ${(ok / wall).toFixed(2)} videos/s (200 only), ${(latAll.length / wall).toFixed(2)} responses/s`,
  `latency of 200s: p50 ${Math.round(pct(latOk, 50))} ms, p95 ${Math.round(pct(latOk, 95))} ms, max ${Math.round(latOk.at(-1) ?? NaN)} ms`,
  `server RSS: before ${r1(rssBefore)} MiB (after one warm-up request), peak ${r1(rssPeak)} MiB, after ${r1(rssAfter)} MiB (2 s after the load), after/before ${(rssAfter / rssBefore).toFixed(3)}`,
];
if (series.length > 0) {
  lines.push(`RSS after each request (seg_num:MiB): ${series.map((x) => `${x.segNum}:${Math.round(x.rssMiB)}${x.status === 200 ? '' : `(${x.status})`}`).join(' ')}`);
  const half = series.slice(Math.floor(series.length / 2));
  lines.push(`RSS, mixed shapes: after the first request ${r1(series[0].rssMiB)} MiB, max ${r1(Math.max(...series.map((x) => x.rssMiB)))} MiB, max over the second half ${r1(Math.max(...half.map((x) => x.rssMiB)))} MiB`);
}
if (stopped) lines.push(`SIGTERM: exit code ${stopped.code}${stopped.signal ? ` (signal ${stopped.signal})` : ''}, upload dirs left in TMPDIR: ${stopped.leftInTmp.length}`);
process.stdout.write(lines.join('\n') + '\n');
process.stdout.write(
  JSON.stringify({
    concurrency: M,
    seconds: K,
    sent,
    statuses: Object.fromEntries(statuses),
    netErrors,
    throughput: ok / wall,
    p50: pct(latOk, 50),
    p95: pct(latOk, 95),
    rssBeforeMiB: rssBefore,
    rssPeakMiB: rssPeak,
    rssAfterMiB: rssAfter,
    ...(series.length > 0 ? { rssSeriesMiB: series.map((x) => [x.segNum, Math.round(x.rssMiB)]) } : {}),
    exit: stopped?.code,
  }) + '\n',
);
if (fiveXX > 0 || netErrors > 0 || (stopped && stopped.code !== 0)) process.exitCode = 1;
