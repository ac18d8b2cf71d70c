/**
 * The files a warm snapshot's disk gets: the agent compiles under the system Perl (it runs only inside
 * a guest, where a syntax error would surface as a slow fallback to a cold boot), and the sshd drop-in
 * lets a cold boot of the same disk start sshd exactly as the image does.
 */
import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WARM_AGENT_PATH, warmAgentFiles } from '../../src/providers/local/warm-agent.js';

const files = warmAgentFiles();
const byPath = (path: string) => {
  const file = files.find((f) => f.path === path);
  if (!file) throw new Error(`no ${path} among the warm agent files`);
  return file;
};

describe('warm agent files', () => {
  it('the agent is a Perl script that compiles, with every placeholder filled in', async () => {
    const agent = byPath(WARM_AGENT_PATH);
    expect(agent.mode).toBe(0o755);
    expect(agent.content.startsWith('#!/usr/bin/perl\n')).toBe(true);
    expect(agent.content).not.toMatch(/@[A-Z_]+@/);
    const dir = await mkdtemp(join(tmpdir(), 'ovenproof-agent-'));
    const script = join(dir, 'agent.pl');
    await writeFile(script, agent.content);
    // `perl -c` compiles without running: it fails on a syntax error or a missing module.
    const out = execFileSync('perl', ['-c', script], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    expect(out).toBe('');
  });

  it('sshd starts in a cold boot as usual, and in a warm one only with the options the agent wrote', () => {
    const dropIn = byPath('/etc/systemd/system/ssh.service.d/60-ovenproof-warm.conf').content;
    // Either condition suffices: no `ovenproof.warm` on the kernel command line, or the agent's file.
    expect(dropIn).toContain('ConditionKernelCommandLine=|!ovenproof.warm\n');
    expect(dropIn).toContain('ConditionPathExists=|/run/ovenproof/sshd-warm.env\n');
    // Optional ("-"), and in /run: a cold boot never has it, so sshd keeps the image's options.
    expect(dropIn).toContain('EnvironmentFile=-/run/ovenproof/sshd-warm.env\n');
    expect(dropIn).not.toMatch(/^ExecStart=/m);
    for (const file of files) expect(file.path.startsWith('/'), file.path).toBe(true);
  });
});
