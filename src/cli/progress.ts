// Progress on stderr: a cli-progress bar when stderr is a TTY, nothing otherwise (logs and pipes stay clean).
// Also the one logger of the CLI: every line it writes goes to stderr, prefixed "stnet: ".
import cliProgress from 'cli-progress';

export interface Ui {
  /** A line on stderr (kept even with --quiet when `important`). */
  log(line: string, important?: boolean): void;
  /** Writes to stdout without tearing a bar that is being drawn on the same terminal. */
  out(text: string): void;
  /** The bar of a batch over `paths`, labelled with the video being worked on (or of `count` items, labelled by tick). */
  batch(paths: readonly string[] | number): BatchProgress;
  download(url: string, totalBytes: number | undefined): DownloadBar;
  /** Stops any bar (before the final messages). */
  stop(): void;
}

/** Mean per-video stage times so far, ms (shown at the end of the bar's line: first to go on a narrow terminal). */
export interface StageTimes {
  readonly decodeMs: number;
  readonly inferMs: number;
}

export interface BatchProgress {
  /**
   * `done` videos finished (in input order): the label moves on to the next one, the one now being worked on, or
   * shows `detail` when given (e.g. a queue's done/failed counts).
   */
  tick(done: number, detail?: string, stages?: StageTimes): void;
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

/**
 * A bar that can step aside. cli-progress saves the cursor when a bar starts and restores it when it stops, so
 * any other output on the terminal while a bar is live would be overwritten at stop. Before such output the bar is
 * stopped (and cleared); the next update draws a fresh one below the output.
 */
class LiveBar {
  private bar: cliProgress.SingleBar | undefined;
  private payload: Record<string, string>;

  constructor(
    private readonly stream: NodeJS.WriteStream,
    private readonly format: string,
    private readonly total: number,
    payload: Record<string, string>,
  ) {
    this.payload = { ...payload };
  }

  update(value: number, payload: Record<string, string> = {}): void {
    this.payload = { ...this.payload, ...payload };
    if (this.bar === undefined) {
      this.bar = new cliProgress.SingleBar(
        { format: this.format, stream: this.stream, hideCursor: false, barsize: 20, etaBuffer: 20, fps: 5, clearOnComplete: true, autopadding: true },
        cliProgress.Presets.shades_classic,
      );
      this.bar.start(this.total, value, this.payload);
    } else {
      this.bar.update(value, this.payload);
    }
  }

  /** Stops and clears the bar; `update` brings it back. */
  suspend(): void {
    this.bar?.stop();
    this.bar = undefined;
  }
}

export function createUi(opts: UiOptions): Ui {
  const barsOn = opts.stderr.isTTY === true && !opts.quiet;
  let bar: LiveBar | undefined;
  // Both streams on one terminal: stdout text would land where the bar is drawn.
  const shared = barsOn && opts.stdout.isTTY === true;

  const stopBar = (): void => {
    bar?.suspend();
    bar = undefined;
  };

  return {
    log(line, important = false) {
      if (opts.quiet && !important) return;
      bar?.suspend();
      opts.stderr.write(`stnet: ${line}\n`);
    },
    out(text) {
      if (text === '') return;
      if (shared) bar?.suspend();
      opts.stdout.write(text);
    },
    batch(items) {
      // The videos' names, to label the bar with the one being worked on; or only a count (the caller labels ticks).
      const paths = typeof items === 'number' ? [] : items;
      const total = typeof items === 'number' ? items : items.length;
      if (!barsOn || total < 1) return { tick: () => undefined };
      const started = performance.now();
      // The label comes last and the bar crops at the terminal's width: give it what the rest of the line leaves
      // (the rest is about 65 characters), so that on an 80-column terminal the name still shows.
      const room = Math.min(40, Math.max(12, (opts.stderr.columns || 80) - 66));
      const label = (done: number): string => (done < paths.length ? shorten(paths[done]!, room) : '');
      const b = new LiveBar(opts.stderr, 'stnet {bar} {value}/{total} videos | {rate}/s | ETA {left} | {current}{stages}', total, {
        rate: '0.00',
        left: '?',
        current: label(0),
        stages: '',
      });
      bar = b;
      b.update(0);
      return {
        tick(done, detail, stages) {
          const seconds = Math.max((performance.now() - started) / 1000, 1e-3);
          const rate = done / seconds;
          // Own ETA: the bar may be redrawn from scratch after each result, which resets cli-progress's estimate.
          const eta = rate > 0 ? formatSeconds((total - done) / rate) : '?';
          b.update(done, {
            rate: rate.toFixed(2),
            left: eta,
            current: detail !== undefined ? shorten(detail, room) : label(done),
            stages: stages === undefined ? '' : ` | decode ${(stages.decodeMs / 1000).toFixed(1)}s infer ${(stages.inferMs / 1000).toFixed(1)}s per video`,
          });
        },
      };
    },
    download(url, totalBytes) {
      if (!barsOn) return { update: () => undefined };
      stopBar();
      const b = new LiveBar(
        opts.stderr,
        totalBytes === undefined ? 'stnet download {received} MB' : 'stnet download {bar} {percentage}% | {received}/{size} MB | ETA {eta_formatted}',
        totalBytes ?? 1,
        { received: '0.0', size: mb(totalBytes ?? 0), url },
      );
      bar = b;
      return {
        update(received) {
          b.update(totalBytes === undefined ? 0 : received, { received: mb(received) });
        },
      };
    },
    stop: stopBar,
  };
}

export function formatSeconds(s: number): string {
  if (!Number.isFinite(s)) return '?';
  const t = Math.round(s);
  if (t < 60) return `${t}s`;
  if (t < 3600) return `${Math.floor(t / 60)}m${String(t % 60).padStart(2, '0')}s`;
  return `${Math.floor(t / 3600)}h${String(Math.floor((t % 3600) / 60)).padStart(2, '0')}m`;
}

function mb(bytes: number): string {
  return (bytes / 1048576).toFixed(1);
}

function shorten(s: string, max: number): string {
  return s.length <= max ? s : `...${s.slice(-(max - 3))}`;
}
