/**
 * Benchmark of the local warm boot: launch-to-SSH of a test instance restored from the image's warm
 * snapshot versus a cold boot of the same image (provider.launch + the SSH readiness loop until a
 * pinned-key session is open), interleaved round by round, plus what the snapshot costs (saved memory
 * state and the snapshot disk's own blocks). The snapshot is made first if missing (not timed as a
 * launch; its boot and save times are printed). Prints ONE result line at the end.
 *
 *   npx tsx bench/warm-boot.ts [rounds=3]
 */
import { performance } from 'node:perf_hooks';
import { randomBytes } from 'node:crypto';
import { createLocalProvider } from '../src/providers/local/index.js';
import { ensureWarmSnapshot } from '../src/providers/local/warm-snapshot.js';
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
const warnings: string[] = [];
const ctx: RunContext = {
  runId: `bench-${randomBytes(3).toString('hex')}`,
  expiresAt: new Date(Date.now() + 60 * 60_000),
  journal,
  signal: new AbortController().signal,
  log: { ...silentLogger, warn: (m) => warnings.push(m) },
  progress: () => undefined,
  tags: {},
};

async function launchToSsh(imageId: string, warmBoot: 'auto' | 'never'): Promise<number> {
  const client = generateEd25519KeyPair('bench-client');
  const host = generateEd25519KeyPair('bench-host');
  const t0 = performance.now();
  const info = await provider.launch(ctx, {
    imageId,
    purpose: 'test',
    identity: {
      hostname: 'bench',
      authorizedKey: client.publicKey,
      hostKeyPrivate: host.privateKey,
      hostKeyPublic: host.publicKey,
    },
    ttlMs: 600_000,
    sshUser: 'root',
    warmBoot,
  });
  try {
    const wanted = warmBoot === 'auto' ? 'restored' : 'cold';
    if (info.boot !== wanted)
      throw new Error(`wanted a ${wanted} launch, got ${info.boot}: ${warnings.join('; ')}`);
    const session = await waitForSsh(
      {
        host: info.host,
        port: info.port,
        user: 'root',
        privateKey: client.privateKey,
        hostKeyPublic: info.hostKeyPublic,
        networkProbe: info.networkProbe,
      },
      { timeoutMs: 300_000 },
    );
    const ms = performance.now() - t0;
    await session.close();
    // Where the time went, for reading alongside the result line.
    const launched = (info.steps ?? []).map((s) => `${s.name} ${(s.durationMs / 1000).toFixed(1)} s`);
    const inSteps = (info.steps ?? []).reduce((sum, s) => sum + s.durationMs, 0);
    process.stderr.write(
      `  ${info.boot}: ${[...launched, `then ssh ${((ms - inSteps) / 1000).toFixed(1)} s`].join(', ')}\n`,
    );
    return ms;
  } finally {
    await provider.terminate(ctx, info.id);
  }
}

const { image } = await provider.buildBaseImage({ log: silentLogger });
const internals = provider as unknown as {
  paths: Parameters<typeof ensureWarmSnapshot>[0];
  instanceOptions: Parameters<typeof ensureWarmSnapshot>[3];
};
const snapshot = await ensureWarmSnapshot(
  internals.paths,
  provider.store,
  provider.privileged,
  internals.instanceOptions,
  ctx,
  image,
);
const restored: number[] = [];
const cold: number[] = [];
for (let round = 0; round < rounds; round++) {
  const order = round % 2 === 0 ? (['restore', 'cold'] as const) : (['cold', 'restore'] as const);
  for (const variant of order) {
    if (variant === 'restore') restored.push(await launchToSsh(image.id, 'auto'));
    else cold.push(await launchToSsh(image.id, 'never'));
  }
  process.stderr.write(
    `round ${round + 1}: restore ${(restored.at(-1)! / 1000).toFixed(1)} s, cold ${(cold.at(-1)! / 1000).toFixed(1)} s\n`,
  );
}
const median = (xs: number[]) => {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};
const r = median(restored);
const c = median(cold);
const mib = (bytes: number) => `${(bytes / 1048576).toFixed(0)} MiB`;
console.log(
  `warm-boot: restore ${(r / 1000).toFixed(2)} s vs cold ${(c / 1000).toFixed(2)} s = ratio ${(r / c).toFixed(2)} ` +
    `(median launch-to-SSH of ${rounds} interleaved rounds; snapshot RAM ${mib(snapshot.memoryBytes)} + device state ${mib(snapshot.stateBytes)}, ` +
    `disk ${mib(snapshot.diskBytes)} over the image, made in ${((snapshot.bootMs + snapshot.saveMs) / 1000).toFixed(1)} s; ` +
    `accel ${snapshot.machine.accel}; image ${image.id}; target ratio <= 0.15)`,
);
