// The one module that reads stnet's environment variables (as transformers.js keeps all its settings in one
// `env` module). Every `STNET_*` variable is listed here, read when it is needed (not at import, so that a
// caller may set one before a call), and checked here; the CLI's --help lists the same table (ENV_VARS).
// NO_COLOR and PATH are read where they are used (src/cli/progress.ts, src/video/ffmpeg.ts): they are not stnet's.
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { StnetError } from './errors.js';

/** Every STNET_* variable with what it does: the source of the CLI's "Environment:" help. */
export const ENV_VARS = [
  { name: 'STNET_WEIGHTS', meaning: 'weights to use when --weights is not given' },
  { name: 'STNET_HOME', meaning: 'cache root (default ~/.cache/stnet): $STNET_HOME/weights, $STNET_HOME/graphs, $STNET_HOME/tools' },
  { name: 'STNET_WEIGHTS_URL', meaning: 'download from this URL instead of the official ones' },
  { name: 'STNET_DOWNLOAD_TIMEOUT_MS', meaning: 'connect/stall timeout of a download (default 15000)' },
  { name: 'STNET_GRAPH_CACHE', meaning: '0 or false: never keep built graphs; 1 or true: keep them also for library calls with explicit weights' },
  { name: 'STNET_TOKEN', meaning: 'bearer token "stnet serve" requires (instead of --token)' },
  { name: 'STNET_FFMPEG, STNET_FFPROBE', meaning: 'ffmpeg/ffprobe binaries to use' },
  { name: 'STNET_FONT', meaning: 'TrueType font for the labels an annotated video shows' },
] as const;

function read(name: string): string | undefined {
  const v = process.env[name];
  return v === undefined || v === '' ? undefined : v;
}

/** `$STNET_HOME`, default `~/.cache/stnet`; an explicit `home` (the cacheDir option) wins. */
export function stnetHome(home?: string): string {
  if (home !== undefined && home !== '') return resolve(home);
  const fromEnv = read('STNET_HOME');
  return fromEnv !== undefined ? resolve(fromEnv) : join(homedir(), '.cache', 'stnet');
}

/** STNET_WEIGHTS, or undefined when unset or empty. */
export function envWeights(): string | undefined {
  return read('STNET_WEIGHTS');
}

/** STNET_WEIGHTS_URL, or undefined when unset or empty. */
export function envWeightsUrl(): string | undefined {
  return read('STNET_WEIGHTS_URL');
}

/** STNET_DOWNLOAD_TIMEOUT_MS as a positive integer, undefined when unset. Throws E_INVALID_OPTION otherwise. */
export function envDownloadTimeoutMs(): number | undefined {
  const v = read('STNET_DOWNLOAD_TIMEOUT_MS');
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!/^\d+$/.test(v.trim()) || n < 1) {
    throw new StnetError('E_INVALID_OPTION', `Expected positive integer (milliseconds) for STNET_DOWNLOAD_TIMEOUT_MS but received ${JSON.stringify(v)}`);
  }
  return n;
}

/** STNET_GRAPH_CACHE: false for 0/false, true for 1/true, undefined otherwise (the caller's default applies). */
export function envGraphCache(): boolean | undefined {
  const v = read('STNET_GRAPH_CACHE');
  if (v === '0' || v === 'false') return false;
  if (v === '1' || v === 'true') return true;
  return undefined;
}

/** STNET_TOKEN, or undefined when unset or empty. */
export function envToken(): string | undefined {
  return read('STNET_TOKEN');
}

/** STNET_FFMPEG / STNET_FFPROBE, or undefined when unset or empty. */
export function envTool(name: 'STNET_FFMPEG' | 'STNET_FFPROBE'): string | undefined {
  return read(name);
}

/** STNET_FONT (the annotated video's label font), or undefined when unset or empty. */
export function envFont(): string | undefined {
  return read('STNET_FONT');
}

/**
 * onnxruntime-node's Linux build records usage telemetry (a device id and an upload queue under
 * ~/.cache/Microsoft, files in $TMPDIR) unless ORT_DISABLE_TELEMETRY is set when its native library loads.
 * People classify private videos with this tool, so it is off unless the user set the variable (to any value)
 * themselves. It must be in the real process environment: the native code reads it with getenv(), which sees
 * the main thread's `process.env` writes but not a worker thread's private copy. Called by src/graph/session.ts
 * before it starts the onnxruntime worker (the only place the native module loads). Idempotent.
 */
export function disableOrtTelemetry(): void {
  if (process.env.ORT_DISABLE_TELEMETRY === undefined) process.env.ORT_DISABLE_TELEMETRY = '1';
}
