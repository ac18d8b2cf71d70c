import { PipelineError } from '../../common/errors.js';
import type { Step } from '../../common/steps.js';
import { waitForInstanceSsh } from '../../baker/instance-ssh.js';
import { generateEd25519KeyPair } from '../../ssh/index.js';
import { captureFailureSnapshot, GUEST_SYNC_TIMEOUT_MS } from '../failure-snapshot.js';
import { opensshCommand, writeDebugSsh } from '../reproduce.js';
import type { RunState } from './state.js';
import { announceStep, recordStep, timedStep } from './timing.js';

/**
 * Launches the test instance from the baked image with a fresh identity (client key, pinned host key)
 * and waits until SSH answers with that key: the stage ends with an open session, so its time is the
 * whole way to a usable machine (steps `request`, `boot`, `ssh`). Its cleanup captures a failing
 * instance's disk (snapshot-on-failure), then terminates the instance, or keeps it for debugging under
 * `keep-instance: on-failure`.
 */
export const launchStage: Step<RunState> = {
  name: 'launch',
  async run(s, signal) {
    const { config, provider, log } = s.deps;
    const { ctx, ledger } = s;
    if (!s.bake) throw new PipelineError('launch', 'no image to launch');
    const bake = s.bake;
    const clientKey = generateEd25519KeyPair(`ovenproof-${ctx.runId}`);
    const hostKey = generateEd25519KeyPair(`ovenproof-host-${ctx.runId}`);
    log.mask(clientKey.privateKey);
    log.mask(hostKey.privateKey);
    s.clientKey = clientKey;
    const before = new Set(ledger.entries().map((e) => e.key));
    const instance = await timedStep(s, 'launch', 'request', 'Requesting the test instance', () =>
      provider.launch(ctx, {
        imageId: bake.image.id,
        purpose: 'test',
        identity: {
          hostname: `ovenproof-${ctx.runId}`,
          authorizedKey: clientKey.publicKey,
          hostKeyPrivate: hostKey.privateKey,
          hostKeyPublic: hostKey.publicKey,
        },
        ttlMs: config.ttlMs,
        sshUser: config.sshUser,
        instanceTypes: config.instanceType,
        spot: config.spot,
        warmBoot: config.warmBoot,
      }),
    );
    s.instance = instance;
    // The provider's own finer steps (a warm restore: `restore`, `identity`); its `boot` is only the
    // start of the VM, so the wait below measures the boot to the network instead.
    for (const step of instance.steps ?? [])
      if (step.name !== 'boot') (s.stageSteps.launch ??= []).push(step);
    s.launchKeys = ledger
      .entries()
      .filter((e) => !before.has(e.key))
      .map((e) => e.key);
    const how = instance.boot === 'restored' ? ' (restored from the warm snapshot)' : '';
    log.info(`launched instance ${instance.id} at ${instance.host}:${instance.port}${how}`);

    // boot: until the guest answers on the network; ssh: from there to an authenticated session.
    const bootStarted = Date.now();
    let networkUpAt: number | null = null;
    announceStep(s, 'launch', `Booting instance ${instance.id}`);
    const recordWait = () => {
      const end = Date.now();
      // A restored guest is already up: its whole wait is the SSH handshake.
      const up = instance.boot === 'restored' ? bootStarted : (networkUpAt ?? end);
      if (up > bootStarted) recordStep(s, 'launch', 'boot', bootStarted, up - bootStarted);
      recordStep(s, 'launch', 'ssh', up, end - up);
    };
    s.session = await waitForInstanceSsh(provider, instance, {
      purpose: 'test instance',
      privateKey: clientKey.privateKey,
      timeoutMs: config.sshTimeoutMs,
      signal,
      log,
      stage: 'launch',
      progress: ctx.progress,
      onNetworkUp: () => {
        networkUpAt = Date.now();
        announceStep(s, 'launch', 'Waiting for SSH');
      },
    }).catch((error: unknown) => {
      recordWait();
      throw error;
    });
    recordWait();
  },
  async cleanup(s) {
    const { deps } = s;
    const instance = s.instance;
    if (!instance) return;
    const session = s.session;
    s.session = null;
    // Tests failed or timed out (not a cancelled run): keep the machine's disk for `ovenproof reproduce`.
    if (
      (s.testsFailed || s.testTimedOut) &&
      deps.config.snapshotOnFailure === 'disk' &&
      !deps.signal.aborted
    ) {
      s.failureImage = await timedStep(
        s,
        'teardown',
        'failure snapshot',
        "Capturing the failing instance's disk",
        () =>
          captureFailureSnapshot(
            deps,
            s.ctx,
            instance.id,
            s.tests,
            session ? () => syncGuest(session) : null,
          ),
      );
    }
    await session?.close().catch(() => undefined);
    if (deps.config.keepInstance === 'on-failure' && !s.succeeded && s.clientKey) {
      const clientKey = s.clientKey;
      await timedStep(
        s,
        'teardown',
        `keep instance ${instance.id}`,
        `Keeping instance ${instance.id}`,
        async () => {
          s.debugSsh = await writeDebugSsh(deps.workDir, instance, clientKey.privateKey);
          // The instance and what it depends on (its security group, its watchdog) outlive the run.
          await deps.provider.keepInstance?.(instance.id);
          // Only what is still live: the launch may have made and removed scratch of its own (the
          // work folder of a warm snapshot it had to make first).
          const live = new Set(s.ledger.live().map((e) => e.key));
          for (const key of s.launchKeys) if (live.has(key)) await s.ledger.kept(key);
        },
      );
      const minutes = Math.round(deps.config.ttlMs / 60_000);
      deps.log.warn(
        `keep-instance: on-failure: instance ${instance.id} stays up for at most ${minutes} min (ttl). Reach it with:\n` +
          `  ovenproof ssh --result-json RESULT.json\n` +
          `  or, with OpenSSH: ${opensshCommand(s.debugSsh!)}\n` +
          `Remove it (and anything else this run kept) early with: ovenproof sweep --ledger ${s.ledger.path} --kept`,
      );
      return;
    }
    await timedStep(
      s,
      'teardown',
      `terminate instance ${instance.id}`,
      `Terminating instance ${instance.id}`,
      () => deps.provider.terminate(s.ctx, instance.id),
    );
    deps.log.info(`terminated instance ${instance.id}`);
  },
};

/** Flushes the guest's page cache, so that files the tests just wrote are in the captured disk. */
async function syncGuest(session: NonNullable<RunState['session']>): Promise<void> {
  const result = await session.exec('sync', { timeoutMs: GUEST_SYNC_TIMEOUT_MS });
  if (result.exitCode !== 0)
    throw new Error(result.timedOut ? 'sync timed out' : `sync exited with ${result.exitCode}`);
}
