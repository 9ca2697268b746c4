// Small typed helpers over the onnx-proto package (the protobufjs-generated ONNX schema, ONNX 1.10 / IR 8):
// nodes, initializers and value infos, then one `encode` at the end. No protobuf is hand-written here.
import { endianness } from 'node:os';
import type onnxProto from 'onnx-proto';
import { onnxSchema } from './proto.js';

type INodeProto = onnxProto.onnx.INodeProto;
type ITensorProto = onnxProto.onnx.ITensorProto;
type IAttributeProto = onnxProto.onnx.IAttributeProto;
type IValueInfoProto = onnxProto.onnx.IValueInfoProto;

/** ONNX opset this project writes. 15 is the newest the onnx-proto schema (ONNX 1.10) describes; it has Shape(start, end). */
export const OPSET = 15;
/** IR version matching opset 15 (ONNX 1.10). */
export const IR_VERSION = 8;

/** A typed attribute value: the ONNX attribute kinds this project uses. */
export type Attr = { readonly i: number } | { readonly ints: readonly number[] } | { readonly f: number } | { readonly s: string };

/** A dimension of a graph input/output: a fixed size or a symbolic name that is free at run time. */
export type Dim = number | string;

function toAttribute(name: string, value: Attr): IAttributeProto {
  const T = onnxSchema().AttributeProto.AttributeType;
  if ('i' in value) return { name, type: T.INT, i: value.i };
  if ('ints' in value) return { name, type: T.INTS, ints: [...value.ints] };
  if ('f' in value) return { name, type: T.FLOAT, f: value.f };
  return { name, type: T.STRING, s: new TextEncoder().encode(value.s) };
}

function valueInfo(name: string, dims: readonly Dim[]): IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: onnxSchema().TensorProto.DataType.FLOAT,
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

/** Collects nodes and initializers in topological order (the order they are added). */
export class GraphBuilder {
  private readonly nodes: INodeProto[] = [];
  private readonly initializers: ITensorProto[] = [];
  private readonly used = new Set<string>();

  constructor() {
    // Initializers go in as raw little-endian bytes straight from the Float32Array views.
    if (endianness() !== 'LE') throw new Error('stnet builds ONNX initializers from little-endian memory only');
  }

  /** A fresh value name: `base`, or `base_2`, `base_3`, ... when taken. */
  fresh(base: string): string {
    let name = base;
    for (let k = 2; this.used.has(name); k++) name = `${base}_${k}`;
    this.used.add(name);
    return name;
  }

  /** A float32 constant. The bytes are referenced, not copied, until `encode`. */
  float(name: string, dims: readonly number[], data: Float32Array): string {
    const n = dims.reduce((a, b) => a * b, 1);
    if (n !== data.length) throw new Error(`initializer ${name}: dims [${dims.join(',')}] hold ${n} values, data has ${data.length}`);
    const id = this.fresh(name);
    this.initializers.push({
      name: id,
      dims: [...dims],
      dataType: onnxSchema().TensorProto.DataType.FLOAT,
      rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
    });
    return id;
  }

  /** An int64 constant (shapes, axes). */
  int64(name: string, values: readonly number[]): string {
    const id = this.fresh(name);
    this.initializers.push({ name: id, dims: [values.length], dataType: onnxSchema().TensorProto.DataType.INT64, int64Data: [...values] });
    return id;
  }

  /** Adds a node with one output and returns the output's name. */
  op(opType: string, inputs: readonly string[], attrs: Readonly<Record<string, Attr>> = {}, outName?: string): string {
    const out = this.fresh(outName ?? opType.toLowerCase());
    this.nodes.push({
      opType,
      name: `${opType}:${out}`,
      input: [...inputs],
      output: [out],
      attribute: Object.entries(attrs).map(([k, v]) => toAttribute(k, v)),
    });
    return out;
  }

  /** Serializes the graph as an ONNX ModelProto. */
  encode(opts: {
    graphName: string;
    inputs: ReadonlyArray<{ name: string; dims: readonly Dim[] }>;
    outputs: ReadonlyArray<{ name: string; dims: readonly Dim[] }>;
    producerVersion: string;
    docString?: string;
  }): Uint8Array {
    const model = onnxSchema().ModelProto.create({
      irVersion: IR_VERSION,
      opsetImport: [{ domain: '', version: OPSET }],
      producerName: 'stnet-kinetics400',
      producerVersion: opts.producerVersion,
      docString: opts.docString ?? '',
      graph: {
        name: opts.graphName,
        node: this.nodes,
        initializer: this.initializers,
        input: opts.inputs.map((v) => valueInfo(v.name, v.dims)),
        output: opts.outputs.map((v) => valueInfo(v.name, v.dims)),
      },
    });
    return onnxSchema().ModelProto.encode(model).finish();
  }
}

/** Parses a serialized model (used by the FLOP counter and tests). */
export function decodeModel(bytes: Uint8Array): onnxProto.onnx.ModelProto {
  return onnxSchema().ModelProto.decode(bytes);
}
