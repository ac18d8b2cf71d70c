/**
 * What the baker needs from an OS family's package manager. Every operation is a POSIX sh script run
 * as root *on the target* (the chroot of a volume bake or the builder instance over SSH), so one plugin
 * serves both strategies. apt/dpkg is implemented; dnf/rpm fits the same shape (rpm -qa for the package
 * set, dnf install ./x.rpm, /var/cache/dnf as the metadata cache, systemd presets for service blocking).
 */
import type { HygieneSpec } from '../hygiene.js';

export interface OsPlugin {
  readonly name: string;
  /** File extension of installable package files for this family. */
  readonly packageExtension: string;
  /** Directory on the target holding the package index that `updateIndexScript` downloads. */
  readonly indexDir: string;
  /** Directory on the target where the package manager keeps downloaded package files. */
  readonly archiveDir: string;
  /** Prints what decides the index contents (sources, architecture): the host-side cache key. */
  indexSourcesScript(): string;
  /** Throws a ConfigError for a name the package manager cannot accept; runs before any resource exists. */
  validatePackageNames(packages: readonly string[]): void;
  updateIndexScript(): string;
  /** Installs package files (paths on the target) and distribution packages in one transaction. */
  installScript(packageFiles: string[], packages: string[]): string;
  /** Prints the installed package set; parsed by `parseInstalled`. */
  listInstalledScript(): string;
  parseInstalled(output: string): Record<string, string>;
  /** Keeps packages from starting services while they are installed in a chroot. */
  blockServicesScript(): string;
  unblockServicesScript(): string;
  /** Package-manager specific image hygiene (lists, caches). */
  readonly hygiene: HygieneSpec;
  /** Environment for every script on the target (non-interactive frontends). */
  readonly env: Record<string, string>;
}
