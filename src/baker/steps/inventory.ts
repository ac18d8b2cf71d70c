import type { Step } from '../../common/steps.js';
import { need, type BakeState } from './state.js';

/** Records the installed package set (name → version) for the image manifest. */
export const recordPackages: Step<BakeState> = {
  name: 'inventory',
  label: 'Recording installed packages',
  weight: 0.2,
  async run(state) {
    const { plugin } = state.bake;
    const packages = plugin.parseInstalled(
      await need(state.target, 'the bake target').sh(plugin.listInstalledScript()),
    );
    if (Object.keys(packages).length === 0)
      throw new Error('the package manager lists no installed packages');
    state.packages = packages;
  },
};
