// The 301 StNet-R50 parameters (seglen 5, 400 classes), derived by replaying the construction order of
// PaddleVideo's StNet_ResNet (docs/reference.md §5a; the table it gives is §5c of the project's reference notes) instead of pasting the table: the derivation makes the
// naming rules visible (explicit ResNet names, the `batch_norm_N` counter that every unnamed BN consumes,
// `conv3d_N`, `xception_*`, `fc_0`). test/weights/stnet-params.test.ts checks it against the spec's table.

export type ParamKind =
  | 'conv2d_weight'
  | 'conv3d_weight'
  | 'conv_bias'
  | 'bn_scale'
  | 'bn_offset'
  | 'bn_mean'
  | 'bn_variance'
  | 'fc_weight'
  | 'fc_bias';

export interface StnetParamSpec {
  /** Paddle variable name, e.g. `res4f_branch2c_weights`. */
  readonly name: string;
  /** Shape as Paddle stores it: conv2d [out, in/groups, kh, kw], conv3d [out, in, kd, kh, kw], fc [in, out]. */
  readonly shape: readonly number[];
  readonly kind: ParamKind;
}

function build(): StnetParamSpec[] {
  const out: StnetParamSpec[] = [];
  const add = (name: string, shape: number[], kind: ParamKind): void => {
    out.push(Object.freeze({ name, shape: Object.freeze(shape), kind }));
  };
  // Paddle's LayerHelper numbers every batch_norm call made without `name=`, even when its ParamAttrs are named.
  let bnCounter = 0;
  const namedBn = (prefix: string, c: number): void => {
    bnCounter++;
    add(`${prefix}_scale`, [c], 'bn_scale');
    add(`${prefix}_offset`, [c], 'bn_offset');
    add(`${prefix}_mean`, [c], 'bn_mean');
    add(`${prefix}_variance`, [c], 'bn_variance');
  };
  // BN created with default names: scale .w_0, bias .b_0, moving mean .w_1, moving variance .w_2.
  const defaultBn = (prefix: string, c: number): void => {
    add(`${prefix}.w_0`, [c], 'bn_scale');
    add(`${prefix}.b_0`, [c], 'bn_offset');
    add(`${prefix}.w_1`, [c], 'bn_mean');
    add(`${prefix}.w_2`, [c], 'bn_variance');
  };

  add('conv1_weights', [64, 15, 7, 7], 'conv2d_weight');
  namedBn('bn_conv1', 64);

  const depths = [3, 4, 6, 3];
  const widths = [64, 128, 256, 512];
  let cin = 64;
  let conv3dCounter = 0;
  for (let s = 0; s < 4; s++) {
    const w = widths[s]!;
    for (let b = 0; b < depths[s]!; b++) {
      const block = `${s + 2}${String.fromCharCode(97 + b)}`;
      add(`res${block}_branch2a_weights`, [w, cin, 1, 1], 'conv2d_weight');
      namedBn(`bn${block}_branch2a`, w);
      add(`res${block}_branch2b_weights`, [w, w, 3, 3], 'conv2d_weight');
      namedBn(`bn${block}_branch2b`, w);
      add(`res${block}_branch2c_weights`, [4 * w, w, 1, 1], 'conv2d_weight');
      namedBn(`bn${block}_branch2c`, 4 * w);
      // The projection shortcut is built after branch2c, so its BN takes the next counter value.
      if (b === 0) {
        add(`res${block}_branch1_weights`, [4 * w, cin, 1, 1], 'conv2d_weight');
        namedBn(`bn${block}_branch1`, 4 * w);
      }
      cin = 4 * w;
    }
    // Temporal blocks after stage 3 (512 ch) and stage 4 (1024 ch).
    if (s === 1 || s === 2) {
      const conv = `conv3d_${conv3dCounter++}`;
      add(`${conv}.w_0`, [cin, cin, 3, 1, 1], 'conv3d_weight');
      add(`${conv}.b_0`, [cin], 'conv_bias');
      defaultBn(`batch_norm_${bnCounter++}`, cin);
    }
  }

  // Temporal Xception block: its BNs pass `name=`, so they do not consume the counter.
  defaultBn('xception_bn', 2048);
  add('xception_att_conv.w_0', [2048, 1, 3, 1], 'conv2d_weight');
  add('xception_att_conv.b_0', [2048], 'conv_bias');
  add('xception_att_2.w_0', [1024, 2048, 1, 1], 'conv2d_weight');
  add('xception_att_2.b_0', [1024], 'conv_bias');
  defaultBn('xception_bndw', 1024);
  add('xception_att1.w_0', [1024, 1, 3, 1], 'conv2d_weight');
  add('xception_att1.b_0', [1024], 'conv_bias');
  add('xception_att1_2.w_0', [1024, 1024, 1, 1], 'conv2d_weight');
  add('xception_att1_2.b_0', [1024], 'conv_bias');
  add('xception_dw.w_0', [1024, 2048, 1, 1], 'conv2d_weight');
  add('xception_dw.b_0', [1024], 'conv_bias');
  defaultBn('xception_bn2', 1024);
  add('fc_0.w_0', [1024, 400], 'fc_weight');
  add('fc_0.b_0', [400], 'fc_bias');
  return out;
}

/** The 301 parameters in creation order (= Paddle's `program.list_vars()` order). */
export const STNET_PARAMS: readonly StnetParamSpec[] = Object.freeze(build());

/** Name -> spec. */
export const STNET_PARAM_BY_NAME: ReadonlyMap<string, StnetParamSpec> = new Map(STNET_PARAMS.map((p) => [p.name, p]));

/**
 * The names in the order `save_params(filename=...)` / `save_combine` writes them: Python `sorted()`, i.e.
 * code-point order. All names are ASCII, where JS's default sort compares the same way.
 */
export const STNET_SORTED_NAMES: readonly string[] = Object.freeze(STNET_PARAMS.map((p) => p.name).sort());

/** 33,223,248 for StNet-R50. */
export const STNET_TOTAL_VALUES: number = STNET_PARAMS.reduce((n, p) => n + p.shape.reduce((a, b) => a * b, 1), 0);
