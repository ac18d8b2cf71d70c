// Finds error messages that end in a bare `Error`: what a failure prints when its message was empty and
// only the class name was left (`ec2:DetachVolume vol-… failed: Error`, `::warning::…: Error`, a JSON
// `"message": "…: Error"`, or a line that is just `Error`). The word elsewhere is not one: a test name
// ending in "an Error", `TypeError: …`, `Error: the message`, `"name": "Error"`.
//
//   node script/bare-errors.mjs LOG...   prints each such line as FILE:LINE: TEXT, exits 1 if any
//
// Used by script/test-summary.mjs on the whole output of script/test.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { resolve } from 'node:path';

// eslint-disable-next-line no-control-regex
const ANSI = /\u001b\[[0-9;?]*[A-Za-z]/g;
/** `Error` right after a colon (or alone on its line), then at most closing punctuation. */
const BARE_ERROR = /(?:^|:)[ \t]*Error[.)"'`,]*[ \t]*$/;

/** The lines of `text` whose message ends in a bare `Error`, with their 1-based line numbers. */
export function bareErrorLines(text) {
  const found = [];
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.replace(ANSI, '');
    if (BARE_ERROR.test(line)) found.push({ line: index + 1, text: line.trim() });
  });
  return found;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  let count = 0;
  for (const path of process.argv.slice(2)) {
    for (const hit of bareErrorLines(readFileSync(path, 'utf8'))) {
      console.log(`${path}:${hit.line}: ${hit.text}`);
      count += 1;
    }
  }
  process.exit(count > 0 ? 1 : 0);
}
