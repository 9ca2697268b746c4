// One LoDTensor file per parameter (docs/reference.md §6.0 `stnet_kinetics.tar.gz`, `fluid.io.save_vars` with
// filename=None: file name = variable name) and the PaddleHub 1.x module layout (section 7: the module
// folder's `model/` holds `@HUB_stnet_kinetics400@<name>` files beside `__model__`).
// Only files named after one of the 301 parameters are read: everything else in such folders is a
// program (`__model__`), module metadata (`module_desc.pb`, `check_info.pb`), processor code, or
// optimizer state (`*_velocity_0`, `learning_rate_0`, `*.pdopt`), which inference does not need.
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { StnetError } from '../errors.js';
import { detectFormat } from './detect.js';
import { readError, readHead, readWhole } from './io.js';
import { readLodTensorStream } from './lodtensor.js';
import { STNET_PARAM_BY_NAME } from './stnet-params.js';
import { toFloat32Params } from './float32.js';
import type { Float32Param } from './types.js';
import type { StoredTensor } from './tensor.js';

/** PaddleHub prefixes every variable of a module with `@HUB_<module name>@`. */
const HUB_PREFIX = /^@HUB_[^@]+@/;
const MAX_SNIFFED = 32;

export interface ParamFile {
  readonly name: string;
  readonly file: string;
}

/** Parameter files in `dir` (not recursive), by parameter name. */
export async function listParamFiles(dir: string): Promise<ParamFile[]> {
  const entries = await readdir(dir, { withFileTypes: true }).catch((err: unknown) => {
    throw readError(dir, err);
  });
  const out: ParamFile[] = [];
  for (const e of entries) {
    if (!e.isFile()) continue;
    const name = e.name.replace(HUB_PREFIX, '');
    if (STNET_PARAM_BY_NAME.has(name)) out.push({ name, file: join(dir, e.name) });
  }
  return out;
}

export type DirectoryPlan =
  | { readonly kind: 'params'; readonly dir: string; readonly files: readonly ParamFile[] }
  | { readonly kind: 'file'; readonly file: string };

/**
 * Finds the weights inside a folder: its own parameter files, its `model/` folder (hub module: parameter
 * files or one combined params file such as `__params__`), a single sub-folder (the top folder of an
 * unpacked archive), or a single weights file (e.g. STNET.pdparams, sniffed from its bytes). Returns
 * undefined when there is none.
 */
export async function planDirectory(dir: string, depth = 0): Promise<DirectoryPlan | undefined> {
  const files = await listParamFiles(dir);
  if (files.length > 0) return { kind: 'params', dir, files };
  const entries = await readdir(dir, { withFileTypes: true });
  const model = entries.find((e) => e.isDirectory() && e.name === 'model');
  if (model !== undefined && depth < 3) {
    // model/ holds one file per parameter, or (save_inference_model with params_filename) one combined file.
    const inModel = await planDirectory(join(dir, model.name), depth + 1);
    if (inModel !== undefined) return inModel;
  }
  const visible = entries.filter((e) => !e.name.startsWith('.'));
  const subdirs = visible.filter((e) => e.isDirectory());
  const regular = visible.filter((e) => e.isFile());
  // A folder holding exactly one weights file (not optimizer state) is that file. Sniffing is skipped in
  // big folders (a wrong --weights pointing at a home directory must not open thousands of files).
  const candidates: string[] = [];
  for (const e of regular.length <= MAX_SNIFFED ? regular : []) {
    if (/\.(pdopt|pdmodel|py|txt|md|json|yaml|yml)$/i.test(e.name) || e.name === '__model__') continue;
    const file = join(dir, e.name);
    const fmt = detectFormat(await readHead(file)).format;
    if (fmt === 'pickle' || fmt === 'lodtensor') candidates.push(file);
  }
  if (candidates.length === 1) return { kind: 'file', file: candidates[0]! };
  if (depth < 3 && subdirs.length === 1 && candidates.length === 0) return planDirectory(join(dir, subdirs[0]!.name), depth + 1);
  return undefined;
}

/**
 * Reads parameter files (each one LoDTensor record) to float32. Each file's buffer becomes that
 * parameter's storage (compacted in place), so no second copy exists.
 */
export async function readParamFiles(files: readonly ParamFile[]): Promise<{
  shapes: StoredTensor[];
  params: Map<string, Float32Param>;
}> {
  const shapes: StoredTensor[] = [];
  const params = new Map<string, Float32Param>();
  // A few files at a time: enough to keep the disk and the thread pool busy without 301 open handles.
  const queue = [...files];
  const worker = async (): Promise<void> => {
    for (let f = queue.shift(); f !== undefined; f = queue.shift()) {
      const size = (await stat(f.file)).size;
      const buf = await readWhole(f.file, size);
      if (buf.length === 0) {
        throw new StnetError('E_WEIGHTS_TRUNCATED', `${f.file}: weights file truncated: parameter file ${f.name} is empty (0 bytes)`, { path: f.file });
      }
      const records = readLodTensorStream(buf, { names: [f.name], path: f.file, maxRecords: 1 });
      const rec = records[0]!;
      if (rec.byteLength !== buf.length) {
        throw new StnetError(
          'E_WEIGHTS_CORRUPT',
          `${f.file}: parameter file ${f.name} has ${buf.length - rec.byteLength} bytes after its LoDTensor record (expected exactly one record)`,
          { path: f.file },
        );
      }
      const t: StoredTensor = {
        name: f.name,
        dtype: rec.dtype,
        shape: rec.dims,
        littleEndian: true,
        fortran: false,
        blob: { kind: 'range', offset: rec.dataOffset, length: rec.dataLength },
      };
      shapes.push(t);
      params.set(f.name, toFloat32Params(buf, [t], { inPlace: true, path: f.file }).get(f.name)!);
    }
  };
  await Promise.all([worker(), worker(), worker(), worker()]);
  return { shapes, params };
}
