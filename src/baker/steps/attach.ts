import type { Step } from '../../common/steps.js';
import { need, type VolumeState } from './state.js';

/** Attaches the volume to this host as a block device (a loop device locally, EBS on an EC2 baker). */
export const attachVolume: Step<VolumeState> = {
  name: 'attach',
  label: 'Attaching volume',
  weight: 0.3,
  async run(state) {
    state.device = (await state.provider.attachVolume(state.ctx, need(state.volumeId, 'the volume'))).device;
    state.attached = true;
  },
  async cleanup(state) {
    if (state.attached && state.volumeId) {
      await state.provider.detachVolume(state.ctx, state.volumeId);
      state.attached = false;
    }
  },
};

export const detachVolume: Step<VolumeState> = {
  name: 'detach',
  label: 'Detaching volume',
  weight: 0.2,
  async run(state) {
    await state.provider.detachVolume(state.ctx, need(state.volumeId, 'the volume'));
    state.attached = false;
  },
};
