/**
 * Benchmark (a) of issue 3: boot-to-SSH of a local instance (provider.launch + the SSH readiness loop
 * with the network probe, until a pinned-key session is open) versus the bare QEMU boot of the same
 * disk until the console shows the sshd start line. The difference is the overhead of ovenproof's
 * readiness detection. Rounds alternate which variant goes first. Prints ONE result line at the end.
 *
 *   npx tsx bench/boot-to-ssh.ts [rounds=3]
 */
import { performance } from 'node:perf_hooks';
import { randomBytes } from 'node:crypto';
import { createLocalProvider } from '../src/providers/local/index.js';
import type { RunContext } from '../src/providers/provider.js';
import { generateEd25519KeyPair, waitForSsh } from '../src/ssh/index.js';
import { silentLogger } from '../src/common/log.js';

const rounds = Number(process.argv[2] ?? 3);
const provider = createLocalProvider({});
const journal = {
  intend: async () => undefined,
  created: async () => undefined,
  deleted: async () => undefined,
  kept: async () => undefined,
};
const ctx: RunContext = {
  runId: `bench-${randomBytes(3).toString('hex')}`,
  expiresAt: new Date(Date.now() + 60 * 60_000),
  journal,
  signal: new AbortController().signal,
  log: silentLogger,
  progress: () => undefined,
  tags: {},
};
const SSHD_STARTED = /Started .*ssh\.service/;

function identity() {
  const client = generateEd25519KeyPair('bench-client');
  const host = generateEd25519KeyPair('bench-host');
  return {
    clientKey: client.privateKey,
    identity: {
      hostname: 'bench',
      authorizedKey: client.publicKey,
      hostKeyPrivate: host.privateKey,
      hostKeyPublic: host.publicKey,
    },
  };
}

async function bootToSsh(imageId: string): Promise<number> {
  const { identity: id, clientKey } = identity();
  const t0 = performance.now();
  const info = await provider.launch(ctx, {
    imageId,
    purpose: 'test',
    identity: id,
    ttlMs: 600_000,
    sshUser: 'root',
  });
  try {
    const session = await waitForSsh(
      {
        host: info.host,
        port: info.port,
        user: 'root',
        privateKey: clientKey,
        hostKeyPublic: info.hostKeyPublic,
        networkProbe: info.networkProbe,
      },
      { timeoutMs: 300_000 },
    );
    const ms = performance.now() - t0;
    await session.close();
    return ms;
  } finally {
    await provider.terminate(ctx, info.id);
  }
}

async function bootToConsoleSshd(imageId: string): Promise<number> {
  const { identity: id } = identity();
  const t0 = performance.now();
  const info = await provider.launch(ctx, {
    imageId,
    purpose: 'test',
    identity: id,
    ttlMs: 600_000,
    sshUser: 'root',
  });
  try {
    for (;;) {
      if (SSHD_STARTED.test(await provider.consoleOutput(info.id))) return performance.now() - t0;
      if (performance.now() - t0 > 300_000) throw new Error('no sshd start line on the console after 300 s');
      await new Promise((r) => setTimeout(r, 20));
    }
  } finally {
    await provider.terminate(ctx, info.id);
  }
}

const { image, cacheHit } = await provider.buildBaseImage({ log: silentLogger });
const ssh: number[] = [];
const bare: number[] = [];
for (let round = 0; round < rounds; round++) {
  const order = round % 2 === 0 ? (['ssh', 'bare'] as const) : (['bare', 'ssh'] as const);
  for (const variant of order) {
    if (variant === 'ssh') ssh.push(await bootToSsh(image.id));
    else bare.push(await bootToConsoleSshd(image.id));
  }
  process.stderr.write(
    `round ${round + 1}: ssh-ready ${(ssh.at(-1)! / 1000).toFixed(1)} s, console sshd ${(bare.at(-1)! / 1000).toFixed(1)} s\n`,
  );
}
const median = (xs: number[]) => {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};
const s = median(ssh);
const b = median(bare);
console.log(
  `boot-to-ssh: median ssh-ready ${(s / 1000).toFixed(2)} s vs bare boot to console sshd ${(b / 1000).toFixed(2)} s ` +
    `= ratio ${(s / b).toFixed(2)} (readiness overhead ${((s - b) / 1000).toFixed(2)} s; rounds ${rounds}; ` +
    `accel ${process.env.OVENPROOF_ACCEL ?? 'auto'}; base ${image.id}${cacheHit ? '' : ' built now'}; target ssh-ready <= 12 s)`,
);
