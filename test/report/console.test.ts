import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { PipelineEvent } from '../../src/common/events.js';
import { ConsoleReporter } from '../../src/report/index.js';

function capture() {
  const out = new PassThrough();
  const chunks: string[] = [];
  out.on('data', (chunk: Buffer) => chunks.push(chunk.toString()));
  return { out, text: () => chunks.join('') };
}

const events: PipelineEvent[] = [
  { type: 'stage-start', stage: 'build', at: 0 },
  { type: 'output', stage: 'build', stream: 'stdout', text: 'make: compiling' },
  { type: 'output', stage: 'build', stream: 'stdout', text: '::add-mask::not-a-command\n' },
  { type: 'stage-end', stage: 'build', status: 'ok', at: 1200, durationMs: 1200 },
  { type: 'stage-start', stage: 'bake', at: 1200 },
  { type: 'progress', stage: 'bake', label: 'Mounting volume', fraction: 0.3, at: 1300 },
  { type: 'progress', stage: 'bake', label: 'Installing packages', fraction: 0.4, at: 2000 },
  { type: 'stage-end', stage: 'bake', status: 'failed', at: 6500, durationMs: 5300 },
];

function run(options: { tty: boolean; groups?: boolean }): string {
  const { out, text } = capture();
  const reporter = new ConsoleReporter(out, options);
  for (const event of events) reporter.onEvent(event);
  return text();
}

describe('ConsoleReporter', () => {
  it('prints one plain line per stage when not a terminal', () => {
    const text = run({ tty: false });
    expect(text).toBe(
      'make: compiling\n::add-mask::not-a-command\n✔ Build     ok       1.2s\n✖ Bake      failed   5.3s\n',
    );
  });

  it('draws a progress bar in place on a terminal', () => {
    const text = run({ tty: true });
    expect(text).toContain('\r\x1b[2K██████░░░░░░░░░░░░░░ 30% Bake Mounting volume');
    expect(text).toContain('████████░░░░░░░░░░░░ 40% Bake Installing packages');
    // Output and stage lines are printed above the bar, which is cleared first.
    expect(text).toContain('\r\x1b[2Kmake: compiling\n');
    expect(text).toContain('\r\x1b[2K✖ Bake      failed   5.3s\n');
  });

  it('groups each stage in the Actions log and keeps output from issuing workflow commands', () => {
    const text = run({ tty: false, groups: true });
    const lines = text.split('\n');
    expect(lines[0]).toBe('::group::Build');
    const stop = /^::stop-commands::([0-9a-f]{32})$/.exec(lines[1]!);
    expect(stop).not.toBeNull();
    expect(lines.slice(2, 6)).toEqual([
      'make: compiling',
      '::add-mask::not-a-command',
      `::${stop![1]}::`,
      '::endgroup::',
    ]);
    expect(lines).toContain('::group::Bake');
    expect(lines).toContain('Mounting volume…');
    expect(text).toMatch(/::endgroup::\n✖ Bake {6}failed {3}5.3s\n$/);
  });
});
