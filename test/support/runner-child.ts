/**
 * A real process running the step runner, for the signal tests: three steps that each create a file
 * (recorded in the ledger first, as the pipeline does), the last of which waits until it is stopped.
 * Argv: <work dir>. Cleanups append their step name to <work dir>/cleanup-order and delete the file.
 */
import { appendFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ledger } from '../../src/pipeline/ledger.js';
import { runSteps, type Step } from '../../src/common/steps.js';
import { abortOnSignals } from '../../src/pipeline/signals.js';
import { silentLogger } from '../../src/common/log.js';
import { saveLedgerPath } from '../../src/action/state.js';

const dir = process.argv[2]!;
// Provider settings as the pipeline stores them, so the post step can rebuild the local provider.
const ledger = await Ledger.create(join(dir, 'ledger.json'), 'run-test', {
  name: 'local',
  local: { home: join(dir, 'home') },
});
// As the Action's main step does: the post step finds the ledger through the saved state.
if (process.env.GITHUB_STATE) saveLedgerPath(ledger.path);
const orderFile = join(dir, 'cleanup-order');

function fileStep(name: string, waitForever = false): Step<null> {
  const path = join(dir, `${name}.resource`);
  return {
    name,
    async run(_state, signal) {
      await ledger.intend({ key: path, provider: 'local', kind: 'file', data: { path } });
      writeFileSync(path, name);
      await ledger.created(path, path);
      if (waitForever) {
        process.stdout.write('ready\n');
        // Stands for a long operation (a test suite); the timer keeps the event loop alive meanwhile.
        await new Promise((resolve, reject) => {
          const timer = setTimeout(resolve, 3_600_000);
          signal.addEventListener('abort', () => {
            clearTimeout(timer);
            reject(signal.reason);
          });
        });
      }
    },
    async cleanup() {
      rmSync(path, { force: true });
      await ledger.deleted(path);
      appendFileSync(orderFile, `${name}\n`);
    },
  };
}

const signals = abortOnSignals(silentLogger);
const outcome = await runSteps([fileStep('first'), fileStep('second'), fileStep('third', true)], null, {
  signal: signals.signal,
});
signals.dispose();
process.stdout.write(`interrupted=${outcome.interrupted}\n`);
process.exit(outcome.failure ? 2 : 0);
