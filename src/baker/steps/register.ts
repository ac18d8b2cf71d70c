import type { Step } from '../../common/steps.js';
import { bakeTags, bakedManifest, need, type VolumeState } from './state.js';

export const snapshotVolume: Step<VolumeState> = {
  name: 'snapshot',
  label: 'Snapshotting volume',
  weight: 0.3,
  async run(state) {
    state.snapshotId = (
      await state.provider.snapshotVolume(state.ctx, need(state.volumeId, 'the volume'))
    ).id;
  },
};

/** Registers the snapshot as an image with the baked manifest. */
export const registerImage: Step<VolumeState> = {
  name: 'register',
  label: 'Registering image',
  weight: 0.3,
  async run(state) {
    state.image = await state.provider.registerImage(state.ctx, {
      snapshotId: need(state.snapshotId, 'the snapshot'),
      manifest: bakedManifest(state.bake, need(state.packages, 'the package set'), bakeTags(state.ctx)),
    });
  },
};
