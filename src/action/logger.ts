import * as core from '@actions/core';
import type { Logger } from '../common/log.js';

/** The Action's Logger: the runner's log, with secrets masked by the runner itself (core.setSecret). */
export const actionsLogger: Logger = {
  info: (message) => core.info(message),
  warn: (message) => core.warning(message),
  debug: (message) => core.debug(message),
  mask: (secret) => {
    // The runner masks line by line; a multi-line private key is registered one line at a time.
    for (const line of secret.split(/\r?\n/)) if (line.trim().length >= 4) core.setSecret(line.trim());
  },
};
