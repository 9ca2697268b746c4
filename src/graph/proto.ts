// The ONNX protobuf schema (onnx-proto, on protobufjs), loaded on first use. Only building, decoding, checking or
// quantizing a graph needs it; a start from the graph cache hands onnxruntime a file path and never does. Loading
// it costs 12-15 MB of RSS and 70-90 ms (measured: a node process importing it, 52-55 MB and 0.17-0.22 s, against
// bare node's 40 MB and 0.10-0.13 s), which every `stnet run` on a cached graph paid before (issue 10, start-up and memory). The package
// is CommonJS, so a synchronous require keeps the callers synchronous.
import { createRequire } from 'node:module';
import type onnxProtoModule from 'onnx-proto';

export type OnnxSchema = typeof onnxProtoModule.onnx;

let schema: OnnxSchema | undefined;

/** The generated `onnx` namespace (ModelProto, TensorProto, ...). */
export function onnxSchema(): OnnxSchema {
  schema ??= (createRequire(import.meta.url)('onnx-proto') as typeof onnxProtoModule).onnx;
  return schema;
}
