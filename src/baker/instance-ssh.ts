/**
 * Waiting until a freshly launched instance (a bake builder or a test instance) answers SSH: bounded
 * by `ssh-timeout`, ended at once when the provider says the instance stopped or terminated (with its
 * reason), elapsed and remaining time in the progress line, and, when it never answers, the last lines
 * of the instance's console output, which usually say why (boot failure, no network, sshd).
 */
import { CancelledError, errorMessage } from '../common/errors.js';
import type { Logger, ProgressSink } from '../common/log.js';
import type { InstanceInfo, Provider } from '../providers/provider.js';
import { waitForSsh, type SshSession } from '../ssh/index.js';

export interface InstanceSshOptions {
  purpose: 'builder' | 'test instance';
  privateKey: string;
  timeoutMs: number;
  signal: AbortSignal;
  log: Logger;
  /** Stage named in the error (`bake` for a builder, `test` for a test instance). */
  stage: string;
  progress?: ProgressSink;
  /** Label of the progress line the elapsed/remaining time is added to. */
  label?: string;
  /** Called once when the instance first answers on the network (splits a launch into boot and ssh). */
  onNetworkUp?: () => void;
}

const CONSOLE_LINES = 40;

export async function waitForInstanceSsh(
  provider: Provider,
  instance: InstanceInfo,
  options: InstanceSshOptions,
): Promise<SshSession> {
  const { log } = options;
  const label = options.label ?? 'Waiting for SSH';
  try {
    return await waitForSsh(
      {
        host: instance.host,
        port: instance.port,
        user: instance.user,
        privateKey: options.privateKey,
        hostKeyPublic: instance.hostKeyPublic,
        ...(instance.networkProbe ? { networkProbe: instance.networkProbe } : {}),
      },
      {
        timeoutMs: options.timeoutMs,
        signal: options.signal,
        log,
        stage: options.stage,
        ...(options.onNetworkUp ? { onNetworkUp: options.onNetworkUp } : {}),
        ...(provider.whyInstanceEnded ? { whyEnded: () => provider.whyInstanceEnded!(instance.id) } : {}),
        onProgress: (elapsedMs, remainingMs) =>
          options.progress?.({
            label: `${label} (${Math.round(elapsedMs / 1000)} s, ${Math.round(remainingMs / 1000)} s left of ssh-timeout)`,
          }),
      },
    );
  } catch (error) {
    if (!(error instanceof CancelledError)) {
      const output = await provider.consoleOutput(instance.id).catch((consoleError: unknown) => {
        log.debug(`no console output of ${instance.id}: ${errorMessage(consoleError)}`);
        return '';
      });
      if (output.trim()) {
        const tail = output.trimEnd().split('\n').slice(-CONSOLE_LINES).join('\n');
        log.warn(
          `console output of ${options.purpose} ${instance.id} (last ${CONSOLE_LINES} lines):\n${tail}`,
        );
      } else log.warn(`console output of ${options.purpose} ${instance.id}: (empty)`);
    }
    throw error;
  }
}
