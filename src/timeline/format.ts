// Timeline output formats: text (a table and a summary of contiguous runs), json, jsonl, csv and WebVTT.
// Streaming formats print each window as it completes; json prints one array at the end.
import type { WindowResult } from './types.js';

export const TIMELINE_FORMATS = ['text', 'json', 'jsonl', 'csv', 'vtt'] as const;
export type TimelineFormat = (typeof TIMELINE_FORMATS)[number];

export interface TimelineFormatter {
  /** Before the first window (csv header, WEBVTT line). */
  readonly header: string;
  /** When a video's stream opens. */
  begin(path: string): string;
  /** When a window completes. */
  window(w: WindowResult): string;
  /** When a video ends (text: the summary of its runs), with its windows. */
  end(path: string, windows: readonly WindowResult[]): string;
  /** After the last video (json: the array of every window of every video). */
  footer(all: readonly WindowResult[]): string;
}

/** A contiguous run of windows with the same top-1 label. */
export interface LabelRun {
  readonly label: string;
  readonly startSec: number;
  readonly endSec: number;
  /** Windows in the run. */
  readonly windows: number;
}

/** Merges consecutive windows whose top-1 label is the same: "0:00-0:20 playing guitar". */
export function labelRuns(windows: readonly WindowResult[]): LabelRun[] {
  const runs: LabelRun[] = [];
  for (const w of windows) {
    const label = w.predictions[0]?.label ?? '';
    const last = runs[runs.length - 1];
    if (last !== undefined && last.label === label) runs[runs.length - 1] = { ...last, endSec: w.endSec, windows: last.windows + 1 };
    else runs.push({ label, startSec: w.startSec, endSec: w.endSec, windows: 1 });
  }
  return runs;
}

/** 83.4 s -> "1:23" (or "1:23.4" with tenths), 3723 s -> "1:02:03". Rounded down. */
export function clockTime(sec: number, tenths = false): string {
  const d = Math.floor(sec * 10 + 1e-6);
  const t = Math.floor(d / 10);
  const h = Math.floor(t / 3600);
  const m = Math.floor((t % 3600) / 60);
  const s = `${String(t % 60).padStart(2, '0')}${tenths ? `.${d % 10}` : ''}`;
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${s}` : `${m}:${s}`;
}

/** WebVTT timestamp: 83.4 -> "00:01:23.400". */
export function vttTime(sec: number): string {
  const ms = Math.round(sec * 1000);
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor((ms % 3_600_000) / 60_000);
  const s = Math.floor((ms % 60_000) / 1000);
  const rest = ms % 1000;
  return `${String(h).padStart(2, '0')}:${String(m).padStart(2, '0')}:${String(s).padStart(2, '0')}.${String(rest).padStart(3, '0')}`;
}

function csvField(value: string | number): string {
  const s = String(value);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

const CSV_HEADER = 'path,window,start_frame,end_frame,start_sec,end_sec,rank,label,index,prob\n';
const human = (label: string): string => label.replace(/_/g, ' ');
const round3 = (x: number): number => Math.round(x * 1000) / 1000;

export interface TimelineTextStyle {
  readonly color: boolean;
  /** Labels shown per window in the text table (default 3). */
  readonly labels?: number;
}

export function timelineFormatter(format: TimelineFormat, style: TimelineTextStyle = { color: false }): TimelineFormatter {
  switch (format) {
    case 'json':
      return { header: '', begin: () => '', window: () => '', end: () => '', footer: (all) => `${JSON.stringify(all, null, 2)}\n` };
    case 'jsonl':
      return { header: '', begin: () => '', window: (w) => `${JSON.stringify(w)}\n`, end: () => '', footer: () => '' };
    case 'csv':
      return {
        header: CSV_HEADER,
        begin: () => '',
        window: (w) =>
          w.predictions
            .map((p, i) => `${[w.path, w.window, w.startFrame, w.endFrame, round3(w.startSec), round3(w.endSec), i + 1, p.label, p.index, p.prob].map(csvField).join(',')}\n`)
            .join(''),
        end: () => '',
        footer: () => '',
      };
    case 'vtt':
      return {
        header: 'WEBVTT\n\n',
        // A NOTE block per video, so several inputs in one file stay apart (players ignore notes).
        begin: (path) => `NOTE ${path.replace(/-->/g, '->')}\n\n`,
        window: (w) => `${w.window + 1}\n${vttTime(w.startSec)} --> ${vttTime(w.endSec)}\n${w.predictions.map((p) => `${human(p.label)} ${(p.prob * 100).toFixed(0)}%`).join(', ')}\n\n`,
        end: () => '',
        footer: () => '',
      };
    case 'text':
      return textFormatter(style);
  }
}

function textFormatter(style: TimelineTextStyle): TimelineFormatter {
  const bold = (s: string): string => (style.color ? `\x1b[1m${s}\x1b[22m` : s);
  const shown = style.labels ?? 3;
  return {
    header: '',
    begin: (path) => `${bold(path)}\n  ${'window'.padEnd(6)}  ${'time'.padEnd(17)}  top labels\n`,
    window: (w) => {
      const time = `${clockTime(w.startSec, true)}-${clockTime(w.endSec, true)}`;
      const labels = w.predictions
        .slice(0, shown)
        .map((p) => `${p.label} ${p.prob.toFixed(3)}`)
        .join(', ');
      return `  ${String(w.window).padStart(6)}  ${time.padEnd(17)}  ${labels}\n`;
    },
    end: (_path, windows) => {
      if (windows.length === 0) return '';
      const lines = labelRuns(windows).map((r) => `  ${clockTime(r.startSec)}-${clockTime(r.endSec)} ${human(r.label)}`);
      return `${bold('summary')}\n${lines.join('\n')}\n`;
    },
    footer: () => '',
  };
}
