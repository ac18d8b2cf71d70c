/**
 * The instance bake's own steps: a builder booted from the base image with a fresh pinned identity,
 * reached over SSH, stopped cleanly and imaged by the provider, then terminated.
 */
import { randomBytes } from 'node:crypto';
import type { Step } from '../../common/steps.js';
import { generateEd25519KeyPair } from '../../ssh/index.js';
import { waitForInstanceSsh } from '../instance-ssh.js';
import { SshBakeTarget } from '../target.js';
import { bakeTags, bakedManifest, need, type InstanceState } from './state.js';

async function closeSession(state: InstanceState): Promise<void> {
  const session = state.session;
  state.session = null;
  state.target = null;
  await session?.close();
}

export const launchBuilder: Step<InstanceState> = {
  name: 'launch',
  label: 'Launching builder',
  weight: 1,
  async run(state) {
    const { ctx } = state;
    const client = generateEd25519KeyPair(`ovenproof-bake-${ctx.runId}`);
    const host = generateEd25519KeyPair(`ovenproof-builder-${ctx.runId}`);
    ctx.log.mask(client.privateKey);
    ctx.log.mask(host.privateKey);
    state.clientKey = client.privateKey;
    state.instance = await state.provider.launch(ctx, {
      imageId: state.bake.base.id,
      purpose: 'builder',
      identity: {
        hostname: `bake-${randomBytes(4).toString('hex')}`,
        authorizedKey: client.publicKey,
        hostKeyPrivate: host.privateKey,
        hostKeyPublic: host.publicKey,
      },
      ttlMs: state.builderTtlMs,
      sshUser: state.bake.sshUser,
    });
  },
  async cleanup(state) {
    await closeSession(state).catch(() => undefined);
    if (state.instance && !state.terminated) {
      await state.provider.terminate(state.ctx, state.instance.id);
      state.terminated = true;
    }
    state.clientKey = null;
  },
};

export const connectToBuilder: Step<InstanceState> = {
  name: 'ssh',
  label: 'Waiting for SSH',
  weight: 4,
  async run(state, signal) {
    const instance = need(state.instance, 'the builder');
    state.session = await waitForInstanceSsh(state.provider, instance, {
      purpose: 'builder',
      privateKey: need(state.clientKey, 'the client key'),
      timeoutMs: state.sshTimeoutMs,
      signal,
      log: state.ctx.log,
      stage: 'bake',
      progress: state.ctx.progress,
    });
    state.target = new SshBakeTarget(state.session, instance.user, state.bake.plugin.env);
  },
};

export const stopBuilder: Step<InstanceState> = {
  name: 'stop',
  label: 'Stopping builder',
  weight: 1,
  async run(state) {
    await closeSession(state);
    await state.provider.stopInstance(state.ctx, need(state.instance, 'the builder').id);
  },
};

/** The provider images the stopped builder's disk with the baked manifest. */
export const createImageFromBuilder: Step<InstanceState> = {
  name: 'create-image',
  label: 'Creating image',
  weight: 1,
  async run(state) {
    state.image = await state.provider.createImageFromInstance(
      state.ctx,
      need(state.instance, 'the builder').id,
      bakedManifest(state.bake, need(state.packages, 'the package set'), bakeTags(state.ctx)),
    );
  },
  async cleanup(state) {
    // Cleanups run in reverse: the builder is marked terminated here only when the last step succeeded.
    // Otherwise the bake failed after imaging, and the image of a failed bake is not left behind.
    if (!state.image || state.terminated) return;
    const image = state.image;
    state.image = null;
    await state.provider.deregisterImage(state.ctx, image.id);
  },
};

export const terminateBuilder: Step<InstanceState> = {
  name: 'terminate',
  label: 'Terminating builder',
  weight: 0.3,
  async run(state) {
    await state.provider.terminate(state.ctx, need(state.instance, 'the builder').id);
    state.terminated = true;
  },
};
