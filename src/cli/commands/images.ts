import type { CliCommand } from '../command.js';
import { parseCommandArgs } from '../args.js';
import { createStderrLogger } from '../logger.js';
import { ConfigError, ExitCode } from '../../common/errors.js';
import { providerForName } from '../../pipeline/providers.js';
import { providerEntry } from '../../providers/registry.js';
import type { ImageManifest, Provider, ProviderName } from '../../providers/provider.js';
import { parseImageQuery } from '../../providers/local/store.js';
import { requireDuration } from '../../common/duration.js';
import type { Logger } from '../../common/log.js';
import { pruneBakeCache, type PruneDecision } from '../../pipeline/prune.js';

const HELP = `Usage: ovenproof images [--provider P] [--json] [QUERY...]
       ovenproof images prune [--provider P] [--older-than D] [--keep-last N] [--dry-run] [--json]

Lists the images ovenproof knows with their manifests: base images and bakes, newest first.
QUERY is an image id or name and/or key=value filters (manifest fields such as os=debian-12,
tags such as ovenproof:kept=true, package:jq=* for "has jq installed").

Options:
  --provider P  local or ec2 (default: local)
  --json        print the manifests as a JSON array on stdout

prune deletes unpromoted bake-cache images now instead of at their expiry: images baked for reuse
that keep-image did not promote (no ovenproof:kept=true). Base images, promoted images and images a
running run is using are never deleted.

Prune options:
  --older-than D  only images last used at least D ago (e.g. 2d, 0s for any)
  --keep-last N   keep the N most recently used cache images whatever their age
  --dry-run       list what would be deleted, delete nothing

Examples:
  ovenproof images
  ovenproof images prune --older-than 3d --keep-last 5 --dry-run
  ovenproof images --json debian-12
  ovenproof images --provider ec2 os=debian-12 package:nginx=*
`;

function humanSize(bytes: number | undefined): string {
  if (bytes === undefined) return '-';
  return bytes >= 2 ** 30 ? `${(bytes / 2 ** 30).toFixed(1)}G` : `${Math.round(bytes / 2 ** 20)}M`;
}

function table(images: ImageManifest[]): string {
  const rows = [['ID', 'NAME', 'OS', 'PARENT', 'CREATED', 'PKGS', 'SIZE', 'KEPT']];
  for (const i of images) {
    rows.push([
      i.id,
      i.name,
      i.os,
      i.parent ?? '-',
      i.createdAt.replace(/\.\d+Z$/, 'Z'),
      String(Object.keys(i.packages).length),
      humanSize(i.sizes?.allocatedBytes ?? i.sizes?.diskBytes),
      i.tags['ovenproof:kept'] === 'true' ? 'yes' : 'no',
    ]);
  }
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  return (
    rows
      .map((r) =>
        r
          .map((cell, c) => cell.padEnd(widths[c]!))
          .join('  ')
          .trimEnd(),
      )
      .join('\n') + '\n'
  );
}

const PRUNE_VERBS: Record<PruneDecision['action'], string> = {
  deleted: 'deleted',
  'would-delete': 'would delete',
  kept: 'kept',
};

async function prune(
  args: string[],
  io: Parameters<CliCommand['run']>[1],
  createProviderFor: (name: ProviderName, env: NodeJS.ProcessEnv) => Promise<Provider>,
  log: Logger,
): Promise<number> {
  const { values } = parseCommandArgs('images prune', args, {
    provider: { type: 'string' },
    'older-than': { type: 'string' },
    'keep-last': { type: 'string' },
    'dry-run': { type: 'boolean' },
    json: { type: 'boolean' },
  });
  if (values.help) {
    io.stdout.write(HELP);
    return ExitCode.ok;
  }
  const name = values.provider ?? 'local';
  if (name !== 'local' && name !== 'ec2') {
    throw new ConfigError(`images prune: --provider "${name}" is not a provider (use local or ec2)`);
  }
  const olderThan = values['older-than'];
  const keepLastText = values['keep-last'];
  if (keepLastText !== undefined && !/^\d+$/.test(keepLastText)) {
    throw new ConfigError(`images prune: --keep-last "${keepLastText}" is not a whole number`);
  }
  const provider = await createProviderFor(name, io.env);
  const decisions = await pruneBakeCache(provider, {
    olderThanMs: olderThan === undefined ? null : requireDuration('images prune: --older-than', olderThan),
    keepLast: keepLastText === undefined ? null : Number(keepLastText),
    dryRun: values['dry-run'] ?? false,
    log,
  });
  if (values.json) io.stdout.write(`${JSON.stringify(decisions, null, 2)}\n`);
  for (const d of decisions) {
    io.stderr.write(`${PRUNE_VERBS[d.action]} ${d.id} (${d.name}), last used ${d.lastUsedAt}: ${d.reason}\n`);
  }
  const removed = decisions.filter((d) => d.action !== 'kept').length;
  io.stderr.write(
    `${values['dry-run'] ? 'would delete' : 'deleted'} ${removed} of ${decisions.length} unpromoted bake-cache image(s)\n`,
  );
  return ExitCode.ok;
}

/** `ovenproof images`, with the provider made by `createProvider` (the ec2 provider plugs in here). */
export function makeImagesCommand(
  createProviderFor: (name: ProviderName, env: NodeJS.ProcessEnv) => Promise<Provider>,
): CliCommand {
  return {
    name: 'images',
    summary: 'List images and their manifests',
    help: HELP,
    async run(args, io) {
      if (args[0] === 'prune')
        return prune(args.slice(1), io, createProviderFor, createStderrLogger(io.stderr));
      const { values, positionals } = parseCommandArgs(
        'images',
        args,
        { provider: { type: 'string' }, json: { type: 'boolean' } },
        true,
      );
      if (values.help) {
        io.stdout.write(HELP);
        return ExitCode.ok;
      }
      const name = values.provider ?? 'local';
      providerEntry(name, 'images: --provider');
      let query;
      try {
        query = positionals.length ? parseImageQuery(positionals.join(' ')) : {};
      } catch (error) {
        throw new ConfigError(`images: ${(error as Error).message}`);
      }
      const provider = await createProviderFor(name, io.env);
      const images = await provider.listImages(query);
      if (values.json) io.stdout.write(JSON.stringify(images, null, 2) + '\n');
      else if (images.length === 0) {
        io.stderr.write(
          `no ${name} images${positionals.length ? ' match' : ''}` +
            (name === 'local' ? ' (build the base with `ovenproof base build`)\n' : '\n'),
        );
      } else io.stdout.write(table(images));
      return ExitCode.ok;
    },
  };
}

export const imagesCommand: CliCommand = makeImagesCommand((name, env) =>
  providerForName(name, env, createStderrLogger(process.stderr)),
);
