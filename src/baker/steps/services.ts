import type { Step } from '../../common/steps.js';
import { RESOLV, RESOLV_SAVED } from './mount.js';
import { need, type VolumeState } from './state.js';

/** Package scripts must not start daemons inside the chroot (they would run on the baking host). */
export const blockServices: Step<VolumeState> = {
  name: 'block-services',
  label: 'Blocking service starts',
  weight: 0.2,
  async run(state) {
    await need(state.target, 'the chroot').sh(state.bake.plugin.blockServicesScript());
  },
};

/** Undoes `blockServices` and puts the image's own resolv.conf back in place. */
export const unblockServices: Step<VolumeState> = {
  name: 'unblock-services',
  label: 'Restoring services and resolv.conf',
  weight: 0.2,
  async run(state) {
    const target = need(state.target, 'the chroot');
    await target.sh(state.bake.plugin.unblockServicesScript());
    await target.sh(
      `rm -f ${RESOLV}; if [ -e ${RESOLV_SAVED} ] || [ -L ${RESOLV_SAVED} ]; then mv -f ${RESOLV_SAVED} ${RESOLV}; fi`,
    );
  },
};
