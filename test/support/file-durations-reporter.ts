/**
 * A vitest reporter that writes how long each test file took, import and hooks included, as JSON to the
 * file named by OVENPROOF_TEST_DURATIONS: `[{ "file": "test/…", "ms": 1234, "state": "passed" }]`.
 * script/test uses it for each lane of the slow pass, and script/test-summary.mjs prints the figures.
 */
import { writeFileSync } from 'node:fs';
import type { Reporter, TestModule } from 'vitest/node';

export interface FileDuration {
  file: string;
  ms: number;
  state: string;
}

export default class FileDurationsReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>): void {
    const path = process.env.OVENPROOF_TEST_DURATIONS;
    if (!path) return;
    const files: FileDuration[] = testModules.map((module) => {
      const d = module.diagnostic();
      return {
        file: module.relativeModuleId,
        ms: Math.round(
          d.environmentSetupDuration + d.prepareDuration + d.collectDuration + d.setupDuration + d.duration,
        ),
        state: module.state(),
      };
    });
    writeFileSync(path, `${JSON.stringify(files, null, 2)}\n`);
  }
}
