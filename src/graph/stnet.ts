// StNet ResNet-50 (PaddleVideo legacy `StNet_ResNet`, seglen 5, 400 classes) as an ONNX model, built from
// the 301 Paddle parameters. Reference: docs/reference.md §5b; names and shapes: §5a and src/weights/stnet-params.ts.
//
// Batch norm handling (inference BN: y = gamma * (x - mean) / sqrt(var + 1e-5) + beta = s*x + t):
// - ResNet convs (conv1, every branch2a/b/c, every branch1) have no bias and their BN follows directly, so
//   BN(conv(x, W)) = conv(x, s*W) + t exactly (per output channel). Folded, in float64, rounded once to float32.
// - Temporal blocks: conv3d -> +bias -> ReLU -> BN. The BN sees ReLU's output, and s*relu(z) = relu(s*z) only
//   holds for s > 0, which trained weights do not promise. Kept as a BatchNormalization node (original
//   gamma/beta/mean/var, epsilon 1e-5), which onnxruntime evaluates in one pass.
// - xception_bn sits on the pooled features *before* att_conv, a depthwise conv with zero padding in time.
//   Folding t into att_conv's bias would add t*w also at the padded (first/last) time steps, where the
//   original conv sees zeros, so it is not exact. It also feeds xception_dw. Kept as a BatchNormalization node
//   (a [B, 2048, T, 1] tensor: negligible cost).
// - xception_bndw follows att_2 (1x1 conv with bias) directly: folded into att_2 (W' = s*W, b' = s*(b - mean) + beta).
// - xception_bn2 follows add(dw, att1_2), two 1x1 convs with bias and no padding; BN is affine, so
//   s*(dw + a) + t = (s*W_dw x + s*b_dw + t) + (s*W_a y + s*b_a): folded into both convs, the shift t into dw's bias.
// - No BN follows the fc; softmax is applied on the logits (both are graph outputs).
import { StnetError } from '../errors.js';
import type { Float32Param, StnetWeights } from '../weights/types.js';
import { GraphBuilder, OPSET, type Dim } from './onnx.js';
import { packageVersion } from '../version.js';

/**
 * Version of what buildStnetOnnx writes. Cached graphs (src/graph/cache.ts) are keyed by it, so bump it whenever
 * the builder's output changes for the same weights (a new node, a different folding, another attribute) or a
 * weights reader decodes differently. test/graph/builder-version.test.ts pins a hash of the graph built from fixed
 * weights for each version: a change to the output without a bump fails there.
 */
export const GRAPH_BUILDER_VERSION = 2;

export const BN_EPSILON = 1e-5;
export const NUM_CLASSES = 400;
/** Frames per segment; fixed by the trained network. */
export const SEGLEN = 5;
/** seglen frames x RGB, stacked as the super-image's channels. */
export const INPUT_CHANNELS = SEGLEN * 3;
export const INPUT_NAME = 'image';
export const OUTPUT_PROBS = 'probs';
export const OUTPUT_LOGITS = 'logits';
/** The 1024 values the fc layer reads: the temporal Xception block's output, max-pooled over time. */
export const OUTPUT_EMBEDDING = 'embedding';
export const EMBEDDING_SIZE = 1024;
/** Symbolic dims of the input [B, segNum, 15, H, W]; free at run time. */
export const INPUT_DIMS: readonly Dim[] = ['batch', 'seg_num', INPUT_CHANNELS, 'height', 'width'];

export interface BuildStnetOptions {
  /**
   * How the temporal conv3d k(3,1,1) runs: `conv2d` (default) as a Conv with kernel (3,1) over
   * [B, C, T, H*W]; `conv3d` as a 5-D Conv over [B, C, T, H, W]. Same numbers, different onnxruntime kernels.
   */
  temporalConv?: 'conv2d' | 'conv3d';
  /** Version string written into the model's producer_version. */
  producerVersion?: string;
}

/** ResNet-50 stages: Paddle name prefix, blocks, bottleneck width, stride of the first block. */
const STAGES = [
  { stage: 2, blocks: 3, width: 64, stride: 1 },
  { stage: 3, blocks: 4, width: 128, stride: 2 },
  { stage: 4, blocks: 6, width: 256, stride: 2 },
  { stage: 5, blocks: 3, width: 512, stride: 2 },
] as const;

/** Temporal blocks after stage 3 and stage 4, with the auto-generated Paddle names (docs/reference.md §5a, counter walk). */
const TEMPORAL_AFTER: ReadonlyMap<number, { conv: string; bn: string }> = new Map([
  [3, { conv: 'conv3d_0', bn: 'batch_norm_24' }],
  [4, { conv: 'conv3d_1', bn: 'batch_norm_44' }],
]);

interface BnNames {
  scale: string;
  offset: string;
  mean: string;
  variance: string;
}

const resnetBn = (bn: string): BnNames => ({ scale: `${bn}_scale`, offset: `${bn}_offset`, mean: `${bn}_mean`, variance: `${bn}_variance` });
const autoBn = (bn: string): BnNames => ({ scale: `${bn}.w_0`, offset: `${bn}.b_0`, mean: `${bn}.w_1`, variance: `${bn}.w_2` });

class StnetGraph {
  readonly g = new GraphBuilder();
  /** [B, T] of the input, int64: reshapes between [B*T, ...] and [B, T, ...] need it at run time. */
  private batchTime = '';

  constructor(private readonly w: StnetWeights) {}

  param(name: string, shape: readonly number[]): Float32Param {
    const p = this.w.get(name);
    if (p === undefined) throw new StnetError('E_WEIGHTS_SHAPE', `StNet parameter ${name} is missing from the weights`);
    if (p.shape.length !== shape.length || p.shape.some((d, i) => d !== shape[i]) || p.data.length !== p.shape.reduce((a, b) => a * b, 1)) {
      throw new StnetError('E_WEIGHTS_SHAPE', `StNet parameter ${name} has shape [${p.shape.join(', ')}], expected [${shape.join(', ')}]`);
    }
    return p;
  }

  /** Per-channel s and t of inference BN, in float64. */
  bnAffine(names: BnNames, c: number): { s: Float64Array; t: Float64Array } {
    const gamma = this.param(names.scale, [c]).data;
    const beta = this.param(names.offset, [c]).data;
    const mean = this.param(names.mean, [c]).data;
    const variance = this.param(names.variance, [c]).data;
    const s = new Float64Array(c);
    const t = new Float64Array(c);
    for (let i = 0; i < c; i++) {
      s[i] = gamma[i]! / Math.sqrt(variance[i]! + BN_EPSILON);
      t[i] = beta[i]! - mean[i]! * s[i]!;
    }
    return { s, t };
  }

  /** A BatchNormalization node with the original parameters (used where folding is not exact). */
  batchNorm(x: string, names: BnNames, c: number, out: string): string {
    const g = this.g;
    const ins = [names.scale, names.offset, names.mean, names.variance].map((n) => g.float(n, [c], this.param(n, [c]).data));
    return g.op('BatchNormalization', [x, ...ins], { epsilon: { f: BN_EPSILON } }, out);
  }

  /** conv (no bias) + BN folded: weights s*W, bias t. */
  convBn(x: string, conv: string, bn: BnNames, shape: readonly [number, number, number, number], stride: number, relu: boolean): string {
    const [cout, cin, kh, kw] = shape;
    const wt = this.param(conv, shape).data;
    const { s, t } = this.bnAffine(bn, cout);
    const per = cin * kh * kw;
    const folded = new Float32Array(wt.length);
    for (let o = 0; o < cout; o++) {
      const so = s[o]!;
      for (let j = o * per, end = j + per; j < end; j++) folded[j] = wt[j]! * so;
    }
    const g = this.g;
    const wName = g.float(`${conv}_folded`, shape, folded);
    const bName = g.float(`${conv}_folded_bias`, [cout], Float32Array.from(t));
    const pad = (kh - 1) >> 1;
    const y = g.op(
      'Conv',
      [x, wName, bName],
      { kernel_shape: { ints: [kh, kw] }, strides: { ints: [stride, stride] }, pads: { ints: [pad, pad, pad, pad] } },
      conv,
    );
    return relu ? g.op('Relu', [y], {}, `${conv}_relu`) : y;
  }

  /** Paddle ResNet bottleneck `res{stage}{letter}` (convs) / `bn{stage}{letter}` (BNs), e.g. res3a / bn3a. */
  bottleneck(x: string, cin: number, width: number, stride: number, stage: number, letter: string): string {
    const res = `res${stage}${letter}`;
    const bn = `bn${stage}${letter}`;
    const cout = width * 4;
    let y = this.convBn(x, `${res}_branch2a_weights`, resnetBn(`${bn}_branch2a`), [width, cin, 1, 1], 1, true);
    y = this.convBn(y, `${res}_branch2b_weights`, resnetBn(`${bn}_branch2b`), [width, width, 3, 3], stride, true);
    y = this.convBn(y, `${res}_branch2c_weights`, resnetBn(`${bn}_branch2c`), [cout, width, 1, 1], 1, false);
    // Paddle's shortcut(): a projection when channels or stride change, else the identity.
    const short = cin !== cout || stride !== 1 ? this.convBn(x, `${res}_branch1_weights`, resnetBn(`${bn}_branch1`), [cout, cin, 1, 1], stride, false) : x;
    const sum = this.g.op('Add', [y, short], {}, `${res}_add`);
    return this.g.op('Relu', [sum], {}, `${res}_out`);
  }

  /**
   * temporal_conv_bn: [B*T, C, H, W] -> [B, C, T, .] -> conv3d k(3,1,1) pad(1,0,0) + bias -> ReLU -> BN
   * -> + (the transposed input) -> back to [B*T, C, H, W]. No activation after the add.
   */
  temporalBlock(x: string, c: number, names: { conv: string; bn: string }, mode: 'conv2d' | 'conv3d'): string {
    const g = this.g;
    const w3 = this.param(`${names.conv}.w_0`, [c, c, 3, 1, 1]).data;
    const b3 = this.param(`${names.conv}.b_0`, [c]).data;
    const bias = g.float(`${names.conv}.b_0`, [c], b3);
    const hw = g.op('Shape', [x], { start: { i: 2 } }, `${names.conv}_hw`); // [H, W]
    let xt: string;
    let conv: string;
    if (mode === 'conv2d') {
      // A (3,1,1) kernel never mixes H and W, so H*W can be one axis: a 2-D conv with a (3,1) kernel.
      const toBTC = g.op('Concat', [this.batchTime, g.int64(`${names.conv}_c_flat`, [c, -1])], { axis: { i: 0 } });
      const r = g.op('Reshape', [x, toBTC], {}, `${names.conv}_in_btc`); // [B, T, C, H*W]
      xt = g.op('Transpose', [r], { perm: { ints: [0, 2, 1, 3] } }, `${names.conv}_in`); // [B, C, T, H*W]
      const w = g.float(`${names.conv}.w_0`, [c, c, 3, 1], w3);
      conv = g.op('Conv', [xt, w, bias], { kernel_shape: { ints: [3, 1] }, pads: { ints: [1, 0, 1, 0] } }, names.conv);
    } else {
      const toBTC = g.op('Concat', [this.batchTime, g.int64(`${names.conv}_c`, [c]), hw], { axis: { i: 0 } });
      const r = g.op('Reshape', [x, toBTC], {}, `${names.conv}_in_btc`); // [B, T, C, H, W]
      xt = g.op('Transpose', [r], { perm: { ints: [0, 2, 1, 3, 4] } }, `${names.conv}_in`); // [B, C, T, H, W]
      const w = g.float(`${names.conv}.w_0`, [c, c, 3, 1, 1], w3);
      conv = g.op('Conv', [xt, w, bias], { kernel_shape: { ints: [3, 1, 1] }, pads: { ints: [1, 0, 0, 1, 0, 0] } }, names.conv);
    }
    const relu = g.op('Relu', [conv], {}, `${names.conv}_relu`);
    const bn = this.batchNorm(relu, autoBn(names.bn), c, names.bn);
    const sum = g.op('Add', [bn, xt], {}, `${names.conv}_add`);
    const back = g.op('Transpose', [sum], { perm: mode === 'conv2d' ? { ints: [0, 2, 1, 3] } : { ints: [0, 2, 1, 3, 4] } }, `${names.conv}_out_btc`);
    const toNCHW = g.op('Concat', [g.int64(`${names.conv}_minus1_c`, [-1, c]), hw], { axis: { i: 0 } });
    return g.op('Reshape', [back, toNCHW], {}, `${names.conv}_out`); // [B*T, C, H, W]
  }

  /** A conv with its own bias (xception), optionally with a BN folded in (s, t). */
  convBias(x: string, name: string, shape: readonly [number, number, number, number], group: number, fold?: { s: Float64Array; t?: Float64Array }): string {
    const [cout, cin, kh, kw] = shape;
    const wt = this.param(`${name}.w_0`, shape).data;
    const bt = this.param(`${name}.b_0`, [cout]).data;
    const g = this.g;
    let wData: Float32Array = wt;
    let bData: Float32Array = bt;
    if (fold !== undefined) {
      const per = cin * kh * kw;
      wData = new Float32Array(wt.length);
      bData = new Float32Array(cout);
      for (let o = 0; o < cout; o++) {
        const so = fold.s[o]!;
        for (let j = o * per, end = j + per; j < end; j++) wData[j] = wt[j]! * so;
        bData[o] = bt[o]! * so + (fold.t?.[o] ?? 0);
      }
    }
    const suffix = fold === undefined ? '' : '_folded';
    const wName = g.float(`${name}.w_0${suffix}`, shape, wData);
    const bName = g.float(`${name}.b_0${suffix}`, [cout], bData);
    const pad = (kh - 1) >> 1;
    return g.op('Conv', [x, wName, bName], { kernel_shape: { ints: [kh, kw] }, pads: { ints: [pad, 0, pad, 0] }, group: { i: group } }, name);
  }

  build(opts: BuildStnetOptions): Uint8Array {
    const g = this.g;
    const mode = opts.temporalConv ?? 'conv2d';
    const input = g.fresh(INPUT_NAME);
    this.batchTime = g.op('Shape', [input], { start: { i: 0 }, end: { i: 2 } }, 'batch_time'); // [B, T]
    const hw = g.op('Shape', [input], { start: { i: 3 } }, 'input_hw'); // [H, W]
    const toNCHW = g.op('Concat', [g.int64('minus1_15', [-1, INPUT_CHANNELS]), hw], { axis: { i: 0 } });
    let x = g.op('Reshape', [input, toNCHW], {}, 'frames'); // [B*T, 15, H, W]

    x = this.convBn(x, 'conv1_weights', resnetBn('bn_conv1'), [64, INPUT_CHANNELS, 7, 7], 2, true);
    x = g.op('MaxPool', [x], { kernel_shape: { ints: [3, 3] }, strides: { ints: [2, 2] }, pads: { ints: [1, 1, 1, 1] } }, 'pool1');
    let cin = 64;
    for (const { stage, blocks, width, stride } of STAGES) {
      for (let b = 0; b < blocks; b++) {
        x = this.bottleneck(x, cin, width, b === 0 ? stride : 1, stage, String.fromCharCode(97 + b));
        cin = width * 4;
      }
      const temporal = TEMPORAL_AFTER.get(stage);
      if (temporal !== undefined) x = this.temporalBlock(x, cin, temporal, mode);
    }

    // Temporal Xception block on the per-segment features, time on the H axis: [B, 2048, T, 1].
    const pooled = g.op('GlobalAveragePool', [x], {}, 'pool5'); // [B*T, 2048, 1, 1]
    const toBTC = g.op('Concat', [this.batchTime, g.int64('c2048', [2048])], { axis: { i: 0 } });
    const btc = g.op('Reshape', [pooled, toBTC], {}, 'pool5_btc'); // [B, T, 2048]
    const bct = g.op('Transpose', [btc], { perm: { ints: [0, 2, 1] } }, 'pool5_bct'); // [B, 2048, T]
    const feat = g.op('Unsqueeze', [bct, g.int64('axis3', [3])], {}, 'xception_in'); // [B, 2048, T, 1]
    const bn = this.batchNorm(feat, autoBn('xception_bn'), 2048, 'xception_bn');
    const att = this.convBias(bn, 'xception_att_conv', [2048, 1, 3, 1], 2048);
    const bndw = this.bnAffine(autoBn('xception_bndw'), 1024);
    const att2 = g.op('Relu', [this.convBias(att, 'xception_att_2', [1024, 2048, 1, 1], 1, bndw)], {}, 'xception_bndw_relu');
    const att1 = this.convBias(att2, 'xception_att1', [1024, 1, 3, 1], 1024);
    const bn2 = this.bnAffine(autoBn('xception_bn2'), 1024);
    const att12 = this.convBias(att1, 'xception_att1_2', [1024, 1024, 1, 1], 1, { s: bn2.s });
    const dw = this.convBias(bn, 'xception_dw', [1024, 2048, 1, 1], 1, bn2);
    const xout = g.op('Relu', [g.op('Add', [dw, att12], {}, 'xception_add')], {}, 'xception_out'); // [B, 1024, T, 1]

    const maxT = g.op('GlobalMaxPool', [xout], {}, 'pool_time'); // [B, 1024, 1, 1]
    const flat = g.op('Flatten', [maxT], { axis: { i: 1 } }, OUTPUT_EMBEDDING); // [B, 1024]
    const fcW = g.float('fc_0.w_0', [1024, NUM_CLASSES], this.param('fc_0.w_0', [1024, NUM_CLASSES]).data); // [in, out]
    const fcB = g.float('fc_0.b_0', [NUM_CLASSES], this.param('fc_0.b_0', [NUM_CLASSES]).data);
    const logits = g.op('Gemm', [flat, fcW, fcB], {}, OUTPUT_LOGITS); // [B, 400]
    const probs = g.op('Softmax', [logits], { axis: { i: 1 } }, OUTPUT_PROBS); // [B, 400]

    return g.encode({
      graphName: 'stnet_resnet50_kinetics400',
      inputs: [{ name: input, dims: INPUT_DIMS }],
      outputs: [
        { name: probs, dims: ['batch', NUM_CLASSES] },
        { name: logits, dims: ['batch', NUM_CLASSES] },
        // A graph output can also feed another node (the fc): onnxruntime returns it without a copy of the graph.
        { name: flat, dims: ['batch', EMBEDDING_SIZE] },
      ],
      producerVersion: opts.producerVersion ?? packageVersion(),
      docString: `StNet ResNet-50 Kinetics-400 (PaddleVideo STNET), opset ${OPSET}. Input ${INPUT_NAME} [B, seg_num, 15, H, W] float32, normalized super-images; outputs ${OUTPUT_PROBS} (softmax) and ${OUTPUT_LOGITS}, [B, 400], and ${OUTPUT_EMBEDDING} [B, 1024] (the fc layer's input).`,
    });
  }
}

/** Builds the StNet ONNX model (serialized ModelProto) from validated weights. BNs are folded where exact (see top of file). */
export function buildStnetOnnx(weights: StnetWeights, opts: BuildStnetOptions = {}): Uint8Array {
  return new StnetGraph(weights).build(opts);
}
