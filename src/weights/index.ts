// Entry point of the weights stage: a path (file in any supported format, parameter directory, PaddleHub
// module folder, .tar/.tar.gz archive) -> the 301 validated StNet parameters as float32.
import { createReadStream, type Stats } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename, sep } from 'node:path';
import { promisify } from 'node:util';
import { createGunzip, gunzip } from 'node:zlib';
import { StnetError } from '../errors.js';
import type { StnetWeights } from './types.js';
import { detectFormat, DETECT_BYTES, type Detection } from './detect.js';
import { lodRecordsToTensors, readLodTensorStream } from './lodtensor.js';
import { readPickle } from './pickle.js';
import { planDirectory, readParamFiles } from './directory.js';
import { withExtractedArchive } from './archive.js';
import { readHead, readWhole } from './io.js';
import { STNET_PARAM_BY_NAME, STNET_PARAMS, STNET_SORTED_NAMES } from './stnet-params.js';
import { toFloat32Params } from './float32.js';
import { checkFinite, validateShapes } from './validate.js';
import type { Float32Param } from './types.js';
import { formatShape, type StoredTensor } from './tensor.js';

export { STNET_PARAMS, STNET_SORTED_NAMES, STNET_TOTAL_VALUES } from './stnet-params.js';
export type { StnetParamSpec, ParamKind } from './stnet-params.js';
export type { StnetWeights, Float32Param } from './types.js';
export { validateStnetWeights } from './validate.js';
// Low-level readers, for generic use (any LoDTensor file or numpy-array pickle, not only StNet's).
export { readLodTensorStream, readLodTensorRecord, decodeLodTensorRecord, PADDLE_DTYPES } from './lodtensor.js';
export type { LodTensorRecord, ReadLodTensorOptions } from './lodtensor.js';
export { readPickleArrays, ALLOWED_GLOBALS } from './pickle.js';
export { detectFormat } from './detect.js';
export type { WeightsFormat, Detection } from './detect.js';
export type { DType, NdArray, TypedData } from './tensor.js';

async function statPath(path: string): Promise<Stats> {
  try {
    return await stat(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' || code === 'ENOTDIR' ? 'not found' : `cannot be read (${code ?? String(err)})`;
    throw new StnetError('E_WEIGHTS_NOT_FOUND', `weights path ${path} ${why}: check the path, or pass --weights / STNET_WEIGHTS`, {
      cause: err,
      path,
    });
  }
}

function formatError(path: string, det: Detection): StnetError {
  const supported = 'expected a pickle .pdparams (starts with 0x80), a LoDTensor stream (starts with 00 00 00 00), a parameter directory or a .tar/.tar.gz archive';
  let what: string;
  switch (det.format) {
    case 'text':
      what = det.preview?.startsWith('(dp') || det.preview?.startsWith('ccollections')
        ? `it looks like a protocol 0 (text) pickle ("${det.preview}"); re-save it with pickle protocol 2 or higher`
        : `it is a text file (starts with "${det.preview ?? ''}"), not weights (an HTML error page saved by a download?)`;
      break;
    case 'zip':
      what = 'it is a zip archive (unpack it, or repack it as .tar.gz)';
      break;
    case 'pickle':
      what = `it is a pickle of protocol ${det.protocol ?? '?'}, only protocols 2 to 5 are supported`;
      break;
    default:
      what = `unrecognised bytes ("${det.preview ?? ''}")`;
  }
  return new StnetError('E_WEIGHTS_FORMAT', `${path}: not a supported weights file: ${what}; ${supported}`, { path });
}

/**
 * Converts parsed tensors to validated float32 weights. `source` is the buffer the tensors point into;
 * with `owned` it may be overwritten (the in-place fast path, see float32.ts).
 */
export function finishWeights(source: Uint8Array, tensors: readonly StoredTensor[], path: string, owned: boolean): StnetWeights {
  validateShapes(tensors, path);
  // Creation order first, so that NaN/Inf messages list parameters in the network's order.
  const weights = ordered(toFloat32Params(source, tensors, { inPlace: owned, path }));
  checkFinite(weights, path);
  return weights;
}

/** A combined LoDTensor stream (STNET_final.pdparams, save_params(filename=...)): names from the sorted table. */
export function parseCombinedStream(buf: Uint8Array, path: string): StoredTensor[] {
  // A LoDTensor stream starts with zero bytes, but never with 64 of them (the TensorDesc follows at 20).
  const zeros = buf.subarray(0, 64);
  if (zeros.length === 64 && zeros.every((b) => b === 0)) {
    throw new StnetError(
      'E_WEIGHTS_CORRUPT',
      `${path}: the file starts with ${zeros.length} zero bytes, not weights: probably an interrupted or preallocated download; download it again`,
      { path },
    );
  }
  const records = readLodTensorStream(buf, { names: STNET_SORTED_NAMES, path });
  const n = records.length;
  // One record in a file named after a parameter: a single file out of a parameter folder.
  const own = basename(path).replace(/^@HUB_[^@]+@/, '');
  if (n === 1 && STNET_PARAM_BY_NAME.has(own)) {
    throw new StnetError(
      'E_WEIGHTS_FORMAT',
      `${path}: this is a single parameter file (${own}) out of a parameter folder: pass the folder that holds all 301 files`,
      { path },
    );
  }
  // A stream that stops exactly at a record boundary is a cut download when every record so far matched.
  if (n < STNET_SORTED_NAMES.length) {
    const allMatch = records.every((r) => formatShape(r.dims) === formatShape(STNET_PARAM_BY_NAME.get(STNET_SORTED_NAMES[r.index]!)!.shape));
    if (allMatch) {
      const next = STNET_SORTED_NAMES[n]!;
      throw new StnetError(
        'E_WEIGHTS_TRUNCATED',
        `${path}: weights file truncated: the LoDTensor stream ends after ${n} of 301 records; record ${n} (${next}) is missing`,
        { path },
      );
    }
  }
  return lodRecordsToTensors(records, STNET_SORTED_NAMES);
}

/** Parses an in-memory weights file (pickle or LoDTensor stream), sniffing the format from its bytes. */
export async function loadWeightsFromBuffer(buf: Uint8Array, path: string, owned = false): Promise<StnetWeights> {
  const det = detectFormat(buf.subarray(0, DETECT_BYTES));
  switch (det.format) {
    case 'lodtensor':
      return finishWeights(buf, parseCombinedStream(buf, path), path, owned);
    case 'pickle':
      if (det.protocol !== undefined && (det.protocol < 2 || det.protocol > 5)) throw formatError(path, det);
      return finishWeights(buf, readPickle(buf, { path }), path, owned);
    case 'empty':
      throw new StnetError('E_WEIGHTS_TRUNCATED', `${path}: weights file is empty (0 bytes): download it again`, { path });
    default:
      throw formatError(path, det);
  }
}

function ordered(params: ReadonlyMap<string, Float32Param>): StnetWeights {
  const out = new Map<string, Float32Param>();
  for (const spec of STNET_PARAMS) out.set(spec.name, params.get(spec.name)!);
  return out;
}

async function loadDirectory(dir: string): Promise<StnetWeights> {
  const plan = await planDirectory(dir);
  if (plan === undefined) {
    throw new StnetError(
      'E_WEIGHTS_NOT_FOUND',
      `${dir}: no StNet weights in this directory: expected parameter files named like conv1_weights (PaddleHub: ` +
        'model/@HUB_stnet_kinetics400@conv1_weights) or a single .pdparams file',
      { path: dir },
    );
  }
  if (plan.kind === 'file') return loadFile(plan.file, (await stat(plan.file)).size);
  const { shapes, params } = await readParamFiles(plan.files);
  validateShapes(shapes, plan.dir);
  const weights = ordered(params);
  checkFinite(weights, plan.dir);
  return weights;
}

async function loadArchive(file: string): Promise<StnetWeights> {
  return withExtractedArchive(file, async (dir) => {
    try {
      return await loadDirectory(dir);
    } catch (err) {
      // Name the archive and the member, not the temporary folder that is about to disappear.
      if (err instanceof StnetError) {
        throw new StnetError(err.code, err.message.split(dir + sep).join(`${file}:`).split(dir).join(file), { cause: err, path: file });
      }
      throw err;
    }
  });
}

/** The first bytes of a gzip stream's content. */
async function gunzipHead(file: string): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  let n = 0;
  const stream = createReadStream(file).pipe(createGunzip());
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      chunks.push(chunk);
      n += chunk.length;
      if (n >= DETECT_BYTES) break;
    }
  } catch {
    // A damaged or cut stream: decide on what was decoded; the full read reports the error.
  } finally {
    stream.destroy();
  }
  return Buffer.concat(chunks).subarray(0, DETECT_BYTES);
}

async function loadGzip(file: string): Promise<StnetWeights> {
  const det = detectFormat(await gunzipHead(file));
  if (det.format === 'tar') return loadArchive(file);
  if (det.format !== 'pickle' && det.format !== 'lodtensor') throw formatError(`${file} (gzip content)`, det);
  let buf: Buffer;
  try {
    buf = await promisify(gunzip)(await readWhole(file, (await stat(file)).size));
  } catch (err) {
    const code = (err as { code?: string }).code;
    throw new StnetError(
      code === 'Z_BUF_ERROR' ? 'E_WEIGHTS_TRUNCATED' : 'E_WEIGHTS_CORRUPT',
      `${file}: ${code === 'Z_BUF_ERROR' ? 'weights file truncated: the gzip stream ends early' : `bad gzip data (${(err as Error).message})`}`,
      { cause: err, path: file },
    );
  }
  return loadWeightsFromBuffer(buf, file, true);
}

async function loadFile(path: string, size: number): Promise<StnetWeights> {
  if (size === 0) {
    throw new StnetError('E_WEIGHTS_TRUNCATED', `${path}: weights file is empty (0 bytes): download it again`, { path });
  }
  const det = detectFormat(await readHead(path));
  switch (det.format) {
    case 'pickle':
    case 'lodtensor':
      return loadWeightsFromBuffer(await readWhole(path, size), path, true);
    case 'tar':
      return loadArchive(path);
    case 'gzip':
      return loadGzip(path);
    default:
      throw formatError(path, det);
  }
}

/**
 * Loads StNet weights from a file (pickle .pdparams, combined LoDTensor stream; sniffed from the bytes,
 * also gzip-compressed), a one-file-per-parameter directory, a PaddleHub module folder (or its model/
 * folder), or a .tar/.tar.gz archive of one. Returns the 301 parameters, validated, as float32 in creation
 * order. The arrays may be views into one shared buffer (the file's own bytes, compacted in place): use
 * data.byteOffset/length, never data.buffer as a whole.
 */
export async function loadWeights(path: string): Promise<StnetWeights> {
  const st = await statPath(path);
  if (st.isDirectory()) return loadDirectory(path);
  if (!st.isFile()) {
    throw new StnetError('E_WEIGHTS_FORMAT', `${path}: not a regular file or directory`, { path });
  }
  return loadFile(path, st.size);
}
