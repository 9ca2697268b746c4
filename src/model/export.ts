// Writing a model's bytes to a .onnx file, for other runtimes: `stnet export-onnx` (src/cli/commands/export-onnx.ts)
// and the library's exportOnnx both get the bytes from loadModelBytes and write them with writeModelFile.
import { rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { StnetError, invalidOption } from '../errors.js';
import { OPSET } from '../graph/onnx.js';
import type { StnetWeights } from '../weights/types.js';
import { checkModelSourceOptions, loadModelBytes, modelBytesFromWeights, readModelBytes } from './load.js';

/** Checks that `outPath` can be written (its folder exists), before any slow weights work. */
export async function checkModelOutPath(outPath: unknown): Promise<string> {
  if (typeof outPath !== 'string' || outPath === '') throw invalidOption('out', 'a non-empty output path', outPath);
  const dir = dirname(resolve(outPath));
  const dirStat = await stat(dir).catch(() => undefined);
  if (dirStat === undefined || !dirStat.isDirectory()) {
    throw new StnetError('E_INVALID_OPTION', `cannot write the ONNX model to ${outPath}: folder ${dir} does not exist; create it or choose another --out path`, { path: outPath });
  }
  return outPath;
}

/** Writes the model to a temporary file, then renames it: a failed export never leaves a truncated model. */
export async function writeModelFile(bytes: Uint8Array, outPath: string): Promise<{ bytes: number; opset: number }> {
  const tmp = `${outPath}.${process.pid}.tmp`;
  try {
    await writeFile(tmp, bytes);
    await rename(tmp, outPath);
  } catch (err) {
    await rm(tmp, { force: true });
    throw new StnetError('E_INVALID_OPTION', `cannot write the ONNX model to ${outPath}: ${(err as Error).message}; choose a writable --out path`, { cause: err, path: outPath });
  }
  return { bytes: bytes.length, opset: OPSET };
}

/**
 * Writes the StNet ONNX model (input "image" [B, seg_num, 15, H, W], outputs "probs" and "logits") built from
 * `weights` (a weights file in any format loadWeights reads, or weights already in memory) to `outPath`.
 */
export async function exportOnnx(weights: string | StnetWeights, outPath: string): Promise<{ bytes: number; opset: number }> {
  const out = await checkModelOutPath(outPath);
  const model = typeof weights === 'string' ? await loadModelBytes(checkModelSourceOptions({ weights })) : await modelBytesFromWeights(weights);
  return writeModelFile(await readModelBytes(model), out);
}
