// The hand-off between the weights readers and the graph builder.

/** One parameter, converted to float32, in the layout Paddle stored it (C order). */
export interface Float32Param {
  readonly shape: readonly number[];
  readonly data: Float32Array;
}

/** The 301 StNet parameters by Paddle name (e.g. `res4f_branch2c_weights`), validated. */
export type StnetWeights = ReadonlyMap<string, Float32Param>;
