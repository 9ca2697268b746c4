// Static int8 quantization of the StNet graph in QDQ form: fp32 ONNX bytes + activation ranges -> int8 ONNX bytes.
//
// Works on the serialized model (decoded with onnx-proto), not on the builder, so it depends only on what the graph
// computes. onnxruntime turns the QDQ pattern into its integer kernels:
//   DQ(x_u8) + DQ(W_s8, per channel) + DQ(b_s32) -> Conv -> Q   ==>  QLinearConv (u8 activations, s8 weights)
//   DQ + DQ -> Add -> (Relu) -> Q                               ==>  QLinearAdd (Relu removed when Q's zero point is 0)
//   DQ -> MaxPool/Reshape/Transpose -> Q with the same scale     ==>  the pair dropped, the op runs on uint8
// ConvInteger (the other integer path) measured 5x slower than fp32 on this kind of CPU, so it is never used.
// There is no Python tooling here (onnxruntime.quantization), and none is wanted: hence this hand-written pass.
//
// Activations: uint8, asymmetric (zero point from the calibrated range, which always includes 0; a range starting
// at 0, as after a ReLU, gives zero point 0). Weights: int8, symmetric, one scale per output channel
// (DequantizeLinear axis 0). Bias: int32 with scale x_scale * w_scale[c] and zero point 0, as QLinearConv wants.
// `reduceRange` keeps weights in [-63, 63]: on AVX2 without VNNI, onnxruntime's u8s8 kernel sums pairs of u8*s8
// products in int16 (vpmaddubsw), which 255*127*2 overflows; 7-bit weights cannot.
import type onnxProto from 'onnx-proto';
import { onnxSchema } from './proto.js';
import { StnetError } from '../errors.js';

type IModelProto = onnxProto.onnx.IModelProto;
type INodeProto = onnxProto.onnx.INodeProto;
type ITensorProto = onnxProto.onnx.ITensorProto;

/** Layer groups that can be quantized or kept in fp32 independently (docs/model.md, "int8": their sensitivity). */
/**
 * Version of what the quantizer writes: part of the int8 graph's cache key (src/model/load.ts int8Variant), so a
 * change to the quantized graph must bump it, or users would keep running the graph the old quantizer wrote.
 */
export const QUANTIZER_VERSION = 1;

export const LAYER_GROUPS = ['conv1', 'resnet', 'temporal', 'xception', 'fc'] as const;
export type LayerGroup = (typeof LAYER_GROUPS)[number];
/** Groups quantized by default: chosen by the measured drift and speed in docs/model.md ("int8"). */
export const DEFAULT_INT8_GROUPS: readonly LayerGroup[] = ['conv1', 'resnet', 'temporal'];

/** A calibrated activation range (float). */
export interface TensorRange {
  readonly min: number;
  readonly max: number;
}

export interface QuantizeOptions {
  /** Which layer groups run in int8; the rest stays fp32. Default DEFAULT_INT8_GROUPS. */
  groups?: readonly LayerGroup[];
  /** 7-bit weights (see the top of this file). Default true. */
  reduceRange?: boolean;
  /** Extra metadata_props written into the model (e.g. how it was calibrated). */
  metadata?: Readonly<Record<string, string>>;
}

/** metadata_props keys written into a quantized model; the model-file check reads them back. */
export const META_PRECISION = 'stnet.precision';
export const META_GROUPS = 'stnet.int8_groups';

/** The layer group of a Conv/Gemm node, from the names the builder gives their outputs (src/graph/stnet.ts). */
export function layerGroup(node: INodeProto): LayerGroup | undefined {
  const out = node.output?.[0] ?? '';
  if (node.opType === 'Gemm') return 'fc';
  if (node.opType !== 'Conv') return undefined;
  if (out.startsWith('conv1')) return 'conv1';
  if (out.startsWith('conv3d_')) return 'temporal';
  if (out.startsWith('xception_')) return 'xception';
  if (out.startsWith('res')) return 'resnet';
  return undefined;
}

/** Ops that onnxruntime runs on uint8 when their input and output share scale and zero point. */
const SAME_SCALE_OPS = new Set(['MaxPool', 'Reshape', 'Transpose', 'Flatten', 'Unsqueeze', 'Squeeze']);

export interface QuantizationPlan {
  /** Conv/Gemm nodes (by output name) that become integer ops. */
  readonly nodes: readonly string[];
  /** Activation tensors that get a QuantizeLinear/DequantizeLinear pair. */
  readonly tensors: readonly string[];
  /** Tensors that reuse another tensor's scale and zero point (output of a same-scale op -> its input). */
  readonly inherits: ReadonlyMap<string, string>;
  /** The tensors whose range calibration must measure (tensors minus inherits). */
  readonly calibrate: readonly string[];
}

function decode(fp32: Uint8Array): IModelProto {
  try {
    return onnxSchema().ModelProto.decode(fp32);
  } catch (err) {
    throw new StnetError('E_MODEL_FORMAT', `cannot quantize: the fp32 model is not a readable ONNX model (${(err as Error).message})`, { cause: err });
  }
}

function planOf(model: IModelProto, groups: readonly LayerGroup[]): QuantizationPlan {
  const nodes = model.graph?.node ?? [];
  const consumers = new Map<string, INodeProto[]>();
  const producer = new Map<string, INodeProto>();
  for (const n of nodes) {
    for (const i of n.input ?? []) consumers.set(i, [...(consumers.get(i) ?? []), n]);
    for (const o of n.output ?? []) producer.set(o, n);
  }
  const chosen = nodes.filter((n) => {
    const g = layerGroup(n);
    return g !== undefined && groups.includes(g);
  });
  const outAfterRelu = (t: string): string => {
    const after = consumers.get(t) ?? [];
    return after.length === 1 && after[0]!.opType === 'Relu' ? after[0]!.output![0]! : t;
  };
  const tensors = new Set<string>();
  for (const n of chosen) {
    tensors.add(n.input![0]!);
    if (n.opType === 'Gemm') continue; // Its output (the logits) is a graph output: left in float.
    // The integer conv needs a Q on its output; after a lone ReLU, quantize the ReLU's output (zero point 0 lets
    // onnxruntime drop the ReLU into the Q).
    tensors.add(outAfterRelu(n.output![0]!));
  }
  // A residual Add whose inputs are both quantized becomes QLinearAdd once its output (after a lone ReLU) is
  // quantized too (nodes are in topological order, so one pass sees each Add after its inputs).
  for (const n of nodes) {
    if (n.opType !== 'Add' || (n.input ?? []).length !== 2) continue;
    if (n.input!.every((i) => tensors.has(i))) tensors.add(outAfterRelu(n.output![0]!));
  }
  const inherits = new Map<string, string>();
  for (const t of tensors) {
    // Walk back through same-scale ops to a quantized tensor (pool1 <- conv1 ReLU, the temporal conv's
    // transposed input <- the stage's output).
    let p = producer.get(t);
    let src: string | undefined;
    while (p !== undefined && SAME_SCALE_OPS.has(p.opType ?? '')) {
      const x = p.input![0]!;
      if (tensors.has(x)) {
        src = x;
        break;
      }
      p = producer.get(x);
    }
    if (src !== undefined) inherits.set(t, src);
  }
  const root = (t: string): string => {
    let r = t;
    while (inherits.has(r)) r = inherits.get(r)!;
    return r;
  };
  for (const [t] of inherits) inherits.set(t, root(t));
  return {
    nodes: chosen.map((n) => n.output![0]!),
    tensors: [...tensors],
    inherits,
    calibrate: [...tensors].filter((t) => !inherits.has(t)),
  };
}

/** Which nodes and tensors `quantizeStnetModel` would quantize for these groups (calibration asks for `calibrate`). */
export function quantizationPlan(fp32: Uint8Array, groups: readonly LayerGroup[] = DEFAULT_INT8_GROUPS): QuantizationPlan {
  return planOf(decode(fp32), groups);
}

/** uint8 asymmetric parameters for a float range (widened to include 0, as the integer ops need). */
export function activationParams(r: TensorRange): { scale: number; zeroPoint: number } {
  const lo = Math.min(0, r.min);
  const hi = Math.max(0, r.max);
  if (!(hi > lo) || !Number.isFinite(hi - lo)) return { scale: 1, zeroPoint: 0 };
  const scale = (hi - lo) / 255;
  const zeroPoint = Math.min(255, Math.max(0, Math.round(-lo / scale)));
  return { scale, zeroPoint };
}

/** Symmetric per-output-channel int8 weights: one scale per slice of `per` values. */
export function quantizeWeights(w: Float32Array, channels: number, qmax: number): { q: Int8Array; scales: Float32Array } {
  const per = w.length / channels;
  const q = new Int8Array(w.length);
  const scales = new Float32Array(channels);
  for (let c = 0; c < channels; c++) {
    let m = 0;
    for (let j = c * per, end = j + per; j < end; j++) m = Math.max(m, Math.abs(w[j]!));
    // float32 scale, as stored: the integer values are rounded against exactly the scale onnxruntime will use.
    const s = Math.fround(m > 0 ? m / qmax : 1);
    scales[c] = s;
    for (let j = c * per, end = j + per; j < end; j++) q[j] = Math.max(-qmax, Math.min(qmax, Math.round(w[j]! / s)));
  }
  return { q, scales };
}

/** Float32 values of an initializer (raw little-endian bytes or float_data). */
function floatsOf(t: ITensorProto): Float32Array {
  if (t.rawData && t.rawData.length > 0) {
    // Copied: rawData views the decoded buffer at any byte offset, not always 4-aligned. (new Uint8Array(view)
    // copies; a Buffer's slice() would not.)
    return new Float32Array(new Uint8Array(t.rawData).buffer);
  }
  return Float32Array.from(t.floatData ?? []);
}

const bytes = (a: ArrayBufferView): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/**
 * Quantizes the fp32 StNet model (bytes from buildStnetOnnx) with the calibrated `ranges` (every tensor of
 * `quantizationPlan(...).calibrate`) and returns the serialized QDQ model.
 */
export function quantizeStnetModel(fp32: Uint8Array, ranges: ReadonlyMap<string, TensorRange>, opts: QuantizeOptions = {}): Uint8Array {
  const groups = opts.groups ?? DEFAULT_INT8_GROUPS;
  const qmax = opts.reduceRange === false ? 127 : 63;
  const model = decode(fp32);
  const graph = model.graph;
  if (graph === null || graph === undefined) throw new StnetError('E_MODEL_FORMAT', 'cannot quantize: the fp32 model has no graph');
  const plan = planOf(model, groups);
  const inits = new Map<string, ITensorProto>();
  for (const t of graph.initializer ?? []) inits.set(t.name!, t);
  const newInits: ITensorProto[] = [];
  const used = new Set<string>([...inits.keys(), ...(graph.node ?? []).flatMap((n) => [...(n.input ?? []), ...(n.output ?? [])])]);
  const fresh = (base: string): string => {
    let name = base;
    for (let k = 2; used.has(name); k++) name = `${base}_${k}`;
    used.add(name);
    return name;
  };
  const scalar = (name: string, dataType: number, raw: Uint8Array, dims: number[] = []): string => {
    const id = fresh(name);
    newInits.push({ name: id, dims, dataType, rawData: raw });
    return id;
  };

  // Activation parameters: measured tensors from their range, inherited ones from their source.
  const params = new Map<string, { scale: number; zeroPoint: number; scaleName: string; zpName: string }>();
  const paramsFor = (t: string): { scale: number; zeroPoint: number; scaleName: string; zpName: string } => {
    const have = params.get(t);
    if (have !== undefined) return have;
    const src = plan.inherits.get(t);
    if (src !== undefined) {
      const p = paramsFor(src);
      params.set(t, p);
      return p;
    }
    const r = ranges.get(t);
    if (r === undefined) throw new StnetError('E_INVALID_OPTION', `cannot quantize: no calibrated range for tensor ${t}`);
    const { scale, zeroPoint } = activationParams(r);
    const p = {
      scale: Math.fround(scale),
      zeroPoint,
      scaleName: scalar(`${t}_scale`, onnxSchema().TensorProto.DataType.FLOAT, bytes(Float32Array.of(scale))),
      zpName: scalar(`${t}_zero_point`, onnxSchema().TensorProto.DataType.UINT8, Uint8Array.of(zeroPoint)),
    };
    params.set(t, p);
    return p;
  };

  // Q/DQ pairs: consumers of a quantized tensor read its DequantizeLinear output.
  const dqName = new Map<string, string>();
  const qdqNodes = new Map<string, INodeProto[]>(); // inserted after the producer of the key tensor
  for (const t of plan.tensors) {
    const p = paramsFor(t);
    const q = fresh(`${t}_quantized`);
    const dq = fresh(`${t}_dequantized`);
    dqName.set(t, dq);
    qdqNodes.set(t, [
      { opType: 'QuantizeLinear', name: `QuantizeLinear:${q}`, input: [t, p.scaleName, p.zpName], output: [q] },
      { opType: 'DequantizeLinear', name: `DequantizeLinear:${dq}`, input: [q, p.scaleName, p.zpName], output: [dq] },
    ]);
  }

  // Weights and biases of the chosen nodes.
  const chosen = new Set(plan.nodes);
  const weightNodes: INodeProto[] = [];
  const replaced = new Set<string>();
  for (const n of graph.node ?? []) {
    if (!chosen.has(n.output![0]!)) continue;
    const inputs = [...n.input!];
    const w = inits.get(inputs[1]!);
    if (w === undefined) throw new StnetError('E_MODEL_FORMAT', `cannot quantize ${n.name}: its weight ${inputs[1]} is not a constant`);
    const wf = floatsOf(w);
    const dims = (w.dims ?? []).map(Number);
    // Conv weights [Cout, Cin/g, kh, kw]: per output channel (axis 0). Gemm B [K, N] (transB 0): one scale
    // (per-column would need axis 1, which onnxruntime's QDQ Gemm selector does not take for B).
    const perChannel = n.opType === 'Conv';
    const channels = perChannel ? dims[0]! : 1;
    const { q, scales } = quantizeWeights(wf, channels, qmax);
    const wq = scalar(`${inputs[1]}_quantized`, onnxSchema().TensorProto.DataType.INT8, bytes(q), dims);
    const wScale = scalar(`${inputs[1]}_scale`, onnxSchema().TensorProto.DataType.FLOAT, bytes(scales), perChannel ? [channels] : []);
    const wZp = scalar(`${inputs[1]}_zero_point`, onnxSchema().TensorProto.DataType.INT8, new Uint8Array(channels), perChannel ? [channels] : []);
    const wDq = fresh(`${inputs[1]}_dequantized`);
    weightNodes.push({
      opType: 'DequantizeLinear',
      name: `DequantizeLinear:${wDq}`,
      input: [wq, wScale, wZp],
      output: [wDq],
      attribute: perChannel ? [{ name: 'axis', type: onnxSchema().AttributeProto.AttributeType.INT, i: 0 }] : [],
    });
    replaced.add(inputs[1]!);
    inputs[1] = wDq;
    const x = paramsFor(n.input![0]!);
    if (inputs[2] !== undefined && inputs[2] !== '') {
      const b = inits.get(inputs[2]);
      if (b === undefined) throw new StnetError('E_MODEL_FORMAT', `cannot quantize ${n.name}: its bias ${inputs[2]} is not a constant`);
      const bf = floatsOf(b);
      const bScales = new Float32Array(bf.length);
      const bq = new Int32Array(bf.length);
      for (let c = 0; c < bf.length; c++) {
        bScales[c] = Math.fround(x.scale * scales[perChannel ? c : 0]!);
        bq[c] = Math.max(-(2 ** 31), Math.min(2 ** 31 - 1, Math.round(bf[c]! / bScales[c]!)));
      }
      const bqName = scalar(`${inputs[2]}_quantized`, onnxSchema().TensorProto.DataType.INT32, bytes(bq), [bf.length]);
      const bsName = scalar(`${inputs[2]}_scale`, onnxSchema().TensorProto.DataType.FLOAT, bytes(bScales), [bf.length]);
      const bzName = scalar(`${inputs[2]}_zero_point`, onnxSchema().TensorProto.DataType.INT32, new Uint8Array(4 * bf.length), [bf.length]);
      const bDq = fresh(`${inputs[2]}_dequantized`);
      weightNodes.push({
        opType: 'DequantizeLinear',
        name: `DequantizeLinear:${bDq}`,
        input: [bqName, bsName, bzName],
        output: [bDq],
        attribute: [{ name: 'axis', type: onnxSchema().AttributeProto.AttributeType.INT, i: 0 }],
      });
      replaced.add(inputs[2]);
      inputs[2] = bDq;
    }
    n.input = inputs;
  }

  // Rewire consumers to the dequantized tensors, and insert the Q/DQ pairs right after their producers.
  const out: INodeProto[] = [...weightNodes];
  const graphInputs = new Set((graph.input ?? []).map((v) => v.name!));
  for (const t of plan.tensors) if (graphInputs.has(t)) out.push(...qdqNodes.get(t)!);
  for (const n of graph.node ?? []) {
    n.input = (n.input ?? []).map((i) => dqName.get(i) ?? i);
    out.push(n);
    for (const o of n.output ?? []) if (qdqNodes.has(o)) out.push(...qdqNodes.get(o)!);
  }
  graph.node = out;
  // The float weights that became int8 are no longer needed (4x smaller model).
  const stillUsed = new Set(out.flatMap((n) => n.input ?? []));
  graph.initializer = [...(graph.initializer ?? []).filter((t) => !replaced.has(t.name!) || stillUsed.has(t.name!)), ...newInits];
  model.metadataProps = [
    ...(model.metadataProps ?? []).filter((p) => p.key !== META_PRECISION && p.key !== META_GROUPS),
    { key: META_PRECISION, value: 'int8' },
    { key: META_GROUPS, value: groups.join(',') },
    ...Object.entries(opts.metadata ?? {}).map(([key, value]) => ({ key, value })),
  ];
  model.docString = `${model.docString ?? ''} int8 QDQ (groups ${groups.join(', ')}).`.trim();
  return onnxSchema().ModelProto.encode(onnxSchema().ModelProto.create(model)).finish();
}
