import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { STNET_PARAMS, STNET_SORTED_NAMES, STNET_TOTAL_VALUES } from '../../src/weights/index.js';
import { SHARED_DIR } from '../helpers/golden.js';

const SPEC = join(SHARED_DIR, 'spec', 'reference.md');

describe('STNET_PARAMS', () => {
  test('301 parameters, 33,223,248 values (spec 5c)', () => {
    expect(STNET_PARAMS).toHaveLength(301);
    expect(STNET_TOTAL_VALUES).toBe(33_223_248);
    expect(new Set(STNET_PARAMS.map((p) => p.name)).size).toBe(301);
  });

  describe.skipIf(!existsSync(SPEC))('against the spec text', () => {
    const text = existsSync(SPEC) ? readFileSync(SPEC, 'utf8') : '';

    test('same names, shapes and order as the table in section 5c', () => {
      const rows = [...text.matchAll(/^\| (\d+) \| `([^`]+)` \| \[([\d,]+)\] \|/gm)].map((m) => ({
        index: Number(m[1]),
        name: m[2]!,
        shape: m[3]!.split(',').map(Number),
      }));
      expect(rows).toHaveLength(301);
      rows.forEach((r, i) => {
      expect(r.index).toBe(i);
    });
      expect(STNET_PARAMS.map((p) => ({ name: p.name, shape: [...p.shape] }))).toEqual(rows.map(({ name, shape }) => ({ name, shape })));
    });

    test('sorted order equals Appendix A', () => {
      const appendix = text.slice(text.indexOf('## Appendix A'));
      const block = appendix.slice(appendix.indexOf('```') + 3, appendix.indexOf('```', appendix.indexOf('```') + 3));
      const names = block.split('\n').map((l) => l.trim()).filter((l) => l !== '');
      expect(names).toHaveLength(301);
      expect(STNET_SORTED_NAMES).toEqual(names);
      expect(STNET_SORTED_NAMES[0]).toBe('batch_norm_24.b_0');
      expect(STNET_SORTED_NAMES[300]).toBe('xception_dw.w_0');
    });
  });
});
