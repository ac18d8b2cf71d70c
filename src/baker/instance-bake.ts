/**
 * The instance bake (works wherever instances can be launched): a builder booted from the base with a
 * fresh pinned identity, packages uploaded and installed over SSH, the same identity init and hygiene
 * as the volume bake, a clean stop, then the provider images the stopped builder.
 */
import type { Step, StepTiming } from '../common/steps.js';
import type { ImageManifest, Provider, RunContext } from '../providers/provider.js';
import {
  connectToBuilder,
  createImageFromBuilder,
  launchBuilder,
  stopBuilder,
  terminateBuilder,
} from './steps/builder.js';
import { cleanImage } from './steps/hygiene.js';
import { installIdentityInit } from './steps/identity.js';
import { installPackages, uploadPackages } from './steps/install-packages.js';
import { recordPackages } from './steps/inventory.js';
import { runBakeSteps, type StepHook } from './steps/run.js';
import { need, type InstanceState, type PreparedBake } from './steps/state.js';
import { updateIndex } from './steps/update-index.js';

export const INSTANCE_STEPS: readonly Step<InstanceState>[] = [
  launchBuilder,
  connectToBuilder,
  uploadPackages,
  // Inside an emulated guest the update takes longer than in a chroot on the host.
  { ...updateIndex, weight: 2 },
  installPackages,
  installIdentityInit,
  recordPackages,
  cleanImage,
  stopBuilder,
  createImageFromBuilder,
  terminateBuilder,
];

export const INSTANCE_STEP_NAMES: readonly string[] = INSTANCE_STEPS.map((s) => s.name);

export interface InstanceBakeOptions {
  sshTimeoutMs: number;
  /** Dead-man switch of the builder. */
  ttlMs: number;
  hook?: StepHook;
}

export async function instanceBake(
  provider: Provider,
  bake: PreparedBake,
  ctx: RunContext,
  options: InstanceBakeOptions,
): Promise<{ image: ImageManifest; steps: StepTiming[] }> {
  const state: InstanceState = {
    provider,
    ctx,
    bake,
    target: null,
    root: null,
    indexCache: null,
    sourcesDigest: null,
    staged: null,
    packages: null,
    image: null,
    sshTimeoutMs: options.sshTimeoutMs,
    builderTtlMs: options.ttlMs,
    clientKey: null,
    instance: null,
    terminated: false,
    session: null,
  };
  const steps = await runBakeSteps(INSTANCE_STEPS, state, options.hook);
  return { image: need(state.image, 'the created image'), steps };
}
