// Finding ffmpeg/ffprobe: STNET_FFMPEG / STNET_FFPROBE, then PATH, then the static binaries shipped in the
// @ffmpeg-installer/ffmpeg and @ffprobe-installer/ffprobe dependencies (so `npm install` alone works on a
// machine without ffmpeg). Each candidate is run once (`-version`) before it is trusted; the result is cached
// per environment (the variables and PATH), so tests and long-running servers pay the cost once, and, where a
// caller asks for it (the CLI), on disk per binary file, so a new process that finds the same files runs none.

import { execFile } from 'node:child_process';
import { accessSync, constants, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { delimiter, dirname, isAbsolute, join, resolve } from 'node:path';
import { envTool, stnetHome } from '../env.js';
import { StnetError } from '../errors.js';

export type FfmpegSource = 'env' | 'path' | 'bundled';

export interface FfmpegInfo {
  ffmpeg: string;
  ffprobe: string;
  /** Where ffmpeg came from (ffprobe follows the same order independently). */
  source: FfmpegSource;
  /** ffmpeg's version string, e.g. "5.1.9-0+deb12u1" or "N-47683-g0e8eb07980-static". */
  version: string;
  ffprobeSource: FfmpegSource;
  ffprobeVersion: string;
  /**
   * The arguments that make ffmpeg pass every decoded frame through unchanged (no duplicates, no drops):
   * `-fps_mode passthrough` on ffmpeg >= 5.1, `-vsync passthrough` on older builds such as the bundled 2018 one.
   */
  passthroughArgs: readonly string[];
}

const HOW_TO_GET =
  'Install ffmpeg (Debian/Ubuntu: apt-get install ffmpeg; macOS: brew install ffmpeg), set STNET_FFMPEG and STNET_FFPROBE to the binaries, or reinstall stnet-kinetics400 so its bundled @ffmpeg-installer/@ffprobe-installer binaries are present.';

function run(bin: string, args: string[], timeoutMs = 15_000): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    execFile(bin, args, { timeout: timeoutMs, maxBuffer: 8 * 1024 * 1024, killSignal: 'SIGKILL' }, (err, stdout, stderr) => {
      if (err) reject(Object.assign(err, { stderr }));
      else resolvePromise(`${stdout}${stderr}`);
    });
  });
}

function isExecutableFile(p: string): boolean {
  try {
    if (!statSync(p).isFile()) return false;
    accessSync(p, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function onPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const p = join(dir, name);
    if (isExecutableFile(p)) return p;
  }
  return undefined;
}

function bundled(pkg: '@ffmpeg-installer/ffmpeg' | '@ffprobe-installer/ffprobe'): string | undefined {
  try {
    const req = createRequire(import.meta.url);
    const mod = req(pkg) as { path?: unknown };
    return typeof mod.path === 'string' && isExecutableFile(mod.path) ? mod.path : undefined;
  } catch {
    // The installer packages throw when their platform package is absent (unsupported OS/arch).
    return undefined;
  }
}

/** "ffmpeg version 5.1.9-0+deb12u1 Copyright ..." -> "5.1.9-0+deb12u1" */
async function versionOf(bin: string, tool: 'ffmpeg' | 'ffprobe', origin: string): Promise<string> {
  let out: string;
  try {
    out = await run(bin, ['-hide_banner', '-version']);
  } catch (err) {
    throw new StnetError('E_FFMPEG_MISSING', `${tool} at ${bin} (${origin}) does not run: ${(err as Error).message.split('\n')[0]}. ${HOW_TO_GET}`, { cause: err, path: bin });
  }
  const m = new RegExp(`${tool} version (\\S+)`).exec(out);
  if (!m) throw new StnetError('E_FFMPEG_MISSING', `${bin} (${origin}) ran but did not identify itself as ${tool} ("${out.slice(0, 80)}"). ${HOW_TO_GET}`, { path: bin });
  return m[1]!;
}

interface Candidate {
  bin: string;
  source: FfmpegSource;
  origin: string;
}

function locate(tool: 'ffmpeg' | 'ffprobe', envName: 'STNET_FFMPEG' | 'STNET_FFPROBE', sibling?: Candidate): Candidate {
  const env = envTool(envName);
  if (env !== undefined) {
    const bin = isAbsolute(env) ? env : resolve(env);
    // The user asked for this binary explicitly: a wrong value is an error, not a reason to pick another one.
    if (!existsSync(bin)) throw new StnetError('E_FFMPEG_MISSING', `${envName} points to ${bin}, which does not exist. Fix or unset ${envName}. ${HOW_TO_GET}`, { path: bin });
    if (!isExecutableFile(bin)) throw new StnetError('E_FFMPEG_MISSING', `${envName} points to ${bin}, which is not an executable file. Fix or unset ${envName}. ${HOW_TO_GET}`, { path: bin });
    return { bin, source: 'env', origin: envName };
  }
  // ffprobe without its own variable: prefer the one beside an explicitly chosen ffmpeg (same build).
  if (sibling?.source === 'env') {
    const beside = join(dirname(sibling.bin), tool);
    if (isExecutableFile(beside)) return { bin: beside, source: 'env', origin: `beside STNET_FFMPEG` };
  }
  const fromPath = onPath(tool);
  if (fromPath) return { bin: fromPath, source: 'path', origin: 'PATH' };
  const fromPkg = bundled(tool === 'ffmpeg' ? '@ffmpeg-installer/ffmpeg' : '@ffprobe-installer/ffprobe');
  if (fromPkg) return { bin: fromPkg, source: 'bundled', origin: 'bundled npm package' };
  throw new StnetError('E_FFMPEG_MISSING', `No ${tool} found: ${envName} is not set, there is no ${tool} on PATH, and the bundled binary is missing. ${HOW_TO_GET}`);
}

async function supportsFpsMode(ffmpeg: string): Promise<boolean> {
  try {
    return /^\s*-fps_mode\b/m.test(await run(ffmpeg, ['-hide_banner', '-h', 'long']));
  } catch {
    return false;
  }
}

async function discover(): Promise<FfmpegInfo> {
  const f = locate('ffmpeg', 'STNET_FFMPEG');
  const p = locate('ffprobe', 'STNET_FFPROBE', f);
  const file = recordFile;
  const ids = file === undefined ? undefined : identities(f.bin, p.bin);
  const known =
    file !== undefined && ids !== undefined
      ? readRecords(file).find((r) => samePair(r, f.bin, p.bin) && r.ffmpegId === ids.ffmpegId && r.ffprobeId === ids.ffprobeId)
      : undefined;
  const [version, ffprobeVersion, fpsMode] = known
    ? [known.version, known.ffprobeVersion, known.fpsMode]
    : await Promise.all([versionOf(f.bin, 'ffmpeg', f.origin), versionOf(p.bin, 'ffprobe', p.origin), supportsFpsMode(f.bin)]);
  if (!known && ids !== undefined) learned.set(`${f.bin}\0${p.bin}`, { ffmpeg: f.bin, ffprobe: p.bin, ...ids, version, ffprobeVersion, fpsMode });
  return {
    ffmpeg: f.bin,
    ffprobe: p.bin,
    source: f.source,
    version,
    ffprobeSource: p.source,
    ffprobeVersion,
    passthroughArgs: fpsMode ? ['-fps_mode', 'passthrough'] : ['-vsync', 'passthrough'],
  };
}

// The record on disk. Running the three probes above costs each new process ~120 ms here (Debian's ffmpeg
// spends most of its start-up binding its 215 shared libraries), on the path of its first decode and beside
// onnxruntime's session creation on the same cores: warm `stnet run` of one SD clip, 8 alternated pairs, median
// about 2.07 s with the record against 2.19 s without (issue 10). What they learn depends only on the binary
// file, so it is keyed by the file's identity (device, inode, size, modification and change times): a binary
// replaced or upgraded in place no longer matches and is run again (one whose shared libraries went missing
// while it stayed is found out by its first decode instead, whose error then carries ffmpeg's own message).
// Best effort: a record that cannot be read or written only means the probes run.

interface ToolRecord {
  ffmpeg: string;
  ffprobe: string;
  ffmpegId: string;
  ffprobeId: string;
  version: string;
  ffprobeVersion: string;
  /** Stored as a flag, not as arguments: nothing read from the file is passed to ffmpeg. */
  fpsMode: boolean;
}

const RECORD_FORMAT = 1;
/** Records kept (one per ffmpeg/ffprobe pair seen; the newest first). */
const MAX_RECORDS = 8;
let recordFile: string | undefined;
/** Found by probing in this process and not yet written (saveFfmpegRecord writes them). */
const learned = new Map<string, ToolRecord>();

/** `$STNET_HOME/tools/ffmpeg.json` (or under `home`): where the CLI keeps the record. */
export function ffmpegRecordPath(home?: string): string {
  return join(stnetHome(home), 'tools', 'ffmpeg.json');
}

/**
 * Temp files of record writes that never reached their rename (the writer was killed in between): those named
 * after a process that no longer runs. `stnet cache clean` removes them with the record.
 */
export function leftoverRecordTemps(home?: string): string[] {
  const dir = dirname(ffmpegRecordPath(home));
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names.flatMap((name) => {
    const m = /^ffmpeg\.json\.(\d+)\.tmp$/.exec(name);
    if (!m) return [];
    try {
      process.kill(Number(m[1]), 0);
      return []; // its writer still runs: about to rename it
    } catch (err) {
      return (err as NodeJS.ErrnoException).code === 'ESRCH' ? [join(dir, name)] : [];
    }
  });
}

/**
 * Trusts the record in `file` for binaries it names with the same file identity, and notes what probing finds
 * for saveFfmpegRecord; undefined: neither (the default, so library calls read and write nothing unasked).
 * Clears the in-process cache, so the next findFfmpeg looks again.
 */
export function keepFfmpegRecord(file: string | undefined): void {
  recordFile = file;
  learned.clear();
  cache.clear();
}

/**
 * Writes what this process learned by probing into the record (a separate step, so that a command that fails
 * leaves nothing in the cache). Best effort: a record that cannot be written only means the probes run again.
 */
export function saveFfmpegRecord(): void {
  const file = recordFile;
  if (file === undefined || learned.size === 0) return;
  const fresh = [...learned.values()].reverse();
  learned.clear();
  // The identity taken before the probes ran: a binary replaced since is not recorded under the new file's.
  const valid = fresh.filter((r) => {
    const now = identities(r.ffmpeg, r.ffprobe);
    return now?.ffmpegId === r.ffmpegId && now.ffprobeId === r.ffprobeId;
  });
  if (valid.length === 0) return;
  const tools = [...valid, ...readRecords(file).filter((o) => !valid.some((r) => samePair(o, r.ffmpeg, r.ffprobe)))].slice(0, MAX_RECORDS);
  // Written beside and renamed: concurrent processes each leave a whole file, never a torn one.
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(tmp, `${JSON.stringify({ format: RECORD_FORMAT, tools }, null, 1)}\n`);
    renameSync(tmp, file);
  } catch {
    try {
      unlinkSync(tmp);
    } catch {
      // never written
    }
  }
}

function fileIdentity(bin: string): string | undefined {
  try {
    const st = statSync(bin, { bigint: true });
    return `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
  } catch {
    return undefined;
  }
}

/** Both binaries' identities, or undefined when either cannot be read (then nothing is recalled or recorded). */
function identities(ffmpeg: string, ffprobe: string): { ffmpegId: string; ffprobeId: string } | undefined {
  const ffmpegId = fileIdentity(ffmpeg);
  const ffprobeId = fileIdentity(ffprobe);
  return ffmpegId === undefined || ffprobeId === undefined ? undefined : { ffmpegId, ffprobeId };
}

const samePair = (r: ToolRecord, ffmpeg: string, ffprobe: string): boolean => r.ffmpeg === ffmpeg && r.ffprobe === ffprobe;

const isRecord = (r: unknown): r is ToolRecord => {
  if (r === null || typeof r !== 'object') return false;
  const o = r as Record<string, unknown>;
  const str = (k: string): boolean => typeof o[k] === 'string' && (o[k] as string).length > 0 && (o[k] as string).length <= 4096;
  return ['ffmpeg', 'ffprobe', 'ffmpegId', 'ffprobeId', 'version', 'ffprobeVersion'].every(str) && typeof o.fpsMode === 'boolean';
};

function readRecords(file: string): ToolRecord[] {
  try {
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as { format?: unknown; tools?: unknown };
    return parsed.format === RECORD_FORMAT && Array.isArray(parsed.tools) ? parsed.tools.filter(isRecord) : [];
  } catch {
    return [];
  }
}

const cache = new Map<string, Promise<FfmpegInfo>>();

/**
 * Finds working ffmpeg and ffprobe binaries (see the module comment for the order) and their versions.
 * Throws E_FFMPEG_MISSING, saying how to get ffmpeg, when there is none or a configured one does not run.
 */
export async function findFfmpeg(): Promise<FfmpegInfo> {
  const key = [envTool('STNET_FFMPEG') ?? '', envTool('STNET_FFPROBE') ?? '', process.env.PATH ?? ''].join('\0');
  let hit = cache.get(key);
  if (!hit) {
    hit = discover();
    cache.set(key, hit);
    // A failure is not cached: the user may install ffmpeg and retry in the same process.
    hit.catch(() => cache.delete(key));
  }
  return hit;
}

/** Forgets cached discoveries (tests that change PATH or the variables). */
export function clearFfmpegCache(): void {
  cache.clear();
}
