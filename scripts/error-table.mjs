// Prints the README's error-code table from the built ERROR_CODES (run after `npm run build`).
import { ERROR_CODES } from '../dist/errors.js';

console.log('| code | meaning | what to do |');
console.log('| --- | --- | --- |');
for (const [code, info] of Object.entries(ERROR_CODES)) {
  console.log(`| \`${code}\` | ${info.meaning} | ${info.action} |`);
}
