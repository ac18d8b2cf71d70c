import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { CancelledError, PipelineError } from '../../common/errors.js';
import type { Step } from '../../common/steps.js';
import { waitForInstanceSsh } from '../../baker/instance-ssh.js';
import { runAndCollect, type SshTarget } from '../../ssh/index.js';
import type { RunState } from './state.js';

/** Limit for one fetched result file; a larger one is reported and the rest still counts. */
const MAX_RESULT_FILE_BYTES = 256 * 1024 * 1024;

/** Waits for SSH on the instance, runs the test command and fetches the result files. */
export const testStage: Step<RunState> = {
  name: 'test',
  run: runTests,
};

async function runTests(s: RunState, signal: AbortSignal): Promise<void> {
  const { deps } = s;
  const { config, events, log } = deps;
  if (!s.instance || !s.clientKey) throw new PipelineError('test', 'no instance to test on');
  if (!config.test) throw new PipelineError('test', 'test: no test command configured');
  const target: SshTarget = {
    host: s.instance.host,
    port: s.instance.port,
    user: s.instance.user,
    privateKey: s.clientKey.privateKey,
    hostKeyPublic: s.instance.hostKeyPublic,
    ...(s.instance.networkProbe ? { networkProbe: s.instance.networkProbe } : {}),
  };
  const session = await waitForInstanceSsh(deps.provider, s.instance, {
    purpose: 'test instance',
    privateKey: s.clientKey.privateKey,
    timeoutMs: config.sshTimeoutMs,
    signal,
    log,
    stage: 'test',
    progress: s.ctx.progress,
  });
  const localDir = join(deps.workDir, 'results');
  await rm(localDir, { recursive: true, force: true });
  await mkdir(localDir, { recursive: true });
  log.info(`test: ${config.test}`);
  try {
    const collected = await runAndCollect(target, config.test, config.results, {
      session,
      localDir,
      maxBytes: MAX_RESULT_FILE_BYTES,
      log,
      exec: {
        onStdout: (text) => events.emit({ type: 'output', stage: 'test', stream: 'stdout', text }),
        onStderr: (text) => events.emit({ type: 'output', stage: 'test', stream: 'stderr', text }),
        timeoutMs: config.testTimeoutMs,
        signal,
      },
    });
    if (signal.aborted) throw signal.reason ?? new CancelledError('cancelled');
    if (collected.exec.timedOut) {
      throw new CancelledError(
        `the test command did not finish within test-timeout (${Math.round(config.testTimeoutMs / 1000)} s) and was killed`,
        'timed_out',
      );
    }
    s.resultFiles = collected.files.filter((f) => !f.truncated).map((f) => f.localPath);
    for (const f of collected.files.filter((f) => f.truncated)) {
      log.warn(`result file ${f.remotePath} is larger than ${MAX_RESULT_FILE_BYTES} bytes and was not read`);
    }
    const code = collected.exec.exitCode;
    if (code !== 0) {
      s.testsFailed = true;
      log.warn(
        `the test command exited with ${code === null ? `signal ${collected.exec.signal}` : `code ${code}`}`,
      );
    }
    if (config.results.length > 0 && collected.files.length === 0) {
      log.warn(`no result files matched ${config.results.join(', ')} on the instance`);
    }
  } finally {
    await session.close().catch(() => undefined);
  }
}
