// Rewrites the README's error-code table (between the errors:start/end markers) from the built ERROR_CODES.
// Run `npm run build && node scripts/error-table.mjs`; test/docs.test.ts fails when the two drift apart.
import { readFileSync, writeFileSync } from 'node:fs';
import { ERROR_CODES } from '../dist/errors.js';

const lines = ['| code | meaning | what to do |', '| --- | --- | --- |'];
for (const [code, info] of Object.entries(ERROR_CODES)) lines.push(`| \`${code}\` | ${info.meaning} | ${info.action} |`);

const readmeUrl = new URL('../README.md', import.meta.url);
const readme = readFileSync(readmeUrl, 'utf8');
const re = /(<!-- errors:start -->\n)[\s\S]*?(<!-- errors:end -->)/;
if (!re.test(readme)) throw new Error('README.md has no <!-- errors:start --> ... <!-- errors:end --> markers');
writeFileSync(readmeUrl, readme.replace(re, `$1${lines.join('\n')}\n$2`));
console.log(`README.md: ${lines.length - 2} error codes`);
