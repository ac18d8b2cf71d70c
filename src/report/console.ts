/**
 * Human progress for the CLI (stderr) and the Action log: a live bar on a TTY, one plain line per stage
 * otherwise, and in GitHub Actions a collapsible log group per stage for build, bake and test output.
 */
import { randomBytes } from 'node:crypto';
import { formatDuration } from '../common/duration.js';
import type { PipelineEvent } from '../common/events.js';
import type { StageName } from '../common/run-result.js';
import { STAGES } from '../common/run-result.js';
import { stageLabel } from './summary.js';
import { progressBar } from './text.js';
import { escapeCommandData } from './workflow-commands.js';

export interface ConsoleReporterOptions {
  /** Redraw one status line in place (stderr is a terminal). */
  tty: boolean;
  /** Wrap each stage's output in `::group::` (GitHub Actions log). */
  groups?: boolean;
}

const STATUS_MARK = { ok: '✔', failed: '✖', skipped: '–' } as const;

export class ConsoleReporter {
  private stage: StageName | null = null;
  private label = '';
  private fraction = 0;
  private stageStartedAt = 0;
  private barShown = false;
  private groupOpen = false;
  /** Token of the active `::stop-commands::` block, so that test output cannot issue workflow commands. */
  private stopToken: string | null = null;

  constructor(
    private readonly out: NodeJS.WritableStream,
    private readonly options: ConsoleReporterOptions,
  ) {}

  onEvent(event: PipelineEvent): void {
    switch (event.type) {
      case 'stage-start':
        this.stage = event.stage;
        this.label = '';
        this.stageStartedAt = event.at;
        this.fraction = Math.max(this.fraction, STAGES.indexOf(event.stage) / STAGES.length);
        if (this.options.groups) {
          this.write(`::group::${escapeCommandData(stageLabel(event.stage))}\n`);
          this.groupOpen = true;
        }
        this.drawBar();
        break;
      case 'progress':
        this.stage = event.stage;
        this.fraction = Math.min(1, Math.max(0, event.fraction));
        if (event.label !== this.label) {
          this.label = event.label;
          if (!this.options.tty && this.options.groups) this.printAboveBar(`${event.label}…\n`);
        }
        this.drawBar();
        break;
      case 'output':
        this.printOutput(event.text);
        break;
      case 'stage-end': {
        this.fraction = Math.max(this.fraction, (STAGES.indexOf(event.stage) + 1) / STAGES.length);
        this.endStopCommands();
        if (this.groupOpen) {
          this.write('::endgroup::\n');
          this.groupOpen = false;
        }
        const line = `${STATUS_MARK[event.status]} ${stageLabel(event.stage).padEnd(9)} ${event.status.padEnd(8)} ${formatDuration(event.durationMs)}\n`;
        this.printAboveBar(line);
        if (this.stage === event.stage) this.stage = null;
        this.drawBar();
        break;
      }
    }
  }

  private write(text: string): void {
    this.out.write(text);
  }

  private clearBar(): void {
    if (this.barShown) {
      this.write('\r\x1b[2K');
      this.barShown = false;
    }
  }

  private drawBar(): void {
    if (!this.options.tty || !this.stage) return;
    const elapsed = formatDuration(Math.max(0, Date.now() - this.stageStartedAt));
    const label = this.label ? ` ${this.label}` : '';
    this.write(`\r\x1b[2K${progressBar(this.fraction)} ${stageLabel(this.stage)}${label} · ${elapsed}`);
    this.barShown = true;
  }

  private printAboveBar(text: string): void {
    this.clearBar();
    this.write(text);
  }

  private printOutput(text: string): void {
    if (this.options.groups && !this.stopToken) {
      this.stopToken = randomBytes(16).toString('hex');
      this.write(`::stop-commands::${this.stopToken}\n`);
    }
    this.printAboveBar(text.endsWith('\n') ? text : `${text}\n`);
    this.drawBar();
  }

  private endStopCommands(): void {
    if (!this.stopToken) return;
    this.clearBar();
    this.write(`::${this.stopToken}::\n`);
    this.stopToken = null;
  }
}
