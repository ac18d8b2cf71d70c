/**
 * keep-instance: on-failure keeps what the launch left running, and nothing the launch had already
 * removed: a local launch that first makes the image's warm snapshot creates and deletes a work
 * folder of its own on the way.
 */
import { mkdtemp, readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Provider } from '../../src/providers/provider.js';
import { runOnStandIn, standInProvider } from '../support/stand-ins.js';

/** A loopback port nothing listens on: every SSH attempt to it is refused. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('keep-instance', () => {
  it('on-failure keeps the instance of a run whose launch failed, not the scratch its launch had removed', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ovenproof-keep-'));
    const port = await closedPort();
    const keptByProvider: string[] = [];
    const terminated: string[] = [];
    // Images come from a stand-in: an earlier kept bake is found by its key, so nothing is baked.
    const provider = standInProvider({
      launch: async (...[ctx, spec]: Parameters<Provider['launch']>) => {
        // Scratch of the launch's own, made and removed before the instance exists.
        const scratch = `file:${dir}/work/warm-snapshot-scratch`;
        await ctx.journal.intend({ key: scratch, provider: 'local', kind: 'file', data: { path: scratch } });
        await ctx.journal.created(scratch, scratch);
        await ctx.journal.deleted(scratch);
        await ctx.journal.intend({ key: 'instance:i-kept', provider: 'local', kind: 'instance' });
        await ctx.journal.created('instance:i-kept', 'i-kept');
        return {
          id: 'i-kept',
          host: '127.0.0.1',
          port,
          user: spec.sshUser,
          hostKeyPublic: spec.identity.hostKeyPublic,
          boot: 'cold' as const,
        };
      },
      consoleOutput: async () => '',
      keepInstance: async (id: string) => void keptByProvider.push(id),
      terminate: async (_ctx: unknown, id: string) => void terminated.push(id),
    });
    const outcome = await runOnStandIn(
      provider,
      {
        provider: 'local',
        test: 'true',
        packages: 'jq',
        'keep-instance': 'on-failure',
        'ssh-timeout': '2s',
      },
      dir,
    );

    // The run failed at SSH, in launch (exit 2, not a test failure): the instance is kept for debugging,
    // and teardown went through.
    expect(outcome.result.error?.stage).toBe('launch');
    expect(outcome.result.error?.message).toMatch(/SSH/);
    expect(outcome.result.stages.find((s) => s.name === 'teardown')?.status).toBe('ok');
    expect(outcome.exitCode).toBe(2);
    expect(keptByProvider).toEqual(['i-kept']);
    expect(terminated).toEqual([]);
    const ledger = JSON.parse(await readFile(outcome.ledgerPath, 'utf8')) as {
      entries: Array<{ key: string; state: string }>;
    };
    const states = Object.fromEntries(ledger.entries.map((e) => [e.key, e.state]));
    expect(states['instance:i-kept']).toBe('kept');
    expect(states[`file:${dir}/work/warm-snapshot-scratch`]).toBe('deleted');
  });
});
