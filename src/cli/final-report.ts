/**
 * The closing table of `ovenproof run` on stderr: outcome, failing tests as file:line, image and
 * stage timings. Every line starts with two spaces or a fixed word and test-provided text is flattened
 * to one line, so nothing printed here can be read as a GitHub workflow command.
 */
import { costLine } from '../common/cost.js';
import { formatDuration } from '../common/duration.js';
import type { RunResult } from '../common/run-result.js';
import { oneLine } from '../results/index.js';

export function formatFinalReport(result: RunResult): string {
  const lines: string[] = [];
  const t = result.tests;
  const verdict =
    result.status === 'passed'
      ? 'PASSED'
      : result.status === 'failed'
        ? 'FAILED'
        : `ERROR in ${result.error?.stage}`;
  lines.push(
    `ovenproof: ${verdict}: ${t.total} tests, ${t.passed} passed, ${t.failed} failed, ${t.skipped} skipped`,
  );
  if (result.error) lines.push(`  error: ${oneLine(result.error.message)}`);
  if (t.failures.length > 0) {
    lines.push('  failing tests:');
    for (const f of t.failures) {
      const where = f.file ? `${f.file}${f.line ? `:${f.line}` : ''}` : '(no location)';
      lines.push(`    ${where}  ${oneLine(f.suite ? `${f.suite} › ${f.name}` : f.name)}`);
      if (f.message) lines.push(`      ${oneLine(f.message).slice(0, 300)}`);
    }
  }
  if (result.image) {
    lines.push(
      `  image: ${result.image.id}${result.image.cacheHit ? ` (bake cache hit${result.image.reusedFromRun ? `, reused from run ${result.image.reusedFromRun}` : ''})` : ''}${result.image.promoted ? ', promoted' : result.image.expiresAt ? `, cached until ${result.image.expiresAt}` : ', not kept'}`,
    );
  }
  if (result.instance) lines.push(`  instance: ${result.instance.id} (${result.instance.address})`);
  if (result.failureImage) {
    lines.push(
      `  failure image: ${result.failureImage.id} (until ${result.failureImage.expiresAt}); boot it again with: ovenproof reproduce --result-json RESULT.json`,
    );
  }
  if (result.cost) lines.push(`  cost: ${oneLine(costLine(result.cost))}`);
  lines.push('  stages:');
  for (const s of result.stages) {
    lines.push(
      `    ${s.name.padEnd(9)} ${s.status.padEnd(8)} ${s.status === 'skipped' ? '' : formatDuration(s.durationMs)}`.trimEnd(),
    );
    for (const step of s.steps ?? []) {
      lines.push(`      ${oneLine(step.name).slice(0, 60).padEnd(24)} ${formatDuration(step.durationMs)}`);
    }
  }
  return `${lines.join('\n')}\n`;
}
