// Result formatters for stdout. Streaming formats (text, jsonl, csv) emit one chunk per video as it
// finishes; json emits one array at the end, in input order.
import type { VideoResult } from '../classify.js';
import type { Format } from './options.js';

export interface Formatter {
  /** Printed before the first result (csv header). */
  readonly header: string;
  /** Printed when a video finishes. */
  item(result: VideoResult): string;
  /** Printed after the last result. */
  footer(all: readonly VideoResult[]): string;
}

export interface TextStyle {
  /** ANSI colour; false when stdout is not a TTY or NO_COLOR is set. */
  readonly color: boolean;
}

const CSV_HEADER = 'path,rank,label,index,prob,error_code,error_message\n';

export function formatter(format: Format, style: TextStyle = { color: false }): Formatter {
  switch (format) {
    case 'json':
      return { header: '', item: () => '', footer: (all) => `${JSON.stringify(all, null, 2)}\n` };
    case 'jsonl':
      return { header: '', item: (r) => `${JSON.stringify(r)}\n`, footer: () => '' };
    case 'csv':
      return { header: CSV_HEADER, item: csvRows, footer: () => '' };
    case 'text':
      return { header: '', item: (r) => textBlock(r, style), footer: () => '' };
  }
}

export function csvField(value: string | number): string {
  const s = String(value);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

function csvRows(r: VideoResult): string {
  if (!r.ok) return `${[r.path, '', '', '', '', r.error.code, r.error.message].map(csvField).join(',')}\n`;
  return r.predictions.map((p, i) => `${[r.path, i + 1, p.label, p.index, p.prob, '', ''].map(csvField).join(',')}\n`).join('');
}

function textBlock(r: VideoResult, style: TextStyle): string {
  const bold = (s: string): string => (style.color ? `\x1b[1m${s}\x1b[22m` : s);
  const red = (s: string): string => (style.color ? `\x1b[31m${s}\x1b[39m` : s);
  if (!r.ok) return `${bold(r.path)}\n  ${red(`error ${r.error.code}`)}: ${r.error.message}\n`;
  const width = Math.max(...r.predictions.map((p) => p.label.length));
  const lines = r.predictions.map((p, i) => `  ${String(i + 1).padStart(3)}. ${p.label.padEnd(width)}  ${p.prob.toFixed(4)}`);
  const timing = `decode ${Math.round(r.timing.decodeMs)} ms, infer ${Math.round(r.timing.inferMs)} ms`;
  return `${bold(r.path)}  (${timing})\n${lines.join('\n')}\n`;
}
