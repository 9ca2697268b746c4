// .tar and .tar.gz archives of the directory layouts (`stnet_kinetics.tar.gz`, a packed hub module):
// extracted with the `tar` package into a private temporary folder that is always removed afterwards.
// Only regular files and folders are extracted (no links, devices or absolute / `..` paths), so an
// archive cannot write outside the temporary folder.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tar from 'tar';
import { StnetError } from '../errors.js';

function isTruncation(err: unknown): boolean {
  const e = err as { code?: string; message?: string } | undefined;
  const text = `${e?.code ?? ''} ${e?.message ?? ''}`;
  return /Z_BUF_ERROR|unexpected end|TAR_ABORTED|truncated/i.test(text);
}

/** Extracts `file` into a fresh temporary folder, runs `use(folder)`, and removes the folder. */
export async function withExtractedArchive<T>(file: string, use: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'stnet-weights-'));
  try {
    try {
      await tar.x({
        file,
        cwd: dir,
        strict: true,
        preservePaths: false,
        preserveOwner: false,
        filter: (_path, entry) => {
          const type = (entry as { type?: string }).type;
          return type === 'File' || type === 'OldFile' || type === 'ContiguousFile' || type === 'Directory';
        },
      });
    } catch (err) {
      if (isTruncation(err)) {
        throw new StnetError('E_WEIGHTS_TRUNCATED', `${file}: weights archive truncated (${(err as Error).message}): download it again`, {
          cause: err,
          path: file,
        });
      }
      throw new StnetError('E_WEIGHTS_CORRUPT', `${file}: cannot unpack the weights archive: ${(err as Error).message}`, { cause: err, path: file });
    }
    return await use(dir);
  } finally {
    // tar may still be finishing a file write after it rejected: retry instead of failing on ENOTEMPTY, and
    // never let a cleanup problem hide the real error.
    await rm(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 50 }).catch(() => undefined);
  }
}
