// What every command shares: the I/O it writes to, exit codes, the error report, and the action wrapper that
// turns a command body into commander's action (Ctrl-C -> AbortSignal, errors -> `stnet: error E_...`, exit code).
import type { Command } from 'commander';
import { isStnetError } from '../errors.js';
import { EXIT_CODES } from './options.js';
import { createUi, type Ui } from './progress.js';

export interface CliIo {
  readonly stdout: NodeJS.WriteStream;
  readonly stderr: NodeJS.WriteStream;
  readonly cwd: string;
}

export const EXIT_OK = 0;
export const EXIT_SOME_FAILED = 1;
export const EXIT_USAGE = 2;
export const EXIT_INTERRUPTED = 130;

export const EXIT_CODE_HELP = `\nExit codes:\n${EXIT_CODES.map((e) => `  ${String(e.code).padEnd(4)} ${e.meaning}`).join('\n')}\n`;

/** Writes an error as `stnet: error E_CODE: message` and returns its exit code. */
export function reportError(err: unknown, io: CliIo, command = 'stnet'): number {
  if (isStnetError(err)) {
    const hint = err.code === 'E_INVALID_OPTION' ? ` (see ${command} --help)` : '';
    io.stderr.write(`stnet: error ${err.code}: ${err.message}${hint}\n`);
    return err.code === 'E_CANCELLED' ? EXIT_INTERRUPTED : EXIT_USAGE;
  }
  const e = err instanceof Error ? err : new Error(String(err));
  io.stderr.write(`stnet: internal error: ${e.stack ?? e.message}\nstnet: please report this with the command you ran\n`);
  return EXIT_USAGE;
}

/** What a command registration gets: the I/O, and the action wrapper bound to the program's exit code. */
export interface CommandContext {
  readonly io: CliIo;
  /**
   * commander's action for a command body. `cancellable`: the command honours the AbortSignal, so the first Ctrl-C
   * aborts it (temp files removed); for the others (serve has its own handling) Ctrl-C keeps its default.
   */
  action(fn: (raw: Record<string, unknown>, ui: Ui, signal: AbortSignal) => Promise<number>, cancellable?: boolean): (raw: Record<string, unknown>, cmd: Command) => Promise<void>;
}

export function commandContext(io: CliIo, setExit: (code: number) => void): CommandContext {
  return {
    io,
    action:
      (fn, cancellable = true) =>
      async (raw, cmd) => {
        const names: string[] = [];
        for (let c: Command | null = cmd; c !== null; c = c.parent) names.unshift(c.name());
        const ui = createUi({ quiet: raw.quiet === true, stdout: io.stdout, stderr: io.stderr });
        const controller = new AbortController();
        const onSigint = (): void => controller.abort(new Error('interrupted (SIGINT)'));
        if (cancellable) process.once('SIGINT', onSigint);
        try {
          setExit(await fn(raw, ui, controller.signal));
        } catch (err) {
          ui.stop();
          setExit(reportError(err, io, names.join(' ')));
        } finally {
          ui.stop();
          process.removeListener('SIGINT', onSigint);
        }
      },
  };
}

/** A weights download shown on stderr: an info line and a progress bar. */
export function downloadHooks(ui: Ui, what = 'no weights given and none cached: downloading') {
  let bar: ReturnType<Ui['download']> | undefined;
  return {
    onDownloadStart: (url: string, total: number | undefined): void => {
      ui.log(`${what} ${url}${total !== undefined ? ` (${(total / 1048576).toFixed(1)} MB)` : ''}`);
      bar = ui.download(url, total);
    },
    onDownloadProgress: (p: { receivedBytes: number }): void => bar?.update(p.receivedBytes),
    downloaded: (): boolean => bar !== undefined,
  };
}
