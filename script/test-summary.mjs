// Adds up vitest's JSON reports into the one line CI counts: "N passed, N failed[, N skipped]".
// A file that failed to load has no failed test cases but is a failure all the same.
import { readFileSync, existsSync } from 'node:fs';

let passed = 0;
let failed = 0;
let skipped = 0;
for (const path of process.argv.slice(2)) {
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
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exit(failed > 0 ? 1 : 0);
