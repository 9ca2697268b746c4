// Progress on stderr: a cli-progress bar when stderr is a TTY, nothing otherwise (logs and pipes stay clean).
// Also the one logger of the CLI: every line it writes goes to stderr, prefixed "stnet: ".
import cliProgress from 'cli-progress';

export interface Ui {
  /** A line on stderr (kept even with --quiet when `important`). */
  log(line: string, important?: boolean): void;
  /** Writes to stdout without tearing a bar that is being drawn on the same terminal. */
  out(text: string): void;
  batch(total: number): BatchProgress;
  download(url: string, totalBytes: number | undefined): DownloadBar;
  /** Stops any bar (before the final messages). */
  stop(): void;
}

export interface BatchProgress {
  tick(done: number, path: string): void;
}

export interface DownloadBar {
  update(receivedBytes: number): void;
}

export interface UiOptions {
  readonly quiet: boolean;
  readonly stdout: NodeJS.WriteStream;
  readonly stderr: NodeJS.WriteStream;
}

export function colorEnabled(stream: NodeJS.WriteStream): boolean {
  const noColor = process.env.NO_COLOR;
  return stream.isTTY === true && (noColor === undefined || noColor === '');
}

export function createUi(opts: UiOptions): Ui {
  const barsOn = opts.stderr.isTTY === true && !opts.quiet;
  let bar: cliProgress.SingleBar | undefined;
  // Both streams on one terminal: a stdout line written under a live bar would be overwritten by the next redraw.
  const shared = barsOn && opts.stdout.isTTY === true;

  const stopBar = (): void => {
    if (bar !== undefined) {
      bar.stop();
      bar = undefined;
    }
  };
  const newBar = (format: string, total: number, payload: Record<string, string>): cliProgress.SingleBar => {
    stopBar();
    const b = new cliProgress.SingleBar(
      { format, stream: opts.stderr, hideCursor: false, barsize: 24, etaBuffer: 5, fps: 5, clearOnComplete: true, autopadding: true },
      cliProgress.Presets.shades_classic,
    );
    b.start(total, 0, payload);
    bar = b;
    return b;
  };

  return {
    log(line, important = false) {
      if (opts.quiet && !important) return;
      if (bar !== undefined) opts.stderr.write('\r\x1b[2K');
      opts.stderr.write(`stnet: ${line}\n`);
    },
    out(text) {
      if (text === '') return;
      if (shared && bar !== undefined) opts.stderr.write('\r\x1b[2K');
      opts.stdout.write(text);
    },
    batch(total) {
      if (!barsOn || total < 1) return { tick: () => undefined };
      const started = performance.now();
      const b = newBar('stnet {bar} {value}/{total} videos | {rate} videos/s | ETA {eta_formatted} | {current}', total, { rate: '0.00', current: '' });
      return {
        tick(done, path) {
          const rate = done / Math.max((performance.now() - started) / 1000, 1e-3);
          b.update(done, { rate: rate.toFixed(2), current: shorten(path, 40) });
        },
      };
    },
    download(url, totalBytes) {
      if (!barsOn) return { update: () => undefined };
      const b = newBar(
        totalBytes === undefined ? 'stnet download {received} MB' : 'stnet download {bar} {percentage}% | {received}/{size} MB | ETA {eta_formatted}',
        totalBytes ?? 1,
        { received: '0.0', size: mb(totalBytes ?? 0), url },
      );
      return {
        update(received) {
          b.update(totalBytes === undefined ? 0 : received, { received: mb(received) });
        },
      };
    },
    stop: stopBar,
  };
}

function mb(bytes: number): string {
  return (bytes / 1048576).toFixed(1);
}

function shorten(s: string, max: number): string {
  return s.length <= max ? s : `...${s.slice(-(max - 3))}`;
}
