// docs/timeline.md and the code share their tables: every timeline flag, its default, the formats, the error codes.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { TIMELINE_INT_OPTIONS, TIMELINE_SECONDS_OPTIONS } from '../../src/cli/options.js';
import { TIMELINE_FORMATS } from '../../src/timeline/format.js';
import { DEFAULT_CONNECT_TIMEOUT_MS, DEFAULT_READ_TIMEOUT_MS } from '../../src/timeline/runner.js';
import { WINDOW_DEFAULTS } from '../../src/timeline/windows.js';

const DOC = readFileSync(new URL('../../docs/timeline.md', import.meta.url), 'utf8');

describe('docs/timeline.md', () => {
  it('has a row for every timeline flag, with the defaults the code uses', () => {
    for (const o of [...TIMELINE_SECONDS_OPTIONS, ...TIMELINE_INT_OPTIONS]) expect(DOC, o.flag).toContain(`| \`${o.flag} ${o.arg}\` |`);
    expect(DOC).toContain(`| \`--window <s>\` | ${WINDOW_DEFAULTS.windowSec} |`);
    expect(DOC).toContain(`| \`--stride <s>\` | ${WINDOW_DEFAULTS.strideSec} |`);
    expect(DOC).toContain(`| \`--read_timeout <ms>\` | ${DEFAULT_READ_TIMEOUT_MS} |`);
    expect(DOC).toContain(`| \`--connect_timeout <ms>\` | ${DEFAULT_CONNECT_TIMEOUT_MS} |`);
  });

  it('describes every format and the stream error codes', () => {
    for (const f of TIMELINE_FORMATS) expect(DOC, f).toContain(`| \`${f}\` |`);
    for (const code of ['E_INVALID_OPTION', 'E_STREAM_TIMEOUT', 'E_STREAM_UNREACHABLE', 'E_VIDEO_NO_STREAM', 'E_FONT_MISSING']) expect(DOC).toContain(code);
  });
});
