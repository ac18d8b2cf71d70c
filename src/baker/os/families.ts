import { ConfigError, PipelineError } from '../../common/errors.js';
import { aptPlugin } from './apt.js';
import type { OsPlugin } from './plugin.js';

const FAMILIES: Array<{ pattern: RegExp; plugin: OsPlugin }> = [
  { pattern: /^(debian|ubuntu)\b/i, plugin: aptPlugin },
];

/** The package-manager plugin for an image's `os` (e.g. `debian-12`, `ubuntu-24.04`). */
export function osPluginFor(os: string): OsPlugin {
  const found = FAMILIES.find((f) => f.pattern.test(os));
  if (!found)
    throw new PipelineError('bake', `no package-manager plugin for os "${os}" (supported: debian, ubuntu)`);
  return found.plugin;
}

/** The plugin that can read a package file, chosen by its extension (before the base image is known). */
export function pluginForPackageFile(path: string): OsPlugin {
  const found = FAMILIES.find((f) => path.endsWith(f.plugin.packageExtension));
  if (!found) {
    const known = FAMILIES.map((f) => f.plugin.packageExtension).join(', ');
    throw new ConfigError(
      `package: ${path} is not a package file ovenproof can install (supported: ${known})`,
    );
  }
  return found.plugin;
}
