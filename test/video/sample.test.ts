import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { SEGLEN, distinctSorted, sampleFrameIndices, selectExpression } from '../../src/video/sample.js';
import { INPUT_CHANNELS, SEGLEN as MODEL_SEGLEN } from '../../src/graph/stnet.js';
import { LOAD_VIDEO_DEFAULTS } from '../../src/video/load-video.js';
import { GOLDEN_SKIP_REASON, HAS_GOLDEN, golden } from '../helpers/golden.js';

const seq = (a: number, n: number): number[] => Array.from({ length: n }, (_, k) => a + k);

describe('sampleFrameIndices (reference mp4_loader, non-train)', () => {
  it('average_dur >= seglen: centred start (avg-1)//2 + i*avg (N=60, 7x5 golden case)', () => {
    expect(sampleFrameIndices(60, 7, 5)).toEqual([3, 11, 19, 27, 35, 43, 51].flatMap((s) => seq(s, 5)));
  });

  it.each([
    // [N, start of segment i = a + b*i] from reference.md 2a worked examples (seg_num 25, seglen 5)
    [131, 2, 5], // paddlevideo example.avi
    [280, 5, 11], // mmaction2 demo.mp4
    [164, 2, 6], // mmaction2 test.avi
  ])('N=%i, 25x5: segment i starts at %i + %i*i', (n, a, b) => {
    expect(sampleFrameIndices(n, 25, 5)).toEqual(seq(0, 25).flatMap((i) => seq(a + b * i, 5)));
  });

  it('1 <= average_dur < seglen: start i*avg, segments overlap (N=30, 7x5)', () => {
    expect(sampleFrameIndices(30, 7, 5)).toEqual([0, 4, 8, 12, 16, 20, 24].flatMap((s) => seq(s, 5)));
  });

  it('fewer than segNum*seglen frames, avg 1: start i, wraps at the end (N=10, 7x5)', () => {
    expect(sampleFrameIndices(10, 7, 5)).toEqual([
      0, 1, 2, 3, 4, 1, 2, 3, 4, 5, 2, 3, 4, 5, 6, 3, 4, 5, 6, 7, 4, 5, 6, 7, 8, 5, 6, 7, 8, 9, 6, 7, 8, 9, 0,
    ]);
  });

  it('fewer frames than segments, avg 0: start i, modulo N (N=5, 7x5)', () => {
    expect(sampleFrameIndices(5, 7, 5)).toEqual([
      0, 1, 2, 3, 4, 1, 2, 3, 4, 0, 2, 3, 4, 0, 1, 3, 4, 0, 1, 2, 4, 0, 1, 2, 3, 0, 1, 2, 3, 4, 1, 2, 3, 4, 0,
    ]);
  });

  it('a single frame is repeated everywhere', () => {
    expect(sampleFrameIndices(1, 25, 5)).toEqual(new Array(125).fill(0));
  });

  it('seglen 1 and segNum 1', () => {
    expect(sampleFrameIndices(100, 4, 1)).toEqual([12, 37, 62, 87]);
    expect(sampleFrameIndices(100, 1, 3)).toEqual([49, 50, 51]);
  });

  it.skipIf(!HAS_GOLDEN)(`matches the golden JSON frame indices${HAS_GOLDEN ? '' : `: skipped, ${GOLDEN_SKIP_REASON}`}`, () => {
    for (const name of ['input.json', 'golden_16x9_192x108.input.json', 'golden_portrait_108x192.input.json']) {
      const j = JSON.parse(readFileSync(golden(name), 'utf8')) as { frames_decoded: number; seg_num: number; seglen: number; frame_indices: number[] };
      expect(sampleFrameIndices(j.frames_decoded, j.seg_num, j.seglen), name).toEqual(j.frame_indices);
    }
  });

  it('rejects a video with no frames and bad options', () => {
    expect(() => sampleFrameIndices(0, 7, 5)).toThrow(expect.objectContaining({ code: 'E_VIDEO_NO_FRAMES' }));
    expect(() => sampleFrameIndices(10, 0, 5)).toThrow(/Expected integer >= 1 for segNum but received 0/);
    expect(() => sampleFrameIndices(10, 7, 2.5)).toThrow(/seglen/);
  });
});

describe('distinctSorted / selectExpression', () => {
  it('merges runs into between() ranges, singles into eq()', () => {
    expect(distinctSorted([4, 0, 1, 2, 3, 4, 9])).toEqual([0, 1, 2, 3, 4, 9]);
    expect(selectExpression([0, 1, 2, 3, 4, 9])).toBe('between(n\\,0\\,4)+eq(n\\,9)');
    expect(selectExpression([7])).toBe('eq(n\\,7)');
    expect(selectExpression(distinctSorted(sampleFrameIndices(30, 7, 5)))).toBe('between(n\\,0\\,28)');
    expect(() => selectExpression([])).toThrow(/no frames/);
  });
});

describe('SEGLEN', () => {
  it('the video stage\'s frames per segment is the one the model is built for (5 frames, 15 channels)', () => {
    // The stage may not import the model, so the two constants are compared here.
    expect(SEGLEN).toBe(5);
    expect(MODEL_SEGLEN).toBe(SEGLEN);
    expect(INPUT_CHANNELS).toBe(SEGLEN * 3);
    expect(LOAD_VIDEO_DEFAULTS.seglen).toBe(SEGLEN);
  });
});
