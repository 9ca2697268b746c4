// classify.ts: top-k against the golden output, option validation, and the batch pipeline's order,
// overlap, per-video failures and cancellation. The pipeline tests use a recording predictor and
// loader (timers, no model) so that the schedule itself is what is measured; the real model and
// videos run through the same function in test/cli.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CLASSIFY_DEFAULTS,
  classifyVideos,
  hubResults,
  toHubResult,
  topK,
  validateClassifyOptions,
  validateHubInput,
  validatePaths,
  type LoadedVideo,
  type Predictor,
  type VideoResult,
} from '../src/classify.js';
import { StnetError } from '../src/errors.js';
import { KINETICS400_LABELS } from '../src/labels/kinetics400.js';
import { StNet } from '../src/stnet.js';
import type { LoadVideoOptions as VideoLoadOptions } from '../src/video/load-video.js';
import { GOLDEN_SKIP_REASON, HAS_GOLDEN, HAS_VIDEOS, VIDEOS_DIR, golden, goldenXz } from './helpers/golden.js';
import { expectCode } from './helpers/errors.js';

interface Expected {
  top5: { class_id: number; prob: number }[];
  probs: number[];
}

describe.skipIf(!HAS_GOLDEN)('topK on the golden model output', () => {
  const expected = HAS_GOLDEN ? (JSON.parse(readFileSync(golden('expected.json'), 'utf8')) as Expected) : { top5: [], probs: [] };

  it('gives the reference top-5 ids, in order, with their probabilities and labels', () => {
    const top = topK(Float32Array.from(expected.probs), 5);
    expect(top.map((p) => p.index)).toEqual(expected.top5.map((t) => t.class_id));
    top.forEach((p, i) => {
      expect(p.prob).toBeCloseTo(expected.top5[i]!.prob, 6);
      expect(p.label).toBe(KINETICS400_LABELS[p.index]);
    });
  });

  it('k = 400 is a full descending ranking', () => {
    const all = topK(expected.probs, 400);
    expect(new Set(all.map((p) => p.index)).size).toBe(400);
    for (let i = 1; i < all.length; i++) expect(all[i - 1]!.prob).toBeGreaterThanOrEqual(all[i]!.prob);
  });

  it('hub result: label -> prob, highest first', () => {
    const hub = toHubResult(topK(expected.probs, 3));
    expect(Object.keys(hub)).toEqual(expected.top5.slice(0, 3).map((t) => KINETICS400_LABELS[t.class_id]));
    expect(Object.values(hub)[0]).toBeCloseTo(expected.top5[0]!.prob, 6);
  });
});

describe('topK edge cases', () => {
  it('breaks exact ties by the lower class id', () => {
    const probs = new Float32Array(400).fill(0.001);
    probs[7] = 0.5;
    probs[3] = 0.5;
    expect(topK(probs, 3).map((p) => p.index)).toEqual([3, 7, 0]);
  });

  it.each([0, 401, 2.5])('refuses k = %s', (k) => {
    expect(() => topK(new Float32Array(400), k)).toThrow(/Expected integer between 1 and 400 for topK/);
  });

  it('refuses a vector that is not 400 long', () => {
    expect(() => topK(new Float32Array(399), 5)).toThrow(/Expected 400 probabilities but received 399/);
  });
});

describe('validateClassifyOptions', () => {
  it('fills the reference defaults', () => {
    expect(validateClassifyOptions({})).toMatchObject({ topK: 5, segNum: 25, shortSize: 256, targetSize: 256, decodeTimeoutMs: undefined });
    expect(CLASSIFY_DEFAULTS).toEqual({ topK: 5, segNum: 25, shortSize: 256, targetSize: 256 });
  });

  it.each([
    [{ topK: 0 }, /Expected integer between 1 and 400 for topK but received 0/],
    [{ topK: 401 }, /Expected integer between 1 and 400 for topK but received 401/],
    [{ topK: '5' }, /for topK but received "5"/],
    [{ segNum: 0 }, /for segNum but received 0/],
    [{ segNum: 1.5 }, /for segNum but received 1.5/],
    [{ shortSize: 16 }, /Expected integer between 32 and 1024 for shortSize/],
    [{ targetSize: 300 }, /Expected integer <= shortSize \(256\) for targetSize but received 300/],
    [{ decodeTimeoutMs: 0 }, /for decodeTimeoutMs but received 0/],
    [{ onProgress: 'yes' }, /Expected function for onProgress/],
    [{ signal: {} }, /Expected AbortSignal for signal/],
    [{ top_k: 3 }, /Unknown option "top_k" \(did you mean topK\?\); expected one of topK, segNum/],
  ])('%j is refused', (opts, re) => {
    expectCode(() => validateClassifyOptions(opts as never), 'E_INVALID_OPTION', re);
  });

  it('names options the way the caller typed them', () => {
    expect(() => validateClassifyOptions({ topK: 0 }, (k) => (k === 'topK' ? '--top_k' : k))).toThrow(/for --top_k but received 0/);
  });

  it.each([
    ['a.mp4', /Expected array of video paths for paths but received "a.mp4"/],
    [['a.mp4', ''], /Expected non-empty string for paths\[1\]/],
    [[3], /for paths\[0\] but received 3/],
  ])('paths %j are refused', (paths, re) => {
    expect(() => validatePaths(paths)).toThrow(re);
  });

  it('hub input must be { image: string[] }', () => {
    expect(validateHubInput({ image: ['a.mp4'] })).toEqual(['a.mp4']);
    expect(() => validateHubInput({ images: ['a.mp4'] })).toThrow(/Expected object \{ image: string\[\] \} for data/);
    expect(() => validateHubInput({ image: 'a.mp4' })).toThrow(/for data.image/);
  });
});

// ----- pipeline

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Records the start and end of each decode and inference on one clock. */
function recorder(opts: { decodeMs: number; inferMs: number; failDecode?: Record<string, unknown>; failInfer?: unknown }) {
  const events: string[] = [];
  const t0 = performance.now();
  const spans: Record<string, [number, number]> = {};
  const at = (): number => performance.now() - t0;
  const seen: VideoLoadOptions[] = [];
  const loadVideo = async (path: string, o: VideoLoadOptions): Promise<LoadedVideo> => {
    seen.push(o);
    const start = at();
    events.push(`decode+ ${path}`);
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(resolve, opts.decodeMs);
      o.signal?.addEventListener('abort', () => {
        clearTimeout(t);
        reject(new StnetError('E_CANCELLED', `decode of ${path} stopped`));
      });
    });
    events.push(`decode- ${path}`);
    spans[`d:${path}`] = [start, at()];
    const fail = opts.failDecode?.[path];
    if (fail !== undefined) throw fail;
    // A recognisable tensor: the class id to "predict" is encoded in the path's last digit.
    const cls = Number(path.match(/(\d+)\./)?.[1] ?? 0);
    const data = new Float32Array(o.segNum * 15 * 4 * 4).fill(cls);
    return { data, dims: [o.segNum, 15, 4, 4] };
  };
  const predictor: Predictor = {
    async predict(data, dims) {
      const start = at();
      events.push(`infer+ ${dims.join('x')}`);
      await sleep(opts.inferMs);
      if (opts.failInfer !== undefined) throw opts.failInfer;
      spans[`i:${start}`] = [start, at()];
      const probs = new Float32Array(400).fill(0.0001);
      probs[data[0]!] = 0.9;
      return probs;
    },
  };
  return { events, spans, loadVideo, predictor, seen };
}

describe('classifyVideos pipeline', () => {
  it("decodes a video into the buffer the predictor gives back (the tensor of an earlier video), when it has one", async () => {
    const r = recorder({ decodeMs: 5, inferMs: 5 });
    const opts = validateClassifyOptions({ segNum: 3, shortSize: 64, targetSize: 32 });
    const length = 3 * 15 * 32 * 32;
    const given: Float32Array[] = [];
    const asked: number[] = [];
    // Gives back each tensor it was given once (as StNet's session does after its run), one at a time.
    let spare: Float32Array | undefined;
    const predictor: Predictor = {
      predict: async (data, dims) => {
        given.push(data);
        const probs = await r.predictor.predict(data, dims);
        spare = new Float32Array(length);
        return probs;
      },
      spareInput: (n) => {
        asked.push(n);
        const s = spare;
        spare = undefined;
        return s;
      },
    };
    const results = await classifyVideos(predictor, r.loadVideo, ['v1.mp4', 'v2.mp4', 'v3.mp4', 'v4.mp4'], opts);
    expect(results.map((x) => (x.ok ? x.predictions[0]!.index : -1))).toEqual([1, 2, 3, 4]);
    // v1 decodes while the model may still load (no predictor yet); each later decode asks for a clip's length.
    expect(asked).toEqual([length, length, length]);
    expect(r.seen[0]!.output).toBeUndefined();
    // v2 starts decoding before v1's run has given anything back; v3 and v4 get the spare buffers.
    expect(r.seen[1]!.output).toBeUndefined();
    expect(r.seen[2]!.output).toBeInstanceOf(Float32Array);
    expect(r.seen[3]!.output).toBeInstanceOf(Float32Array);
    expect(r.seen[2]!.output!.length).toBe(length);
  });

  it('keeps input order, decodes video i+1 while video i is in inference, and reports timing', async () => {
    const r = recorder({ decodeMs: 100, inferMs: 100 });
    const progress: number[] = [];
    const opts = validateClassifyOptions({ topK: 2, segNum: 3, shortSize: 64, targetSize: 32, onProgress: (p) => progress.push(p.index) });
    const paths = ['v1.mp4', 'v2.mp4', 'v3.mp4'];
    const t0 = performance.now();
    const results = await classifyVideos(r.predictor, r.loadVideo, paths, opts);
    const wall = performance.now() - t0;

    expect(results.map((x) => x.path)).toEqual(paths);
    expect(results.map((x) => (x.ok ? x.predictions[0]!.index : -1))).toEqual([1, 2, 3]);
    expect(results[0]).toMatchObject({ ok: true, predictions: [{ index: 1, label: 'air_drumming' }, { index: 0 }] });
    expect(progress).toEqual([0, 1, 2]);
    // The loader got the validated options and a [1, segNum, 15, H, W] batch went to the model.
    expect(r.seen[0]).toMatchObject({ segNum: 3, seglen: 5, shortSize: 64, targetSize: 32 });
    expect(r.events).toContain('infer+ 1x3x15x4x4');
    // Decode of v2 starts right after v1's decode, before v1's inference ends.
    expect(r.events.slice(0, 4)).toEqual(['decode+ v1.mp4', 'decode- v1.mp4', 'decode+ v2.mp4', 'infer+ 1x3x15x4x4']);
    // Serial would be 3*(100+100) = 600 ms; the one-ahead pipeline is 100 + 3*100 = 400 ms plus scheduling.
    expect(wall).toBeLessThan(540);
    for (const x of results) {
      if (!x.ok) throw new Error('unexpected failure');
      expect(x.timing.decodeMs).toBeGreaterThanOrEqual(95);
      expect(x.timing.inferMs).toBeGreaterThanOrEqual(95);
    }
  });

  it('one bad video never sinks the batch: input errors become { ok: false } results', async () => {
    const r = recorder({
      decodeMs: 5,
      inferMs: 5,
      failDecode: {
        'gone2.mp4': new StnetError('E_VIDEO_NOT_FOUND', 'video not found: gone2.mp4'),
        'odd3.mp4': new RangeError('bad frame index'),
      },
    });
    const results = await classifyVideos(r.predictor, r.loadVideo, ['ok1.mp4', 'gone2.mp4', 'odd3.mp4', 'ok4.mp4'], validateClassifyOptions({ segNum: 1 }));
    expect(results.map((x) => x.ok)).toEqual([true, false, false, true]);
    expect(results[1]).toEqual({ path: 'gone2.mp4', ok: false, error: { code: 'E_VIDEO_NOT_FOUND', message: 'video not found: gone2.mp4' } });
    expect(results[2]).toEqual({ path: 'odd3.mp4', ok: false, error: { code: 'E_VIDEO_UNDECODABLE', message: 'odd3.mp4: bad frame index' } });
    expect((results[3] as Extract<VideoResult, { ok: true }>).predictions[0]!.index).toBe(4);
  });

  it('an environment error (ffmpeg missing) rejects the whole call and stops the decode running ahead', async () => {
    const r = recorder({ decodeMs: 30, inferMs: 30, failDecode: { 'a1.mp4': new StnetError('E_FFMPEG_MISSING', 'no ffmpeg') } });
    await expect(classifyVideos(r.predictor, r.loadVideo, ['a1.mp4', 'a2.mp4'], validateClassifyOptions({ segNum: 1 }))).rejects.toMatchObject({
      code: 'E_FFMPEG_MISSING',
    });
    // a2's decode had started (one ahead) and was aborted, not left running.
    expect(r.events).toEqual(['decode+ a1.mp4', 'decode- a1.mp4', 'decode+ a2.mp4']);
  });

  it('a predictor still loading: the first video decodes meanwhile, inference waits for the model', async () => {
    const r = recorder({ decodeMs: 100, inferMs: 10 });
    const loadedAt: number[] = [];
    const t0 = performance.now();
    const loading = sleep(150).then(() => {
      loadedAt.push(performance.now() - t0);
      r.events.push('model loaded');
      return r.predictor;
    });
    const results = await classifyVideos(loading, r.loadVideo, ['a1.mp4', 'a2.mp4'], validateClassifyOptions({ segNum: 1 }));
    expect(results.map((x) => x.ok)).toEqual([true, true]);
    // a1 was decoded while the model loaded (its decode ended before the load did); a2's decode started only once
    // a1 went to the model (one ahead). The order is the check: no wall-clock bound to flake on a loaded machine.
    expect(r.events.slice(0, 5)).toEqual(['decode+ a1.mp4', 'decode- a1.mp4', 'model loaded', 'decode+ a2.mp4', 'infer+ 1x1x15x4x4']);
    expect(loadedAt[0]).toBeGreaterThanOrEqual(140);
  });

  it('a model that fails to load rejects with its error and stops the first decode', async () => {
    const r = recorder({ decodeMs: 2000, inferMs: 5 });
    const t0 = performance.now();
    const loading = sleep(30).then((): Predictor => {
      throw new StnetError('E_WEIGHTS_FORMAT', 'not a weights file');
    });
    await expect(classifyVideos(loading, r.loadVideo, ['a1.mp4', 'a2.mp4'], validateClassifyOptions({ segNum: 1 }))).rejects.toMatchObject({ code: 'E_WEIGHTS_FORMAT' });
    // The decode was aborted (not waited out: it would take 2 s) and no second one started.
    expect(performance.now() - t0).toBeLessThan(1500);
    expect(r.events).toEqual(['decode+ a1.mp4']);
  });

  it('cancelled before start while the model is still loading: E_CANCELLED, and the failed load is not left unhandled', async () => {
    const r = recorder({ decodeMs: 5, inferMs: 5 });
    const loading = sleep(20).then((): Predictor => {
      throw new StnetError('E_WEIGHTS_FORMAT', 'not a weights file');
    });
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown): void => {
      unhandled.push(reason);
    };
    process.on('unhandledRejection', onUnhandled);
    try {
      await expect(classifyVideos(loading, r.loadVideo, ['a1.mp4'], validateClassifyOptions({ signal: AbortSignal.abort() }))).rejects.toMatchObject({ code: 'E_CANCELLED' });
      await sleep(60); // the load fails after the call returned
      expect(unhandled).toEqual([]);
      expect(r.events).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });

  it('an onnxruntime failure rejects the call', async () => {
    const r = recorder({ decodeMs: 5, inferMs: 5, failInfer: new StnetError('E_RUNTIME', 'out of memory') });
    await expect(classifyVideos(r.predictor, r.loadVideo, ['a1.mp4', 'a2.mp4'], validateClassifyOptions({ segNum: 1 }))).rejects.toMatchObject({ code: 'E_RUNTIME' });
  });

  it('cancelling rejects with E_CANCELLED and aborts the decode in flight', async () => {
    const r = recorder({ decodeMs: 200, inferMs: 5 });
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 50);
    const t0 = performance.now();
    await expect(classifyVideos(r.predictor, r.loadVideo, ['a1.mp4', 'a2.mp4'], validateClassifyOptions({ segNum: 1, signal: ac.signal }))).rejects.toMatchObject({
      code: 'E_CANCELLED',
    });
    expect(performance.now() - t0).toBeLessThan(180);
  });

  it('cancelling during inference rejects at once with E_CANCELLED; the pass itself is left to end', async () => {
    const r = recorder({ decodeMs: 5, inferMs: 2000 });
    const ac = new AbortController();
    const t0 = performance.now();
    const call = classifyVideos(r.predictor, r.loadVideo, ['a1.mp4', 'a2.mp4'], validateClassifyOptions({ segNum: 1, signal: ac.signal }));
    // Once a1 is inside the predictor (a2 decoding one ahead), cancel.
    while (!r.events.includes('infer+ 1x1x15x4x4')) await sleep(5);
    ac.abort();
    await expect(call).rejects.toMatchObject({ code: 'E_CANCELLED' });
    // At once, not after the 2 s pass.
    expect(performance.now() - t0).toBeLessThan(1500);
  });

  it('an already aborted signal does no work', async () => {
    const r = recorder({ decodeMs: 5, inferMs: 5 });
    await expect(classifyVideos(r.predictor, r.loadVideo, ['a1.mp4'], validateClassifyOptions({ signal: AbortSignal.abort() }))).rejects.toMatchObject({
      code: 'E_CANCELLED',
    });
    expect(r.events).toEqual([]);
  });

  it('no paths: no work, empty result', async () => {
    const r = recorder({ decodeMs: 5, inferMs: 5 });
    expect(await classifyVideos(r.predictor, r.loadVideo, [], validateClassifyOptions({}))).toEqual([]);
    expect(r.events).toEqual([]);
  });

  it('hubResults: one object per video; a failed video throws its own error, as the hub would', () => {
    const ok: VideoResult = { path: 'a', ok: true, predictions: [{ label: 'archery', index: 5, prob: 0.9 }], timing: { decodeMs: 1, inferMs: 1 } };
    const bad: VideoResult = { path: 'b', ok: false, error: { code: 'E_VIDEO_NOT_FOUND', message: 'video not found: b' } };
    expect(hubResults([ok, ok])).toEqual([{ archery: 0.9 }, { archery: 0.9 }]);
    expect(() => hubResults([ok, bad])).toThrow(/video not found: b/);
  });
});

if (!HAS_GOLDEN) describe.skip(GOLDEN_SKIP_REASON, () => undefined);

// ----- the model methods (real model, golden weights, sample video, small input)

describe.skipIf(!HAS_GOLDEN || !HAS_VIDEOS)('StNet.classify / videoClassification', () => {
  const small = { segNum: 7, shortSize: 112, targetSize: 112 };
  let model: StNet;
  beforeAll(async () => {
    model = await StNet.load({ weights: await goldenXz('stnet_seed7_q.lodtensor'), threads: 2 });
  });
  afterAll(async () => {
    await model?.close();
  });

  it('classify: results in input order, a missing video as { ok: false }; videoClassification gives the same top-k as a hub dict', async () => {
    const avi = join(VIDEOS_DIR, 'paddlevideo_example.avi');
    const missing = join(VIDEOS_DIR, 'no-such-video.mp4');
    const results = await model.classify([missing, avi], { ...small, topK: 3 });
    expect(results[0]).toEqual({ path: missing, ok: false, error: { code: 'E_VIDEO_NOT_FOUND', message: expect.stringContaining('no-such-video.mp4') } });
    const ok = results[1]!;
    if (!ok.ok) throw new Error(ok.error.message);
    expect(ok.predictions).toHaveLength(3);

    const hub = await model.videoClassification({ image: [avi] }, { ...small, topK: 3 });
    expect(hub).toHaveLength(1);
    expect(Object.entries(hub[0]!)).toEqual(ok.predictions.map((p) => [p.label, p.prob]));
    await expect(model.videoClassification({ image: [missing] }, small)).rejects.toMatchObject({ code: 'E_VIDEO_NOT_FOUND' });
  });

  it('bad options are refused before any video is touched', async () => {
    await expect(model.classify(['/nope.mp4'], { topK: 0 })).rejects.toMatchObject({ code: 'E_INVALID_OPTION', message: expect.stringMatching(/for topK but received 0/) });
    await expect(model.classify('a.mp4' as never)).rejects.toMatchObject({ code: 'E_INVALID_OPTION' });
  });

  it('classify after close: E_MODEL_CLOSED', async () => {
    const m = await StNet.load({ weights: await goldenXz('stnet_seed7_q.lodtensor'), threads: 1 });
    await m.close();
    await expect(m.classify([join(VIDEOS_DIR, 'paddlevideo_example.avi')], small)).rejects.toMatchObject({ code: 'E_MODEL_CLOSED' });
  });
});

// Option checks that need no fixtures: they run on a checkout without ../shared too.
describe('StNet.load download options', () => {
  it('StNet.load refuses a typo and bad download options before reading anything', async () => {
    await expect(StNet.load({ weightsURL: 'http://x/y' } as never)).rejects.toMatchObject({ code: 'E_INVALID_OPTION', message: expect.stringMatching(/Unknown option "weightsURL"/) });
    await expect(StNet.load({ download: 'no' } as never)).rejects.toMatchObject({ code: 'E_INVALID_OPTION', message: expect.stringMatching(/Expected boolean for download/) });
  });

  it('StNet.load with download: false and an empty cache says how to get weights', async () => {
    const saved = process.env.STNET_WEIGHTS;
    delete process.env.STNET_WEIGHTS;
    const cacheDir = mkdtempSync(join(tmpdir(), 'stnet-empty-'));
    try {
      await expect(StNet.load({ cacheDir, download: false })).rejects.toMatchObject({ code: 'E_WEIGHTS_NOT_FOUND', message: expect.stringMatching(/stnet weights download/) });
    } finally {
      rmSync(cacheDir, { recursive: true });
      if (saved !== undefined) process.env.STNET_WEIGHTS = saved;
    }
  });
});

describe('StNet.fromWeights options', () => {
  it('refuses download/cache options, which do not apply to weights in memory', async () => {
    await expect(StNet.fromWeights(new Map(), { weightsUrl: 'http://x/y' } as never)).rejects.toMatchObject({
      code: 'E_INVALID_OPTION',
      message: expect.stringMatching(/Unknown option "weightsUrl"/),
    });
  });
});
