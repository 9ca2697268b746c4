// The window rule (issue 12 section 1): table tests with exact windows, and a comparison over a grid against an
// independent closed-form implementation written from the text (the code under test is a streaming
// tracker that never sees N until the end).
import { describe, expect, it } from 'vitest';
import { WindowTracker, checkWindowOptions, resolveWindowSpec, windowRanges } from '../../src/timeline/windows.js';
import { expectCode } from '../helpers/errors.js';

const SEGLEN = 5;

/** The rule as the issue states it: K = max(1, 1 + floor((N - L) / S)) windows, then the covering tail. */
function closedForm(n: number, l: number, s: number): [number, number][] {
  if (n <= l) return [[0, n]];
  const k = Math.max(1, 1 + Math.floor((n - l) / s));
  const out: [number, number][] = [];
  for (let i = 0; i < k; i++) out.push([i * s, Math.min(i * s + l, n)]);
  if (out[out.length - 1]![1] < n) out.push([n - l, n]);
  return out;
}

const pairs = (n: number, length: number, stride: number): [number, number][] => windowRanges(n, { length, stride }).map((w) => [w.start, w.end]);

describe('windowRanges', () => {
  it.each([
    // N, L, S, windows
    [60, 20, 15, [[0, 20], [15, 35], [30, 50], [40, 60]]],
    [60, 20, 20, [[0, 20], [20, 40], [40, 60]]],
    [60, 20, 10, [[0, 20], [10, 30], [20, 40], [30, 50], [40, 60]]],
    [20, 20, 5, [[0, 20]]],
    [19, 20, 5, [[0, 19]]],
    [1, 20, 5, [[0, 1]]],
    [21, 20, 5, [[0, 20], [1, 21]]],
    [25, 20, 5, [[0, 20], [5, 25]]],
    [26, 20, 5, [[0, 20], [5, 25], [6, 26]]],
    [300, 250, 125, [[0, 250], [50, 300]]],
    [10, 5, 1, [[0, 5], [1, 6], [2, 7], [3, 8], [4, 9], [5, 10]]],
    [12, 5, 100, [[0, 5], [7, 12]]],
  ] as const)('N=%i L=%i S=%i', (n, l, s, want) => {
    expect(pairs(n, l, s)).toEqual(want);
  });

  it('numbers the windows 0.. in order and gives none for an empty video', () => {
    expect(windowRanges(26, { length: 20, stride: 5 }).map((w) => w.index)).toEqual([0, 1, 2]);
    expect(windowRanges(0, { length: 20, stride: 5 })).toEqual([]);
  });

  it('equals the closed-form rule for every N <= 120, L in 5..40, S in 1..45', () => {
    let cases = 0;
    for (let l = 5; l <= 40; l += 5) {
      for (let s = 1; s <= 45; s += 4) {
        for (let n = 1; n <= 120; n++) {
          expect(pairs(n, l, s), `N=${n} L=${l} S=${s}`).toEqual(closedForm(n, l, s));
          cases++;
        }
      }
    }
    expect(cases).toBe(8 * 12 * 120);
  });

  it('emits each full window at its last frame (streaming), the tail only at the end', () => {
    const t = new WindowTracker({ length: 4, stride: 3 });
    const at: Record<number, [number, number][]> = {};
    for (let n = 1; n <= 9; n++) {
      const got = t.framesDecoded(n).map((w): [number, number] => [w.start, w.end]);
      if (got.length > 0) at[n] = got;
    }
    expect(at).toEqual({ 4: [[0, 4]], 7: [[3, 7]] });
    expect(t.end(9).map((w) => [w.start, w.end])).toEqual([[5, 9]]);
  });
});

describe('window options', () => {
  it('defaults to 10 s windows every 5 s; a lone window in seconds strides by half', () => {
    expect(checkWindowOptions({}, SEGLEN)).toEqual({ unit: 'seconds', window: 10, stride: 5 });
    expect(checkWindowOptions({ windowSec: 4 }, SEGLEN)).toEqual({ unit: 'seconds', window: 4, stride: 2 });
    expect(checkWindowOptions({ strideSec: 1 }, SEGLEN)).toEqual({ unit: 'seconds', window: 10, stride: 1 });
    expect(checkWindowOptions({ windowFrames: 75 }, SEGLEN)).toEqual({ unit: 'frames', window: 75, stride: 38 });
    expect(checkWindowOptions({ windowFrames: 75, strideFrames: 25 }, SEGLEN)).toEqual({ unit: 'frames', window: 75, stride: 25 });
  });

  it('turns seconds into frames with the stream fps: L = round(w * fps), S = max(1, round(s * fps))', () => {
    expect(resolveWindowSpec({ unit: 'seconds', window: 10, stride: 5 }, 29.97, SEGLEN)).toEqual({ length: 300, stride: 150 });
    expect(resolveWindowSpec({ unit: 'seconds', window: 1, stride: 0.5 }, 25, SEGLEN)).toEqual({ length: 25, stride: 13 });
    expect(resolveWindowSpec({ unit: 'seconds', window: 1, stride: 0.01 }, 25, SEGLEN)).toEqual({ length: 25, stride: 1 });
    expect(resolveWindowSpec({ unit: 'frames', window: 7, stride: 3 }, 0, SEGLEN)).toEqual({ length: 7, stride: 3 });
  });

  it('refuses both units at once, naming what was given', () => {
    expectCode(() => checkWindowOptions({ windowSec: 10, windowFrames: 100 }, SEGLEN), 'E_INVALID_OPTION', /in seconds .* or in frames .*not both, but received windowSec, windowFrames/);
    expectCode(() => checkWindowOptions({ strideSec: 1, strideFrames: 5 }, SEGLEN, (k) => `--${k}`), 'E_INVALID_OPTION', /received --strideSec, --strideFrames/);
  });

  it('refuses a stride below one frame and non-positive seconds', () => {
    expectCode(() => checkWindowOptions({ windowFrames: 20, strideFrames: 0 }, SEGLEN), 'E_INVALID_OPTION', /Expected integer >= 1 \(a stride of at least one frame\) for strideFrames but received 0/);
    expectCode(() => checkWindowOptions({ windowFrames: 20, strideFrames: 1.5 }, SEGLEN), 'E_INVALID_OPTION', /strideFrames but received 1.5/);
    expectCode(() => checkWindowOptions({ strideFrames: 5 }, SEGLEN), 'E_INVALID_OPTION', /required with strideFrames.* for windowFrames/);
    expectCode(() => checkWindowOptions({ strideSec: 0 }, SEGLEN), 'E_INVALID_OPTION', /positive number of seconds for strideSec but received 0/);
    expectCode(() => checkWindowOptions({ windowSec: Number.NaN }, SEGLEN), 'E_INVALID_OPTION', /windowSec but received NaN/);
  });

  it('refuses a window shorter than seglen frames, in frames at once and in seconds once the fps is known', () => {
    expectCode(() => checkWindowOptions({ windowFrames: 4 }, SEGLEN), 'E_INVALID_OPTION', /at least seglen \(5\) frames for windowFrames but received 4/);
    expectCode(() => resolveWindowSpec({ unit: 'seconds', window: 0.1, stride: 0.1 }, 25, SEGLEN), 'E_INVALID_OPTION', /at least seglen \(5\) frames for windowSec but received 0.1 s = 3 frames at 25 fps/);
    expectCode(() => resolveWindowSpec({ unit: 'seconds', window: 10, stride: 5 }, 0, SEGLEN), 'E_INVALID_OPTION', /frame rate is unknown/);
  });
});
