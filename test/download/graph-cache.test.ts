// The ONNX graph cache: a second StNet.load reads the built graph instead of the weights, gives the
// same numbers, survives a damaged cache file, and stays off by default for explicit weight paths.
import { copyFileSync, existsSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync, writeSync, closeSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { GRAPH_BUILDER_VERSION } from '../../src/graph/stnet.js';
import { StNet, loadStnetModels } from '../../src/stnet.js';
import { checkModelSourceOptions, loadModelBytes } from '../../src/model/load.js';
import { GRAPH_CACHE_KEEP, cleanGraphs, graphCacheEnabled, graphCachePath, listGraphs, writeGraphCache } from '../../src/graph/cache.js';
import { StnetError } from '../../src/errors.js';
import { GOLDEN_SKIP_REASON, HAS_GOLDEN, golden, goldenXz } from '../helpers/golden.js';

const savedEnv = process.env.STNET_GRAPH_CACHE;
afterEach(() => {
  if (savedEnv === undefined) delete process.env.STNET_GRAPH_CACHE;
  else process.env.STNET_GRAPH_CACHE = savedEnv;
});

describe('graphCacheEnabled', () => {
  it.each([
    [undefined, undefined, true, true],
    [undefined, undefined, false, false],
    [false, '1', true, false],
    [true, '0', false, true],
    [undefined, '0', true, false],
    [undefined, 'false', true, false],
    [undefined, '1', false, true],
  ])('option %s, STNET_GRAPH_CACHE=%s, default %s -> %s', (option, env, fallback, expected) => {
    if (env === undefined) delete process.env.STNET_GRAPH_CACHE;
    else process.env.STNET_GRAPH_CACHE = env;
    expect(graphCacheEnabled(option, fallback)).toBe(expected);
  });
});

describe('graph cache files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'stnet-gc-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('the key follows the weights file: a new mtime or size is a new graph; a folder has none', () => {
    const w = join(dir, 'w.bin');
    writeFileSync(w, 'abc');
    const a = graphCachePath(w, join(dir, 'home'))!;
    expect(a).toMatch(/home\/graphs\/[0-9a-f]{32}\.onnx$/);
    expect(graphCachePath(w, join(dir, 'home'))).toBe(a);
    utimesSync(w, new Date(1_000_000), new Date(1_000_000));
    expect(graphCachePath(w, join(dir, 'home'))).not.toBe(a);
    expect(graphCachePath(dir, join(dir, 'home'))).toBeUndefined();
    expect(graphCachePath(join(dir, 'missing'), join(dir, 'home'))).toBeUndefined();
  });

  it('the variant is part of the key: an int8 graph never replaces the fp32 one', () => {
    const w = join(dir, 'v.bin');
    writeFileSync(w, 'abc');
    const fp32 = graphCachePath(w, join(dir, 'home'))!;
    expect(graphCachePath(w, join(dir, 'home'), 'fp32')).toBe(fp32);
    expect(graphCachePath(w, join(dir, 'home'), 'int8:calib-a')).not.toBe(fp32);
    expect(graphCachePath(w, join(dir, 'home'), 'int8:calib-b')).not.toBe(graphCachePath(w, join(dir, 'home'), 'int8:calib-a'));
  });

  it('info files: listed with their graph, pruned and cleaned with it', async () => {
    const home = join(dir, 'info-home');
    const g = join(home, 'graphs');
    for (const [i, name] of ['a', 'b', 'c'].entries()) {
      expect(await writeGraphCache(join(g, `${name}.onnx`), new Uint8Array(10 + i), { weights: `/w/${name}`, variant: 'fp32', builderVersion: 1 })).toBe(true);
      utimesSync(join(g, `${name}.onnx`), new Date(1_000_000 * (i + 1)), new Date(1_000_000 * (i + 1)));
    }
    // Writing c pruned the oldest beyond GRAPH_CACHE_KEEP when it was written; a is gone with its info file.
    expect(readdirSync(g).sort()).toEqual(['b.json', 'b.onnx', 'c.json', 'c.onnx']);
    expect(listGraphs(home).map((x) => [x.path.split('/').pop(), x.bytes, x.info?.weights])).toEqual([
      ['c.onnx', 12, '/w/c'],
      ['b.onnx', 11, '/w/b'],
    ]);
    writeFileSync(join(g, 'b.json'), 'not json');
    expect(listGraphs(home)[1]!.info).toBeUndefined();
    const cInfo = readFileSync(join(g, 'c.json')).length;
    expect(cleanGraphs(home)).toBe(23 + 'not json'.length + cInfo);
    expect(readdirSync(g)).toEqual([]);
  });

  it(`keeps the ${GRAPH_CACHE_KEEP} most recently used graphs`, async () => {
    const g = join(dir, 'prune', 'graphs');
    mkdirSync(g, { recursive: true });
    for (const [i, name] of ['old.onnx', 'mid.onnx'].entries()) {
      writeFileSync(join(g, name), 'x');
      utimesSync(join(g, name), new Date(1_000_000 * (i + 1)), new Date(1_000_000 * (i + 1)));
    }
    expect(await writeGraphCache(join(g, 'new.onnx'), new Uint8Array([1, 2, 3]))).toBe(true);
    expect(readdirSync(g).sort()).toEqual(['mid.onnx', 'new.onnx']);
    expect([...readFileSync(join(g, 'new.onnx'))]).toEqual([1, 2, 3]);
  });
});

describe.skipIf(!HAS_GOLDEN)('StNet.load with the graph cache (golden weights)', () => {
  let tmp = '';
  let weights = '';
  let input: Float32Array;
  const dims = [1, 7, 15, 112, 112];
  const MTIME = new Date('2026-01-02T03:04:05Z');
  beforeAll(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'stnet-gcl-'));
    weights = join(tmp, 'STNET_final.pdparams');
    copyFileSync(await goldenXz('stnet_seed7_q.lodtensor'), weights);
    // A whole-second mtime, so that the test can put it back exactly after rewriting the file.
    utimesSync(weights, MTIME, MTIME);
    const buf = readFileSync(golden('input.f32'));
    input = new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4);
  });
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it('first start writes the graph; the second start uses it (the weights are not read again) and gives identical output', async () => {
    const home = join(tmp, 'home');
    const m1 = await StNet.load({ weights, cacheDir: home, graphCache: true, threads: 2 });
    const p1 = await m1.predict(input, dims);
    await m1.close();
    const graph = graphCachePath(weights, home)!;
    const key = graph.split('/').pop()!.replace(/\.onnx$/, '');
    // The graph and its info file (what `stnet cache` shows it was built from), and onnxruntime's optimized copy
    // (the session of the start that built the graph opened the written file).
    expect(readdirSync(join(home, 'graphs')).sort()).toEqual([`${key}.json`, `${key}.onnx`, expect.stringMatching(new RegExp(`^${key}\\.opt-[0-9a-f]{12}\\.ortopt$`))]);
    expect(JSON.parse(readFileSync(join(home, 'graphs', `${key}.json`), 'utf8'))).toEqual({ weights, variant: 'fp32', builderVersion: GRAPH_BUILDER_VERSION });
    expect(statSync(graph).size).toBeGreaterThan(130_000_000);

    // Overwrite the weights in place with zeros, keeping size and mtime: only a cache hit can still load.
    const fd = openSync(weights, 'r+');
    writeSync(fd, Buffer.alloc(1 << 20), 0, 1 << 20, 0);
    closeSync(fd);
    utimesSync(weights, MTIME, MTIME);
    try {
      expect(graphCachePath(weights, home)).toBe(graph);
      const m2 = await StNet.load({ weights, cacheDir: home, graphCache: true, threads: 2 });
      const p2 = await m2.predict(input, dims);
      await m2.close();
      expect(p2).toEqual(p1);
      // Without the cache the damaged weights are refused: the hit above really skipped them.
      await expect(StNet.load({ weights, cacheDir: home, graphCache: false })).rejects.toMatchObject({ code: expect.stringMatching(/^E_WEIGHTS_/) });
    } finally {
      copyFileSync(await goldenXz('stnet_seed7_q.lodtensor'), weights); // restore for the next tests
      utimesSync(weights, MTIME, MTIME);
    }
  });

  it('a damaged cached graph is rebuilt from the weights', async () => {
    const home = join(tmp, 'home2');
    const graph = graphCachePath(weights, home)!;
    mkdirSync(join(home, 'graphs'), { recursive: true });
    writeFileSync(graph, 'not an onnx model');
    const m = await StNet.load({ weights, cacheDir: home, graphCache: true, threads: 2 });
    const probs = await m.predict(input, dims);
    await m.close();
    const expected = JSON.parse(readFileSync(golden('expected.json'), 'utf8')) as { top5: { class_id: number }[] };
    const best = probs.indexOf(Math.max(...probs));
    expect(best).toBe(expected.top5[0]!.class_id);
    expect(statSync(graph).size).toBeGreaterThan(130_000_000);
  });

  it('a cache hit hands onnxruntime the file (no bytes in JavaScript); count 2 opens two sessions on it that compute the same', async () => {
    const home = join(tmp, 'home-multi');
    const first = await loadModelBytes(checkModelSourceOptions({ weights, cacheDir: home, graphCache: true }));
    // Built now, and once written to the cache it is the file that sessions open (the bytes are let go).
    expect(first).toMatchObject({ graph: 'built', model: graphCachePath(weights, home) });
    // With the cache off there is no file: the bytes themselves.
    const uncached = await loadModelBytes(checkModelSourceOptions({ weights, cacheDir: home, graphCache: false }));
    expect(uncached.graph).toBe('built');
    expect(uncached.model).toBeInstanceOf(Uint8Array);
    const hit = await loadModelBytes(checkModelSourceOptions({ weights, cacheDir: home, graphCache: true }));
    expect(hit).toMatchObject({ graph: 'cache', model: graphCachePath(weights, home), weightsPath: weights, weightsSource: 'option' });
    const models = await loadStnetModels({ weights, cacheDir: home, graphCache: true, threads: 1 }, 2);
    try {
      expect(models).toHaveLength(2);
      const [a, b] = await Promise.all(models.map((m) => m.predict(input, dims)));
      expect(a).toEqual(b);
      expect(models.map((m) => m.weightsPath)).toEqual([weights, weights]);
    } finally {
      await Promise.all(models.map((m) => m.close()));
    }
    await expect(loadStnetModels({ weights, cacheDir: home }, 0)).rejects.toMatchObject({ code: 'E_INVALID_OPTION', message: expect.stringMatching(/for count but received 0/) });
  });

  it("onnxruntime's optimized graph: saved by the first start, used by the next start with the same output; a damaged one is replaced; cleaned and pruned with its graph", async () => {
    const home = join(tmp, 'home-opt');
    const load = () => StNet.load({ weights, cacheDir: home, graphCache: true, threads: 2 });
    const outputs: Float32Array[] = [];
    const optimized = () => readdirSync(join(home, 'graphs')).filter((n) => n.endsWith('.ortopt'));
    for (let i = 0; i < 4; i++) {
      if (i === 3) writeFileSync(join(home, 'graphs', optimized()[0]!), 'not an onnx model');
      const m = await load();
      outputs.push(await m.predict(input, dims));
      await m.close();
      // Start 0 builds the graph from the weights, writes it and opens the file, saving onnxruntime's optimized
      // form beside it; starts 1-3 read that (3: the damaged copy is refused and saved again).
      const names = optimized();
      expect(names).toHaveLength(1);
      expect(names[0]).toMatch(/^[0-9a-f]{32}\.opt-[0-9a-f]{12}\.ortopt$/);
      expect(statSync(join(home, 'graphs', names[0]!)).size).toBeGreaterThan(130_000_000);
    }
    for (const o of outputs.slice(1)) expect(o).toEqual(outputs[0]);
    // Not a graph of its own: `stnet cache` lists one graph; pruning and cleaning remove the copy with it.
    expect(listGraphs(home)).toHaveLength(1);
    const g = join(home, 'graphs');
    for (const name of ['x', 'y']) {
      const other = join(g, `${name.repeat(32)}.onnx`);
      await writeGraphCache(other, new Uint8Array(3));
      utimesSync(other, new Date(Date.now() + 10_000), new Date(Date.now() + 10_000));
    }
    expect(readdirSync(g).filter((n) => !n.startsWith('x') && !n.startsWith('y'))).toEqual([]);
    writeFileSync(join(g, `${'x'.repeat(32)}.opt-${'0'.repeat(12)}.ortopt`), 'x');
    expect(cleanGraphs(home)).toBeGreaterThan(0);
    expect(readdirSync(g)).toEqual([]);
  });

  it("a build's errors keep their code and path (they cross from the build thread); an abort stops it and writes no graph", async () => {
    const home = join(tmp, 'home-worker');
    const cut = join(tmp, 'cut.pdparams');
    writeFileSync(cut, readFileSync(weights).subarray(0, 5_000_000));
    const err: unknown = await loadModelBytes(checkModelSourceOptions({ weights: cut, cacheDir: home, graphCache: true })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StnetError);
    expect(err).toMatchObject({ code: 'E_WEIGHTS_TRUNCATED', path: cut, message: expect.stringContaining(cut) });
    const ac = new AbortController();
    const loading = loadModelBytes(checkModelSourceOptions({ weights, cacheDir: home, graphCache: true, signal: ac.signal }));
    setTimeout(() => ac.abort(), 100);
    await expect(loading).rejects.toMatchObject({ code: 'E_CANCELLED', message: expect.stringContaining(weights) });
    expect(existsSync(join(home, 'graphs')) ? readdirSync(join(home, 'graphs')).filter((n) => n.endsWith('.onnx')) : []).toEqual([]);
    await expect(loadModelBytes(checkModelSourceOptions({ weights, cacheDir: home, signal: AbortSignal.abort() }))).rejects.toMatchObject({ code: 'E_CANCELLED' });
  });

  it('explicit weights: off by default (nothing written)', async () => {
    const home = join(tmp, 'home3');
    const m = await StNet.load({ weights, cacheDir: home, threads: 1 });
    await m.close();
    expect(existsSync(join(home, 'graphs'))).toBe(false);
  });
});

if (!HAS_GOLDEN) describe.skip(GOLDEN_SKIP_REASON, () => undefined);
