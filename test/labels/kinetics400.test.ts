import { readFileSync, existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { KINETICS400_LABELS } from '../../src/labels/kinetics400.js';

const SPEC = new URL('../../../shared/spec/kinetics400_labels.txt', import.meta.url);

describe('KINETICS400_LABELS', () => {
  it('has the reference ids for known classes', () => {
    expect(KINETICS400_LABELS).toHaveLength(400);
    expect(KINETICS400_LABELS[0]).toBe('abseiling');
    expect(KINETICS400_LABELS[5]).toBe('archery');
    expect(KINETICS400_LABELS[6]).toBe('arm_wrestling');
    // reference.md section 4 quotes these as 197 / 209 / 210: those are line numbers; ids are line - 1.
    expect(KINETICS400_LABELS[196]).toBe("massaging_person's_head");
    expect(KINETICS400_LABELS[208]).toBe('passing_American_football_(in_game)');
    expect(KINETICS400_LABELS[209]).toBe('passing_American_football_(not_in_game)');
    expect(KINETICS400_LABELS[399]).toBe('zumba');
    expect(new Set(KINETICS400_LABELS).size).toBe(400);
  });

  it.skipIf(!existsSync(SPEC))('equals the spec label file line by line', () => {
    const lines = readFileSync(SPEC, 'utf8').split('\n').filter((l) => l.length > 0);
    expect([...KINETICS400_LABELS]).toEqual(lines);
  });
});
