// Entry point of the weights stage: a path (file in any supported format, parameter directory, PaddleHub
// module folder, .tar/.tar.gz archive) -> the 301 validated StNet parameters as float32.
import { open, stat } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { StnetError } from '../errors.js';
import type { StnetWeights } from './types.js';
import { detectFormat, DETECT_BYTES, type Detection } from './detect.js';
import { lodRecordsToTensors, readLodTensorStream } from './lodtensor.js';
import { readPickle } from './pickle.js';
import { STNET_PARAM_BY_NAME, STNET_SORTED_NAMES } from './stnet-params.js';
import { toFloat32Params } from './float32.js';
import { checkFinite, validateShapes } from './validate.js';
import { STNET_PARAMS } from './stnet-params.js';
import type { Float32Param } from './types.js';
import { formatShape, type StoredTensor } from './tensor.js';

export { STNET_PARAMS, STNET_SORTED_NAMES, STNET_TOTAL_VALUES } from './stnet-params.js';
export type { StnetParamSpec, ParamKind } from './stnet-params.js';
export type { StnetWeights, Float32Param } from './types.js';

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

/**
 * Reads a file into one Buffer with as few reads as possible (fs.readFile reads 512 KiB at a time, each a
 * thread-pool round trip: about twice as slow for 127 MiB).
 */
export async function readWhole(path: string, size: number): Promise<Buffer> {
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.allocUnsafeSlow(size);
    let got = 0;
    while (got < size) {
      const { bytesRead } = await fh.read(buf, got, size - got, got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    // The file shrank while we read it: parse what is there (the readers report the truncation).
    return got === size ? buf : buf.subarray(0, got);
  } finally {
    await fh.close();
  }
}

async function readHead(path: string): Promise<Uint8Array> {
  const fh = await open(path, 'r');
  try {
    const head = new Uint8Array(DETECT_BYTES);
    const { bytesRead } = await fh.read(head, 0, DETECT_BYTES, 0);
    return head.subarray(0, bytesRead);
  } finally {
    await fh.close();
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
  const params = toFloat32Params(source, tensors, { inPlace: owned, path });
  checkFinite(params, path);
  const ordered = new Map<string, Float32Param>();
  for (const spec of STNET_PARAMS) ordered.set(spec.name, params.get(spec.name)!);
  return ordered;
}

/** A combined LoDTensor stream (STNET_final.pdparams, save_params(filename=...)): names from the sorted table. */
export function parseCombinedStream(buf: Uint8Array, path: string): StoredTensor[] {
  const records = readLodTensorStream(buf, { names: STNET_SORTED_NAMES, path });
  const n = records.length;
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

/**
 * Loads StNet weights from a file (pickle .pdparams, combined LoDTensor stream; sniffed from the bytes),
 * a one-file-per-parameter directory, a PaddleHub module folder (or its model/ folder), or a .tar/.tar.gz
 * archive of one. Returns the 301 parameters, validated, as float32 in creation order. The arrays may be
 * views into one shared buffer (the file's own bytes, compacted in place): use byteOffset/length.
 */
export async function loadWeights(path: string): Promise<StnetWeights> {
  const st = await statPath(path);
  if (!st.isFile()) {
    throw new StnetError('E_WEIGHTS_FORMAT', `${path}: not a regular file or directory`, { path });
  }
  if (st.size === 0) {
    throw new StnetError('E_WEIGHTS_TRUNCATED', `${path}: weights file is empty (0 bytes): download it again`, { path });
  }
  const det = detectFormat(await readHead(path));
  if (det.format !== 'lodtensor' && det.format !== 'pickle') throw formatError(path, det);
  return loadWeightsFromBuffer(await readWhole(path, st.size), path, true);
}
