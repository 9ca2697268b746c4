// docs/cli.md, the README and the code share their tables: exit codes and every `stnet run` flag.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CLASSIFY_DEFAULTS, CLASSIFY_LIMITS } from '../../src/classify.js';
import { EXIT_CODES, FORMATS, INT_OPTIONS } from '../../src/cli/options.js';

const DOCS = {
  'docs/cli.md': readFileSync(new URL('../../docs/cli.md', import.meta.url), 'utf8'),
  'README.md': readFileSync(new URL('../../README.md', import.meta.url), 'utf8'),
};

describe.each(Object.entries(DOCS))('%s', (_name, DOC) => {
  it('has exactly the exit-code table of the code', () => {
    const block = DOC.split('<!-- exit-codes:start -->')[1]!.split('<!-- exit-codes:end -->')[0]!.trim();
    const rows = block.split('\n').slice(2);
    expect(rows).toEqual(EXIT_CODES.map((e) => `| ${e.code} | ${e.meaning} |`));
  });

  it('documents every integer flag of stnet run with its range', () => {
    for (const o of INT_OPTIONS) {
      const row = DOC.split('\n').find((l) => l.startsWith(`| \`${o.flag} ${o.arg}\``));
      expect(row, o.flag).toBeDefined();
      if (o.key !== 'decodeTimeoutMs') expect(row).toContain(`${o.limits[0]}..${o.limits[1]}`);
    }
    for (const flag of ['--input_path', '--input_file', '--format', '--weights', '--weights_url', '--use_gpu', '--quiet']) {
      expect(DOC).toContain(`| \`${flag}`);
    }
    expect(DOC).toContain(FORMATS.map((f) => `\`${f}\``).join(', ').replace(/, `csv`$/, ' or `csv`'));
  });

  it('states the defaults the code uses', () => {
    expect(DOC).toContain(`| \`--top_k <k>\` | ${CLASSIFY_DEFAULTS.topK} `);
    expect(DOC).toContain(`| \`--seg_num <n>\` | ${CLASSIFY_DEFAULTS.segNum} `);
    expect(DOC).toContain(`| \`--short_size <px>\` | ${CLASSIFY_DEFAULTS.shortSize} |`);
    expect(DOC).toContain(`| \`--target_size <px>\` | ${CLASSIFY_DEFAULTS.targetSize} |`);
    expect(DOC).toContain(`| \`topK\` | ${CLASSIFY_DEFAULTS.topK} | labels per video, integer ${CLASSIFY_LIMITS.topK.join('..')} |`);
  });
});
