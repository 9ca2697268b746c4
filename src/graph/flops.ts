// FLOP count of a serialized model for one concrete input shape, by walking its ONNX nodes in order.
// Counted: multiply-accumulates of Conv (output elements x input channels per group x kernel size) and
// Gemm/MatMul (M x K x N). FLOPs = 2 x MACs, the convention under which a large MatMul's FLOP/s is
// comparable. Bias adds, BN, ReLU, residual adds, pooling and softmax are elementwise and reported apart
// (`elementwise`, one per output element), not in `flops`.
import { decodeModel } from './onnx.js';

export interface FlopCount {
  /** Conv + Gemm multiply-accumulates. */
  readonly macs: number;
  /** 2 x macs. */
  readonly flops: number;
  /** MACs per op type (Conv, Gemm, ...). */
  readonly macsByOp: Readonly<Record<string, number>>;
  /** Output elements of all other ops (not part of flops). */
  readonly elementwise: number;
  /** Shape of every graph output. */
  readonly outputShapes: Readonly<Record<string, readonly number[]>>;
}

interface Value {
  shape: number[];
  /** Known contents of small int64 tensors (shapes, axes). */
  ints?: number[];
}

/** Ops that compute one value per output element (reshapes and transposes only move data). */
const ELEMENTWISE = new Set(['Relu', 'BatchNormalization', 'Softmax', 'Add', 'Mul', 'MaxPool', 'GlobalAveragePool', 'GlobalMaxPool']);

const toNum = (v: unknown): number => (typeof v === 'number' ? v : Number(v as { toString(): string }));
const prod = (a: readonly number[]): number => a.reduce((x, y) => x * y, 1);

/** Counts FLOPs of `model` for an input of shape `inputDims` (the graph's single input). */
export function countFlops(model: Uint8Array, inputDims: readonly number[]): FlopCount {
  const graph = decodeModel(model).graph!;
  const values = new Map<string, Value>();
  for (const t of graph.initializer ?? []) {
    const dims = (t.dims ?? []).map(toNum);
    values.set(t.name!, { shape: dims, ...(t.int64Data && t.int64Data.length > 0 ? { ints: t.int64Data.map(toNum) } : {}) });
  }
  const inputs = (graph.input ?? []).filter((i) => !values.has(i.name!));
  if (inputs.length !== 1) throw new Error(`countFlops expects one graph input, found ${inputs.length}`);
  values.set(inputs[0]!.name!, { shape: [...inputDims] });

  const macsByOp: Record<string, number> = {};
  let elementwise = 0;
  const get = (name: string): Value => {
    const v = values.get(name);
    if (v === undefined) throw new Error(`countFlops: value ${name} is used before it is produced`);
    return v;
  };

  for (const node of graph.node ?? []) {
    const op = node.opType!;
    const attr = new Map((node.attribute ?? []).map((a) => [a.name!, a]));
    const ints = (n: string): number[] | undefined => attr.get(n)?.ints?.map(toNum);
    const int = (n: string, d: number): number => (attr.has(n) ? toNum(attr.get(n)!.i) : d);
    const ins = (node.input ?? []).map(get);
    const x = ins[0]!;
    let out: Value;
    switch (op) {
      case 'Conv': {
        const w = ins[1]!.shape; // [Cout, Cin/group, k...]
        const k = w.slice(2);
        const strides = ints('strides') ?? k.map(() => 1);
        const pads = ints('pads') ?? [...k, ...k].map(() => 0);
        const spatial = k.map((kk, i) => Math.floor((x.shape[2 + i]! + pads[i]! + pads[i + k.length]! - kk) / strides[i]!) + 1);
        out = { shape: [x.shape[0]!, w[0]!, ...spatial] };
        macsByOp[op] = (macsByOp[op] ?? 0) + prod(out.shape) * prod(w.slice(1));
        break;
      }
      case 'Gemm':
      case 'MatMul': {
        const [m, kk] = x.shape as [number, number];
        const n = ins[1]!.shape[int('transB', 0) === 1 ? 0 : 1]!;
        out = { shape: [m, n] };
        macsByOp[op] = (macsByOp[op] ?? 0) + m * kk * n;
        break;
      }
      case 'MaxPool': {
        const k = ints('kernel_shape')!;
        const strides = ints('strides') ?? k.map(() => 1);
        const pads = ints('pads') ?? [...k, ...k].map(() => 0);
        const spatial = k.map((kk, i) => Math.floor((x.shape[2 + i]! + pads[i]! + pads[i + k.length]! - kk) / strides[i]!) + 1);
        out = { shape: [x.shape[0]!, x.shape[1]!, ...spatial] };
        break;
      }
      case 'GlobalAveragePool':
      case 'GlobalMaxPool':
        out = { shape: [x.shape[0]!, x.shape[1]!, ...x.shape.slice(2).map(() => 1)] };
        break;
      case 'Relu':
      case 'BatchNormalization':
      case 'Softmax':
        out = { shape: [...x.shape] };
        break;
      case 'Add':
      case 'Mul': {
        const a = x.shape;
        const b = ins[1]!.shape;
        const r = Math.max(a.length, b.length);
        out = { shape: Array.from({ length: r }, (_, i) => Math.max(a[i - r + a.length] ?? 1, b[i - r + b.length] ?? 1)) };
        break;
      }
      case 'Shape': {
        const r = x.shape.length;
        const norm = (v: number): number => Math.min(Math.max(v < 0 ? v + r : v, 0), r);
        const s = x.shape.slice(norm(int('start', 0)), norm(int('end', r)));
        out = { shape: [s.length], ints: s };
        break;
      }
      case 'Concat': {
        const all = ins.map((v) => v.ints);
        if (all.some((v) => v === undefined)) throw new Error('countFlops: Concat of data tensors is not supported');
        const joined = all.flatMap((v) => v!);
        out = { shape: [joined.length], ints: joined };
        break;
      }
      case 'Reshape': {
        const target = ins[1]!.ints!;
        const shape = target.map((d, i) => (d === 0 ? x.shape[i]! : d));
        const known = prod(shape.filter((d) => d !== -1));
        out = { shape: shape.map((d) => (d === -1 ? prod(x.shape) / known : d)) };
        break;
      }
      case 'Transpose': {
        const perm = ints('perm') ?? x.shape.map((_, i) => x.shape.length - 1 - i);
        out = { shape: perm.map((p) => x.shape[p]!) };
        break;
      }
      case 'Unsqueeze': {
        const shape = [...x.shape];
        for (const a of [...ins[1]!.ints!].sort((p, q) => p - q)) shape.splice(a, 0, 1);
        out = { shape };
        break;
      }
      case 'Flatten': {
        const axis = int('axis', 1);
        out = { shape: [prod(x.shape.slice(0, axis)), prod(x.shape.slice(axis))] };
        break;
      }
      default:
        throw new Error(`countFlops: op ${op} is not supported`);
    }
    if (ELEMENTWISE.has(op)) elementwise += prod(out.shape);
    values.set(node.output![0]!, out);
  }
  const macs = Object.values(macsByOp).reduce((a, b) => a + b, 0);
  const outputShapes: Record<string, readonly number[]> = {};
  for (const o of graph.output ?? []) outputShapes[o.name!] = get(o.name!).shape;
  return { macs, flops: 2 * macs, macsByOp, elementwise, outputShapes };
}
