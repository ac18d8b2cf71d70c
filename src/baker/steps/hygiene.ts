import type { Step } from '../../common/steps.js';
import { IDENTITY_STATE_DIR } from '../../providers/identity/index.js';
import { shQuote } from '../../ssh/shell.js';
import { COMMON_HYGIENE, hygieneScript, mergeHygiene } from '../hygiene.js';
import type { OsPlugin } from '../os/plugin.js';
import { STAGING_DIR } from './install-packages.js';
import { need, type BakeState } from './state.js';

/**
 * Image hygiene plus the per-image resets: the identity init's "already applied" state (so it runs
 * again on every new instance), a neutral hostname, and the staged package files.
 */
export function imageHygieneScript(plugin: OsPlugin): string {
  const extra = [
    `rm -rf -- ${shQuote(IDENTITY_STATE_DIR)} ${shQuote(STAGING_DIR)}`,
    'echo localhost > /etc/hostname',
    "if [ -f /etc/hosts ]; then sed -i '/^127\\.0\\.1\\.1[[:space:]]/d' /etc/hosts; fi",
  ].join('\n');
  return hygieneScript(mergeHygiene(COMMON_HYGIENE, plugin.hygiene), extra);
}

export const cleanImage: Step<BakeState> = {
  name: 'hygiene',
  label: 'Cleaning image',
  weight: 0.3,
  async run(state) {
    const target = need(state.target, 'the bake target');
    const live = state.root === null;
    // A live system keeps logging until it is off: move the journal to /run (tmpfs) first, so the
    // shutdown that follows writes nothing into the image's /var/log.
    if (live) await target.sh('journalctl --relinquish-var >/dev/null 2>&1 || true');
    await target.sh(imageHygieneScript(state.bake.plugin));
    if (live) await target.sh('sync');
  },
};
