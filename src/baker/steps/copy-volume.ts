import type { Step } from '../../common/steps.js';
import { need, type VolumeState } from './state.js';

/** A new volume holding a copy of the base image's root disk; deleted again if the bake fails. */
export const copyVolume: Step<VolumeState> = {
  name: 'copy',
  label: 'Copying base volume',
  weight: 1,
  async run(state) {
    state.volumeId = (await state.provider.createVolume(state.ctx, state.bake.base.id)).id;
  },
  async cleanup(state) {
    if (state.volumeId && !state.volumeGone) {
      await state.provider.deleteVolume(state.ctx, state.volumeId);
      state.volumeGone = true;
    }
  },
};

/** The forward half of the copy's cleanup, once the image no longer needs the volume. */
export const deleteVolume: Step<VolumeState> = {
  name: 'delete-volume',
  label: 'Deleting volume',
  weight: 0.2,
  async run(state) {
    await state.provider.deleteVolume(state.ctx, need(state.volumeId, 'the volume'));
    state.volumeGone = true;
  },
};
