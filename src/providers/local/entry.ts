/** The local provider's registry entry. The provider itself is loaded only when one is created. */
import { z } from 'zod';
import { ConfigError } from '../../common/errors.js';
import { ovenproofHome } from '../../common/host/home.js';
import type { ProviderEntry } from '../provider.js';

export const localSettingsSchema = z.object({
  /** The image store, volumes, instances and scratch folders live below it. */
  home: z.string().min(1),
});

export const localProviderEntry: ProviderEntry = {
  name: 'local',
  defaults: { baseImage: 'debian-12', sshUser: 'root' },
  settingsFrom: (_config, env) => ({ home: ovenproofHome(env) }),
  async create(settings, log) {
    const parsed = localSettingsSchema.safeParse(settings);
    if (!parsed.success)
      throw new ConfigError(`local provider setting home: ${parsed.error.issues[0]?.message}`);
    const { createLocalProvider } = await import('./index.js');
    return createLocalProvider({ home: parsed.data.home, log });
  },
};
