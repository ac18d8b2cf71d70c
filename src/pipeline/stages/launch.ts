import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PipelineError } from '../../common/errors.js';
import type { Step } from '../../common/steps.js';
import type { InstanceInfo } from '../../providers/provider.js';
import { generateEd25519KeyPair, type KeyPair } from '../../ssh/index.js';
import type { PipelineDeps, RunState } from './state.js';

/**
 * Launches the test instance from the baked image with a fresh identity (client key, pinned host key).
 * Its cleanup terminates the instance, or keeps it for debugging under `keep-instance: on-failure`.
 */
export const launchStage: Step<RunState> = {
  name: 'launch',
  async run(s) {
    const { config, provider, log } = s.deps;
    const { ctx, ledger } = s;
    if (!s.bake) throw new PipelineError('launch', 'no image to launch');
    const clientKey = generateEd25519KeyPair(`ovenproof-${ctx.runId}`);
    const hostKey = generateEd25519KeyPair(`ovenproof-host-${ctx.runId}`);
    log.mask(clientKey.privateKey);
    log.mask(hostKey.privateKey);
    s.clientKey = clientKey;
    const before = new Set(ledger.entries().map((e) => e.key));
    s.instance = await provider.launch(ctx, {
      imageId: s.bake.image.id,
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
    });
    s.launchKeys = ledger
      .entries()
      .filter((e) => !before.has(e.key))
      .map((e) => e.key);
    s.launchSteps = [...(s.instance.steps ?? [])];
    const how = s.instance.boot === 'restored' ? ' (restored from the warm snapshot)' : '';
    log.info(`launched instance ${s.instance.id} at ${s.instance.host}:${s.instance.port}${how}`);
  },
  async cleanup(s) {
    const { deps } = s;
    if (!s.instance) return;
    if (deps.config.keepInstance === 'on-failure' && !s.succeeded && s.clientKey) {
      await keepInstanceForDebugging(deps, s.instance, s.clientKey);
      // The instance and what it depends on (its security group, its watchdog) outlive the run.
      await deps.provider.keepInstance?.(s.instance.id);
      for (const key of s.launchKeys) await s.ledger.kept(key);
      return;
    }
    await deps.provider.terminate(s.ctx, s.instance.id);
    deps.log.info(`terminated instance ${s.instance.id}`);
  },
};

/** Leaves a failed run's instance up (bounded by ttl) and prints exactly how to reach it. */
async function keepInstanceForDebugging(
  deps: PipelineDeps,
  instance: InstanceInfo,
  clientKey: KeyPair,
): Promise<void> {
  const dir = join(deps.workDir, 'debug-ssh');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const keyPath = join(dir, 'id_ed25519');
  const knownHosts = join(dir, 'known_hosts');
  await writeFile(keyPath, clientKey.privateKey, { mode: 0o600 });
  const hostPattern = instance.port === 22 ? instance.host : `[${instance.host}]:${instance.port}`;
  await writeFile(knownHosts, `${hostPattern} ${instance.hostKeyPublic}\n`, { mode: 0o600 });
  const minutes = Math.round(deps.config.ttlMs / 60_000);
  deps.log.warn(
    `keep-instance: on-failure: instance ${instance.id} stays up for at most ${minutes} min (ttl). Reach it with:\n` +
      `  ssh -i ${keyPath} -o UserKnownHostsFile=${knownHosts} -o StrictHostKeyChecking=yes -p ${instance.port} ${instance.user}@${instance.host}\n` +
      `Remove it (and anything else this run kept) early with: ovenproof sweep --ledger ${join(deps.workDir, 'ledger.json')} --kept`,
  );
}
