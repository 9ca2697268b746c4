// Timeline output formats on hand-made windows: exact strings.
import { describe, expect, it } from 'vitest';
import { clockTime, labelRuns, timelineFormatter, vttTime } from '../../src/timeline/format.js';
import type { WindowResult } from '../../src/timeline/types.js';

function win(window: number, startSec: number, endSec: number, labels: [string, number][]): WindowResult {
  return {
    path: 'a,b.mp4',
    window,
    startFrame: startSec * 10,
    endFrame: endSec * 10,
    startSec,
    endSec,
    predictions: labels.map(([label, prob], i) => ({ label, index: i, prob })),
  };
}

const WINDOWS = [
  win(0, 0, 10, [['playing_guitar', 0.8], ['strumming', 0.1]]),
  win(1, 5, 15, [['playing_guitar', 0.6], ['singing', 0.3]]),
  win(2, 10, 20, [['singing', 0.5], ['playing_guitar', 0.4]]),
  win(3, 12.5, 22.5, [['playing_guitar', 0.9], ['singing', 0.05]]),
];

describe('timeline formats', () => {
  it('the package entry exports the timeline API', async () => {
    const api = await import('../../src/index.js');
    expect(typeof api.StNet.prototype.timeline).toBe('function');
    expect(typeof api.StNet.prototype.timelineAll).toBe('function');
    expect(api.windowRanges(26, { length: 20, stride: 5 }).map((w) => [w.start, w.end])).toEqual([[0, 20], [5, 25], [6, 26]]);
    expect(api.TIMELINE_FORMATS).toEqual(['text', 'json', 'jsonl', 'csv', 'vtt']);
  });

  it('labelRuns merges consecutive windows with the same top-1', () => {
    expect(labelRuns(WINDOWS)).toEqual([
      { label: 'playing_guitar', startSec: 0, endSec: 15, windows: 2 },
      { label: 'singing', startSec: 10, endSec: 20, windows: 1 },
      { label: 'playing_guitar', startSec: 12.5, endSec: 22.5, windows: 1 },
    ]);
    expect(labelRuns([])).toEqual([]);
  });

  it('times: clock (rounded down) and WebVTT', () => {
    expect([clockTime(0), clockTime(59.99), clockTime(83.4), clockTime(3723), clockTime(0.75, true), clockTime(83.46, true)]).toEqual(['0:00', '0:59', '1:23', '1:02:03', '0:00.7', '1:23.4']);
    expect([vttTime(0), vttTime(0.75), vttTime(83.4), vttTime(3723.0005)]).toEqual(['00:00:00.000', '00:00:00.750', '00:01:23.400', '01:02:03.001']);
  });

  it('text: a table per video and the summary of runs', () => {
    const f = timelineFormatter('text', { color: false, labels: 2 });
    const out = f.begin('a,b.mp4') + WINDOWS.map((w) => f.window(w)).join('') + f.end('a,b.mp4', WINDOWS);
    expect(out).toBe(
      [
        'a,b.mp4',
        '  window  time               top labels',
        '       0  0:00.0-0:10.0      playing_guitar 0.800, strumming 0.100',
        '       1  0:05.0-0:15.0      playing_guitar 0.600, singing 0.300',
        '       2  0:10.0-0:20.0      singing 0.500, playing_guitar 0.400',
        '       3  0:12.5-0:22.5      playing_guitar 0.900, singing 0.050',
        'summary',
        '  0:00-0:15 playing guitar',
        '  0:10-0:20 singing',
        '  0:12-0:22 playing guitar',
        '',
      ].join('\n'),
    );
  });

  it('csv quotes fields; vtt has one cue per window; jsonl one line per window; json one array', () => {
    const csv = timelineFormatter('csv');
    expect(csv.header + csv.window(WINDOWS[3]!)).toBe('path,window,start_frame,end_frame,start_sec,end_sec,rank,label,index,prob\n"a,b.mp4",3,125,225,12.5,22.5,1,playing_guitar,0,0.9\n"a,b.mp4",3,125,225,12.5,22.5,2,singing,1,0.05\n');
    const vtt = timelineFormatter('vtt');
    expect(vtt.header + vtt.begin('x-->y.mp4') + vtt.window(WINDOWS[1]!)).toBe('WEBVTT\n\nNOTE x->y.mp4\n\n2\n00:00:05.000 --> 00:00:15.000\nplaying guitar 60%, singing 30%\n\n');
    const jsonl = timelineFormatter('jsonl');
    expect(JSON.parse(jsonl.window(WINDOWS[0]!))).toEqual(WINDOWS[0]);
    const json = timelineFormatter('json');
    expect(json.window(WINDOWS[0]!)).toBe('');
    expect(JSON.parse(json.footer(WINDOWS))).toEqual(WINDOWS);
  });
});
