import * as core from '@actions/core';
import { secretLines, type Logger } from '../common/log.js';

/** The Action's Logger: the runner's log, with secrets masked by the runner itself (core.setSecret). */
export const actionsLogger: Logger = {
  info: (message) => core.info(message),
  warn: (message) => core.warning(message),
  debug: (message) => core.debug(message),
  mask: (secret) => {
    for (const line of secretLines(secret)) core.setSecret(line);
  },
};
