import type { CliCommand } from '../command.js';
import { parseCommandArgs } from '../args.js';
import { createStderrLogger } from '../logger.js';
import { ConfigError, ExitCode } from '../../common/errors.js';
import { requireDuration } from '../../common/duration.js';
import { Ledger } from '../../pipeline/ledger.js';
import { cleanupLedger } from '../../pipeline/cleanup.js';
import { createProvider, providerForName, type ProviderSettings } from '../../pipeline/providers.js';

export const sweepCommand: CliCommand = {
  name: 'sweep',
  summary: 'Delete leftover resources: past their expiry tag, or still live in a ledger',
  help: `Usage: ovenproof sweep [--provider P] [--region R]... [--older-than 2h] [--dry-run] [--json]
       ovenproof sweep --ledger FILE [--kept] [--dry-run] [--json]

Deletes resources that ovenproof tagged and whose ovenproof:expires-at time has passed, in
dependency order (instances before security groups, images before snapshots). Untagged resources
and kept images (ovenproof:kept=true) are never touched. Locally it also removes orphaned QEMU
processes, loop devices, mounts and temporary files of ovenproof's work directory.

With --ledger, deletes whatever that run's ledger still shows as live (what the Action's post step
does after a killed run).

Options:
  --provider P      local or ec2 (default: local)
  --region R        ec2 region to sweep (repeatable; default: AWS_REGION)
  --older-than D    only resources created more than D ago (e.g. 2h), in addition to an expired tag
  --ledger FILE     clean up one run's ledger instead of sweeping by tags
  --kept            with --ledger: also delete what the run kept on purpose (a kept image, an
                    instance kept for debugging with keep-instance: on-failure)
  --dry-run         list what would be deleted, delete nothing
  --json            print every resource tried as JSON on stdout, each with "deleted" and, when
                    it could not be deleted, the "error" saying why

Every candidate is tried even when some cannot be deleted; the exit code is 2 once all were tried
and any failed.

Examples:
  ovenproof sweep --provider local --dry-run
  ovenproof sweep --provider ec2 --region eu-west-1 --region us-east-1 --older-than 2h
  ovenproof sweep --ledger "$RUNNER_TEMP"/ovenproof-*/ledger.json
`,
  async run(args, io) {
    const { values } = parseCommandArgs('sweep', args, {
      provider: { type: 'string' },
      region: { type: 'string', multiple: true },
      'older-than': { type: 'string' },
      ledger: { type: 'string' },
      kept: { type: 'boolean' },
      'dry-run': { type: 'boolean' },
      json: { type: 'boolean' },
    });
    if (values.help) {
      io.stdout.write(this.help);
      return ExitCode.ok;
    }
    const log = createStderrLogger(io.stderr);
    const dryRun = values['dry-run'] ?? false;

    if (values.ledger) {
      if (values.provider || values.region || values['older-than']) {
        throw new ConfigError('sweep: --ledger cannot be combined with --provider, --region or --older-than');
      }
      const ledger = await Ledger.open(values.ledger).catch((error: NodeJS.ErrnoException) => {
        throw new ConfigError(`sweep: cannot read ledger ${values.ledger}: ${error.code ?? error.message}`);
      });
      const settings = ledger.providerOptions as unknown as ProviderSettings;
      const report = await cleanupLedger(ledger, () => createProvider(settings, log), log, {
        dryRun,
        includeKept: values.kept ?? false,
      });
      if (values.json) {
        io.stdout.write(
          `${JSON.stringify(
            {
              // `id` is the provider's id (found again for an entry whose create answer was lost),
              // null for an entry that was never created; `key` is the ledger's own name for it.
              deleted: report.deleted.map((e) => ({ kind: e.kind, id: e.id, key: e.key })),
              failed: report.failed.map((f) => ({
                kind: f.entry.kind,
                id: f.entry.id,
                key: f.entry.key,
                error: f.message,
              })),
            },
            null,
            2,
          )}\n`,
        );
      } else {
        log.info(
          `${dryRun ? 'would delete' : 'deleted'} ${report.deleted.length}, failed ${report.failed.length}`,
        );
      }
      return report.failed.length ? ExitCode.pipelineError : ExitCode.ok;
    }

    if (values.kept) throw new ConfigError('sweep: --kept only applies to --ledger');
    const olderThanMs = values['older-than']
      ? requireDuration('--older-than', values['older-than'])
      : undefined;
    const regions = values.region ?? [];
    const provider = await providerForName(values.provider ?? 'local', io.env, log, regions[0] ?? null);
    const swept = await provider.sweep({ dryRun, ...(olderThanMs ? { olderThanMs } : {}), regions }, log);
    if (values.json) {
      io.stdout.write(`${JSON.stringify(swept, null, 2)}\n`);
    } else {
      for (const r of swept) {
        log.info(
          `${r.deleted ? 'deleted' : dryRun ? 'would delete' : 'could not delete'} ${r.kind} ${r.id}: ${r.error ?? r.reason}`,
        );
      }
      log.info(`${swept.length} resource(s) ${dryRun ? 'found' : 'swept'}`);
    }
    return swept.some((r) => !r.deleted && !dryRun) ? ExitCode.pipelineError : ExitCode.ok;
  },
};
