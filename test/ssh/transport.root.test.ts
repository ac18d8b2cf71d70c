import { existsSync } from 'node:fs';
import { mkdtemp, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HostKeyMismatchError } from '../../src/common/errors.js';
import type { Logger } from '../../src/common/log.js';
import { generateEd25519KeyPair, runAndCollect, waitForSsh } from '../../src/ssh/index.js';
import { startProxy, startSshd, type TestSshd } from './sshd.js';
import { budgets, ovenproofDeadlines, testDeadlines, timeoutFor } from '../support/timeouts.js';

function recordingLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  return {
    lines,
    info: (m) => lines.push(`info ${m}`),
    warn: (m) => lines.push(`warn ${m}`),
    debug: (m) => lines.push(`debug ${m}`),
    mask: () => undefined,
  };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function until(check: () => boolean | Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`gave up waiting: ${what}`);
}

/**
 * The longest test, the dropped connection: the result fetch connects (within its reconnect window),
 * runs the command (its deadline spans both connections) and connects once more after the drop.
 */
const LONGEST = timeoutFor(
  ovenproofDeadlines.resultReconnect,
  testDeadlines.localCommand,
  ovenproofDeadlines.resultReconnect,
);

describe('SSH transport against a real OpenSSH sshd on 127.0.0.1 (root)', { timeout: LONGEST }, () => {
  let sshd: TestSshd;
  let work: string;

  beforeAll(async () => {
    sshd = await startSshd();
    work = await mkdtemp(join(tmpdir(), 'ovenproof-ssh-work-'));
  }, timeoutFor(budgets.hostCommands));
  afterAll(async () => {
    await sshd?.stop();
    await rm(work, { recursive: true, force: true });
  }, timeoutFor(budgets.hostCommands));

  it('connects with the pinned host key and reports exit codes (root)', async () => {
    const session = await waitForSsh(sshd.target, { timeoutMs: testDeadlines.localSshReady });
    try {
      let out = '';
      const result = await session.exec(`printf '%s|' "it's" '$HOME' "$((6+1))"; exit 7`, {
        onStdout: (t) => (out += t),
      });
      expect(result).toEqual({ exitCode: 7, signal: null, timedOut: false });
      expect(out).toBe("it's|$HOME|7|");
    } finally {
      await session.close();
    }
  });

  it('refuses a mismatching host key at once and does not retry (root)', async () => {
    const proxy = await startProxy(sshd.port);
    const log = recordingLogger();
    try {
      const impostorKey = generateEd25519KeyPair('not-the-instance').publicKey;
      const error = await waitForSsh(
        { ...sshd.target, port: proxy.port, hostKeyPublic: impostorKey },
        { timeoutMs: testDeadlines.localSshReady, log },
      ).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(HostKeyMismatchError);
      expect((error as Error).message).toMatch(
        new RegExp(`127\\.0\\.0\\.1:${proxy.port} offered host key SHA256:`),
      );
      expect(proxy.connections).toBe(1);
      expect(log.lines.filter((l) => l.includes('not ready'))).toEqual([]);
      expect((error as Error).message).not.toContain(sshd.clientKey.privateKey.split('\n')[1]!);
    } finally {
      await proxy.close();
    }
  });

  it('streams output before the command ends (root)', async () => {
    const gate = join(work, 'stream-gate');
    const session = await waitForSsh(sshd.target, { timeoutMs: testDeadlines.localSshReady });
    try {
      const seen: string[] = [];
      // The command only finishes after the test saw its first line: without live streaming it would
      // run into its timeout instead.
      const result = await session.exec(
        `echo first; echo err-first >&2; while [ ! -e ${gate} ]; do sleep 0.05; done; echo second`,
        {
          timeoutMs: testDeadlines.localCommand,
          onStdout: (text) => {
            seen.push(`out:${text.trim()}`);
            if (text.includes('first')) void writeFile(gate, '');
          },
          onStderr: (text) => seen.push(`err:${text.trim()}`),
        },
      );
      expect(result).toEqual({ exitCode: 0, signal: null, timedOut: false });
      expect(seen).toContain('out:first');
      expect(seen).toContain('err:err-first');
      expect(seen.indexOf('out:first')).toBeLessThan(seen.indexOf('out:second'));
    } finally {
      await session.close();
    }
  });

  it('kills the whole remote process group on timeout (root)', async () => {
    const pids = join(work, 'timeout-pids');
    const session = await waitForSsh(sshd.target, { timeoutMs: testDeadlines.localSshReady });
    try {
      const result = await session.exec(
        `sleep 300 & echo $! > ${pids}; sh -c 'echo $$ >> ${pids}; sleep 300'; echo never`,
        { timeoutMs: 1_500 },
      );
      expect(result.timedOut).toBe(true);
      expect(result.exitCode).toBeNull();
      const recorded = (await readFile(pids, 'utf8')).trim().split('\n').map(Number);
      expect(recorded).toHaveLength(2);
      await until(() => recorded.every((pid) => !alive(pid)), 'remote processes to die');
    } finally {
      await session.close();
    }
  });

  it('uploads with a mode and fetches result files by glob with a size limit (root)', async () => {
    const remote = join(work, 'remote results');
    await mkdir(join(remote, 'sub'), { recursive: true });
    await writeFile(join(remote, 'a.xml'), '<a/>');
    await writeFile(join(remote, 'sub', 'a.xml'), '<sub/>');
    await writeFile(join(remote, 'with space;$(x).xml'), '<odd/>');
    await writeFile(join(remote, 'notes.txt'), 'not matched');
    await writeFile(join(remote, 'big.xml'), 'x'.repeat(5000));
    const local = join(work, 'fetched');
    const session = await waitForSsh(sshd.target, { timeoutMs: testDeadlines.localSshReady });
    try {
      const script = join(work, 'script.sh');
      await writeFile(script, '#!/bin/sh\necho uploaded\n');
      await session.upload(script, join(remote, 'run.sh'), 0o755);
      expect((await stat(join(remote, 'run.sh'))).mode & 0o777).toBe(0o755);

      const files = await session.download(
        [`${remote}/*.xml`, `${remote}/sub/*.xml`, `${remote}/missing/*.xml`, `${remote}/a.xml`],
        local,
        { maxBytes: 1000 },
      );
      const byRemote = Object.fromEntries(files.map((f) => [f.remotePath, f]));
      expect(Object.keys(byRemote).sort()).toEqual(
        [
          `${remote}/a.xml`,
          `${remote}/big.xml`,
          `${remote}/sub/a.xml`,
          `${remote}/with space;$(x).xml`,
        ].sort(),
      );
      expect(await readFile(byRemote[`${remote}/sub/a.xml`]!.localPath, 'utf8')).toBe('<sub/>');
      expect(await readFile(byRemote[`${remote}/a.xml`]!.localPath, 'utf8')).toBe('<a/>');
      expect(await readFile(byRemote[`${remote}/with space;$(x).xml`]!.localPath, 'utf8')).toBe('<odd/>');
      expect(byRemote[`${remote}/big.xml`]).toMatchObject({ bytes: 1000, truncated: true });
      expect(byRemote[`${remote}/a.xml`]).toMatchObject({ bytes: 4, truncated: false });
      expect(new Set(files.map((f) => f.localPath)).size).toBe(files.length);
    } finally {
      await session.close();
    }
  });

  it('still yields the results when the connection drops after the command (root)', async () => {
    const proxy = await startProxy(sshd.port);
    const dir = join(work, 'dropped');
    await mkdir(dir, { recursive: true });
    const gate = join(dir, 'gate');
    const log = recordingLogger();
    try {
      let out = '';
      const result = await runAndCollect(
        { ...sshd.target, port: proxy.port },
        // The test cuts the connection when it sees MARK, then lets the command finish: its exit status
        // can only arrive through the reconnection.
        `echo '<testsuite name="s" tests="1"/>' > ${dir}/junit.xml; echo MARK; ` +
          `while [ ! -e ${gate} ]; do sleep 0.05; done; exit 3`,
        [`${dir}/*.xml`],
        {
          localDir: join(work, 'dropped-fetched'),
          maxBytes: 1 << 20,
          log,
          exec: {
            timeoutMs: testDeadlines.localCommand,
            onStdout: (text) => {
              out += text;
              if (text.includes('MARK')) {
                proxy.cutAll();
                void writeFile(gate, '');
              }
            },
          },
        },
      );
      expect(out).toContain('MARK');
      expect(result.reconnected).toBe(true);
      expect(result.exec).toEqual({ exitCode: 3, signal: null, timedOut: false });
      expect(result.files).toHaveLength(1);
      expect(await readFile(result.files[0]!.localPath, 'utf8')).toContain('<testsuite name="s"');
      expect(proxy.connections).toBe(2);
      expect(log.lines.some((l) => l.startsWith('warn') && l.includes('reconnecting once'))).toBe(true);
    } finally {
      await proxy.close();
    }
  });

  it('never logs the private key while connecting and running (root)', async () => {
    const log = recordingLogger();
    const session = await waitForSsh(sshd.target, { timeoutMs: testDeadlines.localSshReady, log });
    await session.exec('true');
    await session.close();
    const body = sshd.clientKey.privateKey.split('\n').slice(1, -2).join('');
    for (const line of log.lines) expect(line.replace(/\s/g, '')).not.toContain(body.slice(0, 40));
    expect(existsSync(sshd.dir)).toBe(true);
  });
});
