// Where the weights come from when the caller did not pass a path.
// Minimal version: the explicit option, then STNET_WEIGHTS. (Cache and download of the official
// weights land with the CLI work, issue 4.)
import { StnetError } from '../errors.js';

export interface ResolveWeightsOptions {
  /** Explicit path (file, directory or archive). */
  weights?: string;
}

export async function resolveWeightsPath(opts: ResolveWeightsOptions = {}): Promise<string> {
  const path = opts.weights ?? process.env.STNET_WEIGHTS;
  if (path !== undefined && path !== '') return path;
  throw new StnetError(
    'E_WEIGHTS_NOT_FOUND',
    'No weights given: pass { weights: "/path/to/STNET.pdparams" } (CLI: --weights) or set STNET_WEIGHTS',
  );
}
