import { posix } from 'node:path';
import type { Step } from '../../common/steps.js';
import { identityInitFiles } from '../../providers/identity/index.js';
import { shQuote } from '../../ssh/shell.js';
import { need, type BakeState } from './state.js';

/** Installs the first-boot identity init that gives every instance its own host key and hostname. */
export const installIdentityInit: Step<BakeState> = {
  name: 'identity',
  label: 'Installing identity init',
  weight: 0.2,
  async run(state) {
    const target = need(state.target, 'the bake target');
    for (const file of identityInitFiles()) {
      if (file.symlinkTo) {
        await target.sh(
          `mkdir -p ${shQuote(posix.dirname(file.path))} && ln -sfn ${shQuote(file.symlinkTo)} ${shQuote(file.path)}`,
        );
      } else {
        await target.writeFile(file.path, file.content, file.mode);
      }
    }
  },
};
