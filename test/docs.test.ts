// Docs and code must not drift: the README's error-code table is checked against ERROR_CODES.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES } from '../src/errors.js';

const README = readFileSync(new URL('../README.md', import.meta.url), 'utf8');

function readmeErrorRows(): Map<string, { meaning: string; action: string }> {
  const rows = new Map<string, { meaning: string; action: string }>();
  for (const line of README.split('\n')) {
    const m = /^\| `(E_[A-Z0-9_]+)` \| (.*) \| (.*) \|$/.exec(line);
    if (m) rows.set(m[1]!, { meaning: m[2]!, action: m[3]! });
  }
  return rows;
}

describe('README error-code table', () => {
  it('lists every code with the meaning and action from src/errors.ts, and no other code', () => {
    const rows = readmeErrorRows();
    expect([...rows.keys()].sort()).toEqual(Object.keys(ERROR_CODES).sort());
    for (const [code, info] of Object.entries(ERROR_CODES)) {
      expect(rows.get(code), code).toEqual({ meaning: info.meaning, action: info.action });
    }
  });
});
