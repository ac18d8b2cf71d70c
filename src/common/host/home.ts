import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

/**
 * ovenproof's home on this host: the local image store, bake locks, the package index cache and
 * scratch folders. `$OVENPROOF_HOME`, or `~/.cache/ovenproof`.
 */
export function ovenproofHome(env: NodeJS.ProcessEnv = process.env): string {
  return env.OVENPROOF_HOME ? resolve(env.OVENPROOF_HOME) : join(homedir(), '.cache', 'ovenproof');
}
