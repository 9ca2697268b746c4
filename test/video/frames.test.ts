// FrameAssembler: ffmpeg's rawvideo stdout arrives in chunks of any size (pipe reads); frames must come out whole,
// in order, whatever the cut points.
import { describe, expect, it } from 'vitest';
import { FrameAssembler } from '../../src/video/frames.js';

/** `count` 3x2 RGB frames; byte j of frame f is (f * 31 + j) & 255, so every frame differs. */
function stream(count: number): Uint8Array {
  const frameBytes = 3 * 2 * 3;
  const out = new Uint8Array(count * frameBytes);
  for (let i = 0; i < out.length; i++) out[i] = (Math.floor(i / frameBytes) * 31 + (i % frameBytes)) & 255;
  return out;
}

/** Feeds `data` cut at `cuts`, collecting a copy of each frame (the buffer is reused). */
function assemble(data: Uint8Array, cuts: readonly number[]): { frames: Uint8Array[]; partial: number } {
  const a = new FrameAssembler(3, 2);
  const frames: Uint8Array[] = [];
  let at = 0;
  for (const end of [...cuts, data.length]) {
    for (const image of a.feed(data.subarray(at, end))) frames.push(image.data.slice());
    at = end;
  }
  return { frames, partial: a.partialBytes };
}

describe('FrameAssembler', () => {
  const data = stream(5);
  const expected = Array.from({ length: 5 }, (_, f) => data.slice(f * 18, (f + 1) * 18));

  it.each([
    ['one chunk', []],
    ['a byte at a time', Array.from({ length: 89 }, (_, i) => i + 1)],
    ['cuts inside frames, chunks spanning several frames', [7, 8, 50, 51, 89]],
    ['cuts on frame borders, with empty chunks', [18, 18, 36, 72]],
  ])('%s: every frame whole and in order', (_name, cuts) => {
    const r = assemble(data, cuts);
    expect(r.frames).toEqual(expected);
    expect(r.partial).toBe(0);
  });

  it('a stream cut inside a frame leaves its bytes as partialBytes', () => {
    const r = assemble(data.subarray(0, 18 * 2 + 5), [10]);
    expect(r.frames).toEqual(expected.slice(0, 2));
    expect(r.partial).toBe(5);
  });

  it('assembles into the buffer given (e.g. the resize kernel memory); a buffer of the wrong size is refused', () => {
    const buf = new Uint8Array(18);
    const a = new FrameAssembler(3, 2, buf);
    const [image] = [...a.feed(data.subarray(0, 18))];
    expect(image!.data).toBe(buf);
    expect(buf).toEqual(expected[0]);
    expect(() => new FrameAssembler(3, 2, new Uint8Array(17))).toThrow(/17 bytes, 3x2 RGB frames have 18/);
  });

  it('bytes a reader put into writable() are taken in place; other chunks are still copied in', () => {
    const a = new FrameAssembler(3, 2);
    const frames: number[][] = [];
    // Frame 0 read in place in two reads (7 + 11 bytes), frame 1 from a separate chunk.
    for (const n of [7, 11]) {
      const w = a.writable();
      w.set(data.subarray(18 - w.length, 18 - w.length + n));
      for (const f of a.feed(w.subarray(0, n))) frames.push([...f.data]);
    }
    expect(a.writable().length).toBe(18);
    for (const f of a.feed(data.subarray(18, 36))) frames.push([...f.data]);
    expect(frames).toEqual(expected.slice(0, 2).map((e) => [...e]));
    // A chunk that aliases the frame buffer elsewhere than the fill point is copied like any other.
    const b = new FrameAssembler(3, 2);
    const misplaced = b.image.data.subarray(0, 6); // the frame's first 6 bytes, fed as its bytes 6..11
    const [first] = [...b.feed(data.subarray(0, 6)), ...b.feed(misplaced), ...b.feed(data.subarray(12, 18))];
    expect([...first!.data]).toEqual([...data.subarray(0, 6), ...data.subarray(0, 6), ...data.subarray(12, 18)]);
  });
});
