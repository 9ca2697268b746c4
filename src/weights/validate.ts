// Checks a set of named tensors against the 301-parameter StNet table: every mismatch in ONE error
// (E_WEIGHTS_SHAPE), so a user sees the whole picture at once; then NaN/Inf (E_WEIGHTS_NAN).
import { StnetError } from '../errors.js';
import type { Float32Param, StnetWeights } from './types.js';
import { STNET_PARAMS, STNET_PARAM_BY_NAME } from './stnet-params.js';
import { formatShape, where } from './tensor.js';

export interface NamedShape {
  readonly name: string;
  readonly shape: readonly number[];
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** Throws E_WEIGHTS_SHAPE listing every missing, unexpected and mis-shaped parameter. */
export function validateShapes(found: Iterable<NamedShape>, path?: string): void {
  const seen = new Set<string>();
  const extra: string[] = [];
  const wrong: string[] = [];
  for (const { name, shape } of found) {
    seen.add(name);
    const spec = STNET_PARAM_BY_NAME.get(name);
    if (spec === undefined) extra.push(name);
    else if (!sameShape(spec.shape, shape)) wrong.push(`${name} (expected ${formatShape(spec.shape)}, got ${formatShape(shape)})`);
  }
  const missing = STNET_PARAMS.filter((p) => !seen.has(p.name)).map((p) => p.name);
  // Folder readers report files as their reads finish: list problems in table order so the message is stable.
  const rank = (entry: string): number => STNET_PARAMS.findIndex((p) => entry.startsWith(`${p.name} (`));
  wrong.sort((a, b) => rank(a) - rank(b));
  extra.sort();
  if (missing.length + extra.length + wrong.length === 0) return;
  const parts: string[] = [];
  if (wrong.length > 0) parts.push(`${wrong.length} with the wrong shape: ${wrong.join(', ')}`);
  if (missing.length > 0) parts.push(`${missing.length} missing: ${missing.join(', ')}`);
  if (extra.length > 0) parts.push(`${extra.length} unexpected: ${extra.join(', ')}`);
  throw new StnetError(
    'E_WEIGHTS_SHAPE',
    `${where(path)}weights do not match StNet-R50 (seglen 5, 400 classes; 301 parameters): ${parts.join('; ')}. ` +
      'Use weights trained for StNet ResNet-50 Kinetics-400.',
    { path },
  );
}

/** Index of the first NaN/Inf, or -1. */
function firstNonFinite(data: Float32Array): number {
  for (let i = 0; i < data.length; i++) {
    const v = data[i]!;
    // v - v is 0 for finite v and NaN for NaN or +-Inf: one subtraction and compare per value.
    if (v - v !== 0) return i;
  }
  return -1;
}

/** Throws E_WEIGHTS_NAN naming every parameter that holds NaN or Inf. */
export function checkFinite(params: ReadonlyMap<string, Float32Param>, path?: string): void {
  const bad: string[] = [];
  for (const [name, p] of params) {
    const i = firstNonFinite(p.data);
    if (i >= 0) bad.push(`${name} (${p.data[i]} at index ${i} of ${p.data.length})`);
  }
  if (bad.length > 0) {
    throw new StnetError(
      'E_WEIGHTS_NAN',
      `${where(path)}weights contain NaN or Inf in ${bad.length} parameter(s): ${bad.join(', ')}. The weights are damaged: use another weights file.`,
      { path },
    );
  }
}

/** Full validation; returns the parameters in the table's creation order. */
export function validateStnetWeights(params: ReadonlyMap<string, Float32Param>, path?: string): StnetWeights {
  validateShapes([...params].map(([name, p]) => ({ name, shape: p.shape })), path);
  checkFinite(params, path);
  const ordered = new Map<string, Float32Param>();
  for (const spec of STNET_PARAMS) ordered.set(spec.name, params.get(spec.name)!);
  return ordered;
}
