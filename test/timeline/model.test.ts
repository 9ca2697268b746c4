// The embedding output and model.timeline with the golden (random-seed) weights. The golden fixture has no
// embedding computed outside this code, so the embedding is checked through the fc layer: fc(embedding) with the
// fc weights read from the weights file must give the golden logits (computed by an independent PyTorch run).
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StNet } from '../../src/stnet.js';
import { loadWeights } from '../../src/weights/index.js';
import type { StnetWeights } from '../../src/weights/types.js';
import { GOLDEN_SKIP_REASON, HAS_GOLDEN, golden, goldenXz } from '../helpers/golden.js';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { ffmpegMake, mediaChildren, tempDir } from '../video/helpers.js';

const VIDEO = golden('golden_testsrc2_160x120.mp4');
const SMALL = { segNum: 7, shortSize: 112, targetSize: 112 } as const;

function readF32(path: string): Float32Array {
  const buf = readFileSync(path);
  return new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
}

describe.skipIf(!HAS_GOLDEN)(`embedding and model.timeline${HAS_GOLDEN ? '' : ` (${GOLDEN_SKIP_REASON})`}`, () => {
  let weights: StnetWeights;
  let model: StNet;
  beforeAll(async () => {
    weights = await loadWeights(await goldenXz('stnet_seed7_q.lodtensor'));
    model = await StNet.fromWeights(weights, { threads: 2 });
  }, 300_000);
  afterAll(async () => {
    await model?.close();
  });

  it('the graph returns a 1024-value embedding whose fc gives the golden logits', async () => {
    const expected = JSON.parse(readFileSync(golden('expected.json'), 'utf8')) as { logits: number[] };
    const out = await model.forward(readF32(golden('input.f32')), [1, 7, 15, 112, 112]);
    expect(out.embedding).toHaveLength(1024);
    // ReLU then max-pool: never negative, and not all zero.
    expect(Math.min(...out.embedding)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...out.embedding)).toBeGreaterThan(0);
    const w = weights.get('fc_0.w_0')!; // [1024, 400] (in, out)
    const b = weights.get('fc_0.b_0')!;
    let worst = 0;
    for (let j = 0; j < 400; j++) {
      let acc = b.data[j]!;
      for (let i = 0; i < 1024; i++) acc += out.embedding[i]! * w.data[i * 400 + j]!;
      worst = Math.max(worst, Math.abs(acc - expected.logits[j]!));
    }
    expect(worst).toBeLessThan(1e-3);
  });

  it('classify({ embedding: true }) adds the embedding as a plain number array; without it there is none', async () => {
    const [withEmb] = await model.classify([VIDEO], { ...SMALL, embedding: true });
    const [without] = await model.classify([VIDEO], SMALL);
    expect(withEmb!.ok && without!.ok).toBe(true);
    if (!withEmb!.ok || !without!.ok) return;
    expect(Array.isArray(withEmb!.embedding)).toBe(true);
    expect(withEmb!.embedding).toHaveLength(1024);
    expect(without).not.toHaveProperty('embedding');
    expect(withEmb!.predictions).toEqual(without!.predictions);
    await expect(model.classify([VIDEO], { embedding: 'yes' } as never)).rejects.toMatchObject({ code: 'E_INVALID_OPTION', message: /Expected boolean for embedding/ });
  });

  it("a window covering the whole video gives classify()'s predictions and embedding", async () => {
    const [whole] = await model.classify([VIDEO], { ...SMALL, topK: 5, embedding: true });
    const windows = await model.timelineAll(VIDEO, { ...SMALL, windowFrames: 1000, topK: 5, embedding: true });
    expect(windows).toHaveLength(1);
    expect(windows[0]).toMatchObject({ window: 0, startFrame: 0, endFrame: 60, startSec: 0, endSec: 3 });
    if (!whole!.ok) throw new Error('classify failed');
    expect(windows[0]!.predictions).toEqual(whole!.predictions);
    expect(windows[0]!.embedding).toEqual(whole!.embedding);
  });

  it('classify() of a stream URL gives the answer of the file (one window over the whole stream)', async () => {
    const tsPath = join(tempDir('classify-stream'), 'v.ts');
    await ffmpegMake(['-i', VIDEO, '-c', 'copy', '-f', 'mpegts', tsPath]);
    const ts = readFileSync(tsPath);
    const server = http.createServer((_req, res) => res.writeHead(200, { 'content-type': 'video/mp2t' }).end(ts));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v.ts`;
      const [fromUrl, fromFile] = await model.classify([url, VIDEO], { ...SMALL, embedding: true });
      expect(fromUrl).toMatchObject({ path: url, ok: true });
      if (!fromUrl!.ok || !fromFile!.ok) throw new Error('classify failed');
      expect(fromUrl!.predictions).toEqual(fromFile!.predictions);
      expect(fromUrl!.embedding).toEqual(fromFile!.embedding);
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
    }
  });

  it('model.timeline yields windows as they complete and a break ends ffmpeg', async () => {
    const seen: number[] = [];
    for await (const w of model.timeline(VIDEO, { ...SMALL, windowFrames: 20, strideFrames: 20, topK: 1 })) {
      seen.push(w.window);
      expect(w.predictions).toHaveLength(1);
      if (seen.length === 2) break;
    }
    expect(seen).toEqual([0, 1]);
    expect(mediaChildren()).toEqual([]);
  });
});
