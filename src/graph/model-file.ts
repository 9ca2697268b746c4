// A model file given by the user (StNet.load({ model }), stnet run --model): is it a StNet graph this project wrote?
// Checked before onnxruntime sees it, so that a wrong file is a typed error that says what is wrong, and so that
// nothing else (cache, session) is touched.
import { readFile, stat } from 'node:fs/promises';
import type onnxProto from 'onnx-proto';
import { onnxSchema } from './proto.js';
import { StnetError } from '../errors.js';
import { META_PRECISION } from './quantize.js';
import { EMBEDDING_SIZE, INPUT_CHANNELS, INPUT_NAME, NUM_CLASSES, OUTPUT_EMBEDDING, OUTPUT_LOGITS, OUTPUT_PROBS } from './stnet.js';

/** The producer_name every graph this project writes carries (src/graph/onnx.ts). */
const PRODUCER = 'stnet-kinetics400';

export interface StnetModelFile {
  readonly bytes: Uint8Array;
  readonly precision: 'fp32' | 'int8';
}

function bad(path: string, why: string, cause?: unknown): StnetError {
  return new StnetError('E_MODEL_FORMAT', `${path} ${why}; write it with stnet export-onnx or stnet quantize, or pass --weights instead`, {
    path,
    ...(cause !== undefined ? { cause } : {}),
  });
}

/** Checks serialized model bytes; `path` is only used in messages. */
export function checkStnetModel(bytes: Uint8Array, path: string): StnetModelFile {
  if (bytes.length === 0) throw bad(path, 'is empty (0 bytes), not an ONNX model');
  let m: onnxProto.onnx.ModelProto;
  try {
    m = onnxSchema().ModelProto.decode(bytes);
  } catch (err) {
    // A truncated protobuf ends inside a field: the decoder reads past the end.
    const truncated = /index out of range|invalid wire type|premature|offset/i.test((err as Error).message);
    throw bad(path, truncated ? `is not a complete ONNX model (truncated or not ONNX: ${(err as Error).message})` : `is not an ONNX model (${(err as Error).message})`, err);
  }
  const g = m.graph;
  if (m.producerName !== PRODUCER || g === null || g === undefined) {
    throw bad(path, `is not a StNet graph written by stnet (producer ${JSON.stringify(m.producerName ?? '')}, expected ${JSON.stringify(PRODUCER)})`);
  }
  const inputs = g.input ?? [];
  const dims = (v: onnxProto.onnx.IValueInfoProto | undefined): string =>
    JSON.stringify((v?.type?.tensorType?.shape?.dim ?? []).map((d) => (d.dimParam ? d.dimParam : Number(d.dimValue ?? 0))));
  const i0 = inputs[0];
  const inDims = i0?.type?.tensorType?.shape?.dim ?? [];
  if (inputs.length !== 1 || i0?.name !== INPUT_NAME || inDims.length !== 5 || Number(inDims[2]?.dimValue ?? 0) !== INPUT_CHANNELS || i0.type?.tensorType?.elemType !== onnxSchema().TensorProto.DataType.FLOAT) {
    throw bad(path, `does not have StNet's input (expected one float input ${INPUT_NAME} [batch, seg_num, ${INPUT_CHANNELS}, H, W], found ${inputs.map((v) => `${v.name} ${dims(v)}`).join(', ') || 'none'})`);
  }
  const outputs = g.output ?? [];
  const names = outputs.map((o) => o.name);
  const okOut = (name: string, width: number): boolean => {
    const o = outputs.find((v) => v.name === name);
    const d = o?.type?.tensorType?.shape?.dim ?? [];
    return o !== undefined && d.length === 2 && Number(d[1]?.dimValue ?? 0) === width;
  };
  // Files written before the embedding output existed (GRAPH_BUILDER_VERSION 1) are refused here, with the fix,
  // rather than failing at their first run.
  if (outputs.length !== 3 || !okOut(OUTPUT_PROBS, NUM_CLASSES) || !okOut(OUTPUT_LOGITS, NUM_CLASSES) || !okOut(OUTPUT_EMBEDDING, EMBEDDING_SIZE)) {
    throw bad(
      path,
      `does not have StNet's outputs (expected ${OUTPUT_PROBS} and ${OUTPUT_LOGITS} [batch, ${NUM_CLASSES}] and ${OUTPUT_EMBEDDING} [batch, ${EMBEDDING_SIZE}]; found ${names.join(', ') || 'none'}; a file from an older stnet lacks ${OUTPUT_EMBEDDING}: export it again)`,
    );
  }
  // Every tensor a node reads must exist: a file cut at a field boundary still decodes, but loses initializers.
  const defined = new Set<string>([...inputs.map((v) => v.name!), ...(g.initializer ?? []).map((t) => t.name!)]);
  for (const n of g.node ?? []) {
    for (const i of n.input ?? []) {
      if (i !== '' && !defined.has(i)) throw bad(path, `is incomplete (node ${n.name ?? n.opType} reads ${i}, which nothing defines: truncated?)`);
    }
    for (const o of n.output ?? []) defined.add(o);
  }
  for (const name of names) if (!defined.has(name!)) throw bad(path, `is incomplete (output ${name} is never computed: truncated?)`);
  const precision = (m.metadataProps ?? []).find((p) => p.key === META_PRECISION)?.value;
  if (precision !== undefined && precision !== 'int8') throw bad(path, `has an unknown ${META_PRECISION} ${JSON.stringify(precision)}`);
  return { bytes, precision: precision === 'int8' ? 'int8' : 'fp32' };
}

/** Reads and checks a model file. */
export async function readStnetModel(path: string): Promise<StnetModelFile> {
  const st = await stat(path).catch(() => undefined);
  if (st === undefined) throw new StnetError('E_INVALID_OPTION', `model file ${path} not found; check the path given to --model / model`, { path });
  if (!st.isFile()) throw new StnetError('E_INVALID_OPTION', `model ${path} is not a file; give the path of a .onnx file written by stnet export-onnx or stnet quantize`, { path });
  const buf = await readFile(path);
  return checkStnetModel(new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength), path);
}
