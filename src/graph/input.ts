// Checks a model input before any onnxruntime work, so a bad tensor fails with a message that says what to do
// instead of an onnxruntime shape error deep inside the graph.
import { StnetError } from '../errors.js';
import { INPUT_CHANNELS, SEGLEN } from './stnet.js';

/**
 * Smallest accepted H = W. The network downsamples by 32 (conv1 /2, max pool /2, stages 3-5 /2 each), so 32 is
 * the smallest size whose last stage still sees one real pixel instead of padding only. (The reference runs
 * at 256, fine-tunes at 224; below 32 the features carry no spatial information.)
 */
export const MIN_SPATIAL = 32;

function invalid(message: string): StnetError {
  return new StnetError('E_INVALID_INPUT', message);
}

/**
 * Validates `data` as a [B, segNum, 15, H, W] float32 tensor: rank 5, positive integer dims, 15 channels
 * (seglen 5 x RGB), H = W >= 32, length = product of dims, and every value finite (NaN/Inf would silently
 * turn all 400 probabilities into NaN).
 */
export function checkInputTensor(data: unknown, dims: unknown, opts: { values?: boolean } = {}): asserts data is Float32Array {
  if (!(data instanceof Float32Array)) {
    const got = data === null ? 'null' : typeof data === 'object' ? (data.constructor?.name ?? 'object') : typeof data;
    throw invalid(`Expected Float32Array for input data but received ${got}`);
  }
  if (!Array.isArray(dims) || dims.length !== 5) {
    const got = Array.isArray(dims) ? `[${dims.join(', ')}] (rank ${dims.length})` : String(dims);
    throw invalid(`Expected dims [B, segNum, 15, H, W] (rank 5) but received ${got}`);
  }
  const names = ['B', 'segNum', 'channels', 'H', 'W'];
  dims.forEach((d: unknown, i) => {
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 1) {
      throw invalid(`Expected positive integer for dims[${i}] (${names[i]}) but received ${String(d)}`);
    }
  });
  const [b, segNum, channels, h, w] = dims as [number, number, number, number, number];
  if (channels !== INPUT_CHANNELS) {
    throw invalid(`Expected ${INPUT_CHANNELS} channels (seglen ${SEGLEN} frames x RGB) in dims[2] but received ${channels}: pack each segment's ${SEGLEN} frames as one ${INPUT_CHANNELS}-channel super-image`);
  }
  if (h !== w) throw invalid(`Expected square frames (H = W, as the reference's centre crop makes them) but received H ${h}, W ${w}`);
  if (h < MIN_SPATIAL) {
    throw invalid(`Expected H = W >= ${MIN_SPATIAL} (the network downsamples by 32) but received ${h}x${w}: crop to 256 (reference) or 224`);
  }
  const expected = b * segNum * channels * h * w;
  if (data.length !== expected) {
    throw invalid(`Input data has ${data.length} values but dims [${dims.join(', ')}] need ${expected}`);
  }
  // Tensors this project made from 8-bit pixels are finite by construction: classify skips the scan (about 80 ms
  // per 25x256x256 video), public predict() keeps it.
  if (opts.values === false) return;
  // One pass: NaN/Inf make the float64 sum non-finite, and float32 values (< 3.5e38 each) cannot overflow it.
  let sum = 0;
  for (let i = 0; i < data.length; i++) sum += data[i]!;
  if (!Number.isFinite(sum)) {
    for (let i = 0; i < data.length; i++) {
      if (!Number.isFinite(data[i]!)) {
        let rest = i;
        const at = [w, h, channels, segNum, b].map((d) => {
          const k = rest % d;
          rest = Math.floor(rest / d);
          return k;
        });
        throw invalid(`Input data holds ${String(data[i])} at index ${i} ([${at.reverse().join(', ')}]): every value must be finite`);
      }
    }
  }
}
