// Super-image packing (reference.md 2d): the frames of a segment are stacked along channels, so the clip tensor is
// [1, segNum, seglen*3, H, W] with channel = 3 * frameInSegment + rgb. Sampled frame k (segment-major order)
// lands at segment floor(k / seglen), frame k % seglen.

/** Dims of the model input for one clip: `[1, segNum, seglen*3, size, size]`. */
export function clipDims(segNum: number, seglen: number, size: number): [1, number, number, number, number] {
  return [1, segNum, seglen * 3, size, size];
}

/** Values in a clip tensor of clipDims(segNum, seglen, size). */
export function clipLength(segNum: number, seglen: number, size: number): number {
  return segNum * seglen * 3 * size * size;
}

/** Element offset of sampled frame `k`'s 3-channel CHW block inside the clip tensor. */
export function frameOffset(k: number, seglen: number, size: number): number {
  const segment = Math.floor(k / seglen);
  const j = k % seglen;
  // [segNum, seglen*3, H, W]: segment stride seglen*3*H*W, frame stride 3*H*W
  return (segment * seglen * 3 + j * 3) * size * size;
}

/**
 * Packs `frames.length === segNum * seglen` normalised CHW frames (each [3, size, size]) into one clip tensor.
 * The loader writes frames in place with `frameOffset` instead; this is the same layout for callers holding frames.
 */
export function packSuperImage(frames: readonly Float32Array[], segNum: number, seglen: number, size: number): Float32Array {
  if (frames.length !== segNum * seglen) throw new RangeError(`packSuperImage: expected ${segNum * seglen} frames, got ${frames.length}`);
  const block = 3 * size * size;
  const out = new Float32Array(segNum * seglen * block); // [segNum, seglen*3, H, W]
  frames.forEach((f, k) => {
    if (f.length !== block) throw new RangeError(`packSuperImage: frame ${k} has ${f.length} values, expected ${block}`);
    out.set(f, frameOffset(k, seglen, size));
  });
  return out;
}
