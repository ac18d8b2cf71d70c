import { performance } from 'node:perf_hooks';
import type { CliCommand } from '../command.js';
import { parseCommandArgs } from '../args.js';
import { createStderrLogger } from '../logger.js';
import { ConfigError, ExitCode } from '../../common/errors.js';
import { ovenproofHome } from '../../common/host/home.js';
import { createLocalProvider } from '../../providers/local/index.js';

/** `4G`, `4GiB`, `4096M` or a bare number of GiB → GiB. */
export function parseSizeGiB(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(g|gb|gib|m|mb|mib)?$/i.exec(text.trim());
  if (!m) throw new ConfigError(`base build: --size "${text}" is not a size (use e.g. 4G or 8192M)`);
  const value = Number(m[1]);
  const gib = /^m/i.test(m[2] ?? 'g') ? value / 1024 : value;
  if (!(gib >= 1 && gib <= 1024))
    throw new ConfigError(`base build: --size "${text}" must be between 1G and 1024G`);
  return gib;
}

export const baseCommand: CliCommand = {
  name: 'base',
  summary: 'Build the local provider base image (cached)',
  help: `Usage: ovenproof base build [--name debian-12] [--suite S] [--mirror URL] [--size 4G] [--rebuild] [--json]

Builds a bootable base image for the local provider with mmdebstrap: the host's distribution and
apt sources by default, systemd, openssh-server, DHCP networking, a kernel for direct boot and
ovenproof's first-boot identity init. Stored under $OVENPROOF_HOME/images (default
~/.cache/ovenproof); a second call with the same name returns the cached image at once.
Needs root or passwordless sudo.

Options:
  --name N      image name (default: <distribution>-<version> of the suite, e.g. debian-12)
  --suite S     distribution suite / codename (default: the host's, e.g. bookworm)
  --mirror URL  apt mirror (default: the host's configured apt sources)
  --size SIZE   filesystem size, sparse (default: 4G)
  --rebuild     build a new image even if one with this name exists (replaces it)
  --json        print {image, cacheHit, durationMs} as JSON on stdout

Examples:
  ovenproof base build
  ovenproof base build --suite trixie --name debian-13 --mirror http://deb.debian.org/debian
`,
  async run(args, io) {
    const { values, positionals } = parseCommandArgs(
      'base',
      args,
      {
        name: { type: 'string' },
        suite: { type: 'string' },
        mirror: { type: 'string' },
        size: { type: 'string' },
        rebuild: { type: 'boolean' },
        json: { type: 'boolean' },
        verbose: { type: 'boolean', short: 'v' },
      },
      true,
    );
    if (values.help) {
      io.stdout.write(this.help);
      return ExitCode.ok;
    }
    if (positionals.length !== 1 || positionals[0] !== 'build') {
      throw new ConfigError(
        `base: expected the sub-command "build", got ${positionals.length ? `"${positionals.join(' ')}"` : 'nothing'} (see ovenproof base --help)`,
      );
    }
    const log = createStderrLogger(io.stderr, { verbose: values.verbose ?? false });
    const provider = createLocalProvider({ home: ovenproofHome(io.env), log });
    const started = performance.now();
    const result = await provider.buildBaseImage({
      ...(values.name !== undefined ? { name: values.name } : {}),
      ...(values.suite !== undefined ? { suite: values.suite } : {}),
      ...(values.mirror !== undefined ? { mirror: values.mirror } : {}),
      ...(values.size !== undefined ? { sizeGiB: parseSizeGiB(values.size) } : {}),
      rebuild: values.rebuild ?? false,
      log,
    });
    const durationMs = Math.round(performance.now() - started);
    if (values.json) {
      io.stdout.write(
        JSON.stringify({ image: result.image, cacheHit: result.cacheHit, durationMs }, null, 2) + '\n',
      );
    } else {
      const { image } = result;
      io.stdout.write(
        `${image.name} ${image.id} (${image.os}, ${Object.keys(image.packages).length} packages)` +
          `${result.cacheHit ? ' — cached' : ` — built in ${(durationMs / 1000).toFixed(1)} s`}\n`,
      );
    }
    return ExitCode.ok;
  },
};
