/**
 * The instance bake of SPEC §1.3 (works wherever instances can be launched): a builder booted from the
 * base with a fresh pinned identity, packages uploaded and installed over SSH, the same identity init and
 * hygiene as the volume bake, a clean stop, then the provider images the stopped builder.
 */
import { randomBytes } from 'node:crypto';
import type { ImageManifest, InstanceInfo, Provider, RunContext } from '../providers/provider.js';
import { generateEd25519KeyPair, waitForSsh, type SshSession } from '../ssh/index.js';
import {
  bakedManifest,
  cleanImage,
  installIdentityInit,
  installPackages,
  installedPackages,
  uploadPackageFiles,
  type PreparedBake,
} from './shared-steps.js';
import { runSteps, type Step, type StepHook } from './steps.js';
import { SshBakeTarget } from './target.js';

export interface InstanceBakeOptions {
  sshTimeoutMs: number;
  /** Dead-man switch of the builder. */
  ttlMs: number;
  hook?: StepHook;
}

interface InstanceState {
  bake: PreparedBake;
  options: InstanceBakeOptions;
  clientKey: string | null;
  instance: InstanceInfo | null;
  terminated: boolean;
  session: SshSession | null;
  target: SshBakeTarget | null;
  staged: string[];
  packages: Record<string, string> | null;
  image: ImageManifest | null;
}

function need<T>(value: T | null, what: string): T {
  if (value === null)
    throw new Error(`instance bake: ${what} is not available (an earlier step did not run)`);
  return value;
}

async function closeSession(state: InstanceState): Promise<void> {
  const session = state.session;
  state.session = null;
  state.target = null;
  await session?.close();
}

function instanceSteps(provider: Provider): Step<InstanceState>[] {
  return [
    {
      name: 'launch',
      label: 'Launching builder',
      weight: 1,
      async run(state, ctx) {
        const client = generateEd25519KeyPair(`ovenproof-bake-${ctx.runId}`);
        const host = generateEd25519KeyPair(`ovenproof-builder-${ctx.runId}`);
        ctx.log.mask(client.privateKey);
        ctx.log.mask(host.privateKey);
        state.clientKey = client.privateKey;
        state.instance = await provider.launch(ctx, {
          imageId: state.bake.base.id,
          purpose: 'builder',
          identity: {
            hostname: `bake-${randomBytes(4).toString('hex')}`,
            authorizedKey: client.publicKey,
            hostKeyPrivate: host.privateKey,
            hostKeyPublic: host.publicKey,
          },
          ttlMs: state.options.ttlMs,
          sshUser: state.bake.sshUser,
        });
      },
      async cleanup(state, ctx) {
        await closeSession(state).catch(() => undefined);
        if (state.instance && !state.terminated) {
          await provider.terminate(ctx, state.instance.id);
          state.terminated = true;
        }
        state.clientKey = null;
      },
    },
    {
      name: 'ssh',
      label: 'Waiting for SSH',
      weight: 4,
      async run(state, ctx) {
        const instance = need(state.instance, 'the builder');
        state.session = await waitForSsh(
          {
            host: instance.host,
            port: instance.port,
            user: instance.user,
            privateKey: need(state.clientKey, 'the client key'),
            hostKeyPublic: instance.hostKeyPublic,
            ...(instance.networkProbe ? { networkProbe: instance.networkProbe } : {}),
          },
          { timeoutMs: state.options.sshTimeoutMs, signal: ctx.signal, log: ctx.log, stage: 'bake' },
        );
        state.target = new SshBakeTarget(state.session, instance.user, state.bake.plugin.env);
      },
    },
    {
      name: 'upload',
      label: 'Uploading packages',
      weight: 0.3,
      async run(state) {
        state.staged = await uploadPackageFiles(
          need(state.target, 'the SSH session'),
          state.bake.packageFiles,
        );
      },
    },
    {
      name: 'index',
      label: 'Updating package lists',
      weight: 2,
      async run(state, ctx) {
        // The host's cached lists are not uploaded: measured here, SFTP of the 51 MB of bookworm lists
        // into an emulated guest (30 s) is no faster than `apt-get update` inside it (24-32 s).
        if (state.bake.packages.length === 0 && state.bake.packageFiles.length === 0) return;
        await need(state.target, 'the SSH session').sh(state.bake.plugin.updateIndexScript(), {
          signal: ctx.signal,
        });
      },
    },
    {
      name: 'install',
      label: 'Installing packages',
      weight: 3,
      async run(state, ctx) {
        await installPackages(need(state.target, 'the SSH session'), state.bake, state.staged, ctx.signal);
      },
    },
    {
      name: 'identity',
      label: 'Installing identity init',
      weight: 0.2,
      async run(state) {
        await installIdentityInit(need(state.target, 'the SSH session'));
      },
    },
    {
      name: 'inventory',
      label: 'Recording installed packages',
      weight: 0.2,
      async run(state) {
        state.packages = await installedPackages(need(state.target, 'the SSH session'), state.bake.plugin);
      },
    },
    {
      name: 'hygiene',
      label: 'Cleaning image',
      weight: 0.3,
      async run(state) {
        const target = need(state.target, 'the SSH session');
        // A live system keeps logging until it is off: move the journal to /run (tmpfs) first, so the
        // shutdown that follows writes nothing into the image's /var/log.
        await target.sh('journalctl --relinquish-var >/dev/null 2>&1 || true');
        await cleanImage(target, state.bake.plugin);
        await target.sh('sync');
      },
    },
    {
      name: 'stop',
      label: 'Stopping builder',
      weight: 1,
      async run(state, ctx) {
        await closeSession(state);
        await provider.stopInstance(ctx, need(state.instance, 'the builder').id);
      },
    },
    {
      name: 'create-image',
      label: 'Creating image',
      weight: 1,
      async run(state, ctx) {
        const tags = {
          ...ctx.tags,
          'ovenproof:run-id': ctx.runId,
          'ovenproof:expires-at': ctx.expiresAt.toISOString(),
        };
        state.image = await provider.createImageFromInstance(
          ctx,
          need(state.instance, 'the builder').id,
          bakedManifest(state.bake, need(state.packages, 'the package set'), tags),
        );
      },
    },
    {
      name: 'terminate',
      label: 'Terminating builder',
      weight: 0.3,
      async run(state, ctx) {
        await provider.terminate(ctx, need(state.instance, 'the builder').id);
        state.terminated = true;
      },
    },
  ];
}

export const INSTANCE_STEP_NAMES: readonly string[] = instanceSteps({} as Provider).map((s) => s.name);

export async function instanceBake(
  provider: Provider,
  bake: PreparedBake,
  ctx: RunContext,
  options: InstanceBakeOptions,
  durationsMs: Record<string, number>,
): Promise<ImageManifest> {
  const state: InstanceState = {
    bake,
    options,
    clientKey: null,
    instance: null,
    terminated: false,
    session: null,
    target: null,
    staged: [],
    packages: null,
    image: null,
  };
  await runSteps(instanceSteps(provider), state, ctx, durationsMs, { hook: options.hook });
  return need(state.image, 'the created image');
}
