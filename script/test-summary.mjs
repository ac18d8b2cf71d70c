// Adds up vitest's JSON reports into the one line CI counts: "N passed, N failed[, N skipped]".
// A file that failed to load has no failed test cases but is a failure all the same.
//
//   node script/test-summary.mjs REPORT.json... [--durations DURATIONS.json]... [--scan OUTPUT.log]...
//
// --durations names what test/support/file-durations-reporter.ts wrote for one lane of the slow pass
// (given once per lane, in lane order; a lane that ran nothing has no file): how long each of its files
// took is printed first, longest first, with the lane's total, so the cost of the slow tests stays in
// view.
// --scan names the suite's whole output: every error message in it that ends in a bare `Error` (a
// failure whose message was lost, see script/bare-errors.mjs) is printed and counted as one failure.
import { readFileSync, existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { bareErrorLines } from './bare-errors.mjs';

const { values, positionals: reports } = parseArgs({
  options: { durations: { type: 'string', multiple: true }, scan: { type: 'string', multiple: true } },
  allowPositionals: true,
});

const seconds = (ms) => `${(ms / 1000).toFixed(1)} s`.padStart(9);
for (const [index, path] of (values.durations ?? []).entries()) {
  if (!existsSync(path)) continue;
  const files = JSON.parse(readFileSync(path, 'utf8'));
  console.log(`Slow pass, lane ${index + 1} (.qemu. and .root. files, one at a time), time per file:`);
  for (const file of [...files].sort((a, b) => b.ms - a.ms)) {
    console.log(`${seconds(file.ms)}  ${file.file}${file.state === 'passed' ? '' : ` (${file.state})`}`);
  }
  console.log(`${seconds(files.reduce((sum, file) => sum + file.ms, 0))}  in all`);
}

let passed = 0;
let failed = 0;
let skipped = 0;
for (const path of reports) {
  if (!existsSync(path)) {
    console.error(`test-summary: ${path} is missing (the test run crashed)`);
    failed += 1;
    continue;
  }
  const report = JSON.parse(readFileSync(path, 'utf8'));
  passed += report.numPassedTests;
  failed += report.numFailedTests;
  skipped += report.numPendingTests + report.numTodoTests;
  for (const file of report.testResults) {
    const failedCases = file.assertionResults.filter((a) => a.status === 'failed').length;
    if (file.status === 'failed' && failedCases === 0) {
      console.error(`test-summary: ${file.name} failed to run: ${file.message}`);
      failed += 1;
    }
  }
}
for (const path of values.scan ?? []) {
  if (!existsSync(path)) {
    console.error(`test-summary: ${path} is missing (the suite's output was not saved)`);
    failed += 1;
    continue;
  }
  for (const hit of bareErrorLines(readFileSync(path, 'utf8'))) {
    console.error(
      `test-summary: an error message ends in a bare Error (output line ${hit.line}): ${hit.text}`,
    );
    failed += 1;
  }
}
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exit(failed > 0 ? 1 : 0);
