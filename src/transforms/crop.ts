// Center crop as the reference's `group_center_crop`: offsets `int(round((size - target) / 2.))` with Python 3's
// round-half-to-even, so a 341-wide frame is cropped from x = 42 (Python 2 would give 43).

import { StnetError } from '../errors.js';
import type { RgbImage } from './resize.js';

/** Python 3 `round(x)` for the halves the crop produces: ties go to the even neighbour. */
export function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const diff = x - f;
  if (diff < 0.5) return f;
  if (diff > 0.5) return f + 1;
  return f % 2 === 0 ? f : f + 1;
}

/** Top-left corner of the centered `target` x `target` crop; the reference asserts the frame is large enough. */
export function centerCropOffsets(width: number, height: number, target: number): { x: number; y: number } {
  if (width < target || height < target) {
    throw new StnetError('E_INVALID_OPTION', `Expected frames of at least ${target}x${target} for a center crop of ${target} but received ${width}x${height}`);
  }
  return { x: roundHalfEven((width - target) / 2), y: roundHalfEven((height - target) / 2) };
}

/** Copies a `width` x `height` window starting at (x, y) out of an RGB image. */
export function cropRgb(src: RgbImage, x: number, y: number, width: number, height: number): RgbImage {
  if (x < 0 || y < 0 || x + width > src.width || y + height > src.height) {
    throw new RangeError(`crop ${width}x${height}+${x}+${y} does not fit in ${src.width}x${src.height}`);
  }
  const out = new Uint8Array(width * height * 3);
  for (let r = 0; r < height; r++) {
    const from = ((y + r) * src.width + x) * 3;
    out.set(src.data.subarray(from, from + width * 3), r * width * 3);
  }
  return { width, height, data: out };
}
