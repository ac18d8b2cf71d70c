/**
 * Volume bake vs instance bake vs Debian's packer 1.6.6 (qemu builder, TCG) baking the same packages
 * (a freshly built .deb + jq from the distribution) onto the same local base image, interleaved in one
 * run and reported as ratios to the volume bake.
 *
 *   npx tsx bench/bake.ts [rounds=2]
 *
 * Needs root, qemu-system-x86, packer (Debian package) and the local base image (built on first use).
 * packer gets what it needs to reach the base exactly like ovenproof does: the image's kernel and initrd
 * booted directly, the identity seed disk (so the base accepts packer's key), a forward bound to
 * 127.0.0.1. Its provisioning runs the same commands the baker runs (update, install, identity init,
 * hygiene). Packer's checkpoint call home is disabled; all traffic stays on 127.0.0.0/8 plus the
 * distribution mirror that every strategy uses for apt.
 */
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bakeImage, type BakeRequest } from '../src/baker/index.js';
import { aptPlugin } from '../src/baker/os/apt.js';
import { imageHygieneScript } from '../src/baker/steps/hygiene.js';
import { silentLogger } from '../src/common/log.js';
import {
  IDENTITY_DOCUMENT_NAME,
  formatIdentityDocument,
  identityInitFiles,
} from '../src/providers/identity/index.js';
import { KERNEL_CMDLINE, createLocalProvider } from '../src/providers/local/index.js';
import type { ImageManifest } from '../src/providers/provider.js';
import { generateEd25519KeyPair, shQuote } from '../src/ssh/index.js';
import { testContext } from '../test/baker/helpers/context.js';
import { buildMarkerDeb } from '../test/baker/helpers/test-deb.js';

type Contender = 'volume' | 'instance' | 'packer';

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};
const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** The same provisioning the baker does, as one script for packer's shell provisioner. */
function packerProvisioning(debOnGuest: string): string {
  const identity = identityInitFiles()
    .map((file) =>
      file.symlinkTo
        ? `mkdir -p "$(dirname ${shQuote(file.path)})" && ln -sfn ${shQuote(file.symlinkTo)} ${shQuote(file.path)}`
        : `mkdir -p "$(dirname ${shQuote(file.path)})" && printf %s ${shQuote(Buffer.from(file.content).toString('base64'))} | base64 -d > ${shQuote(file.path)} && chmod ${file.mode.toString(8)} ${shQuote(file.path)}`,
    )
    .join('\n');
  const env = Object.entries(aptPlugin.env)
    .map(([k, v]) => `export ${k}=${shQuote(v)}`)
    .join('\n');
  return [
    'set -e',
    env,
    aptPlugin.updateIndexScript(),
    aptPlugin.installScript([debOnGuest], ['jq']),
    identity,
    imageHygieneScript(aptPlugin),
    'sync',
  ].join('\n');
}

async function packerBake(
  base: ImageManifest,
  disk: { disk: string; kernel: string; initrd: string },
  deb: string,
) {
  const dir = mkdtempSync(join(tmpdir(), 'ovenproof-bench-packer-'));
  try {
    const client = generateEd25519KeyPair('packer-bench');
    const host = generateEd25519KeyPair('packer-bench-host');
    const keyFile = join(dir, 'client_key');
    writeFileSync(keyFile, client.privateKey, { mode: 0o600 });
    const seedDir = join(dir, 'seed');
    mkdirSync(seedDir);
    writeFileSync(
      join(seedDir, IDENTITY_DOCUMENT_NAME),
      formatIdentityDocument({
        instanceId: `packer-${Date.now()}`,
        identity: {
          hostname: 'packer-builder',
          authorizedKey: client.publicKey,
          hostKeyPrivate: host.privateKey,
          hostKeyPublic: host.publicKey,
        },
        sshUser: 'root',
        ttlMs: 30 * 60_000,
      }),
      { mode: 0o600 },
    );
    const seed = join(dir, 'seed.tar');
    execFileSync('tar', ['-cf', seed, '-C', seedDir, '--owner=0', '--group=0', IDENTITY_DOCUMENT_NAME]);
    const script = join(dir, 'provision.sh');
    writeFileSync(script, packerProvisioning('/var/tmp/ovenproof-bench.deb'));
    chmodSync(script, 0o755);
    const cmdline = base.tags['ovenproof:cmdline'] ?? KERNEL_CMDLINE;
    const template = {
      builders: [
        {
          type: 'qemu',
          disk_image: true,
          iso_url: `file://${disk.disk}`,
          iso_checksum: 'none',
          format: 'raw',
          accelerator: 'tcg',
          headless: true,
          vnc_bind_address: '127.0.0.1',
          output_directory: join(dir, 'out'),
          vm_name: 'disk.raw',
          memory: 1024,
          cpus: 2,
          disk_interface: 'virtio',
          net_device: 'virtio-net',
          communicator: 'ssh',
          ssh_username: 'root',
          ssh_private_key_file: keyFile,
          ssh_timeout: '10m',
          // packer 1.6.6 treats "0s" as unset (10 s); the boot needs no keystrokes at all.
          boot_wait: '1s',
          shutdown_command: 'poweroff',
          qemuargs: [
            ['-kernel', disk.kernel],
            ['-initrd', disk.initrd],
            ['-append', `${cmdline} ovenproof.seed=/dev/vdb`],
            ['-cpu', 'qemu64,+rdrand'],
            ['-display', 'none'],
            ['-serial', `file:${join(dir, 'console.log')}`],
            // packer's default forward listens on every interface; keep it on loopback.
            ['-netdev', 'user,id=user.0,hostfwd=tcp:127.0.0.1:{{ .SSHHostPort }}-:22'],
            ['-drive', 'file={{ .OutputDir }}/{{ .Name }},if=virtio,cache=writeback,format=raw'],
            ['-drive', `file=${seed},if=virtio,format=raw,readonly=on`],
            ['-device', 'virtio-rng-pci'],
          ],
        },
      ],
      provisioners: [
        { type: 'file', source: deb, destination: '/var/tmp/ovenproof-bench.deb' },
        { type: 'shell', script },
      ],
    };
    writeFileSync(join(dir, 'template.json'), JSON.stringify(template, null, 2));
    const t0 = performance.now();
    await new Promise<void>((resolve, reject) => {
      const child = spawn('packer', ['build', '-color=false', join(dir, 'template.json')], {
        cwd: dir,
        env: {
          ...process.env,
          CHECKPOINT_DISABLE: '1',
          PACKER_CACHE_DIR: join(dir, 'cache'),
          PACKER_NO_COLOR: '1',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let log = '';
      child.stdout.on('data', (c: Buffer) => (log += c.toString()));
      child.stderr.on('data', (c: Buffer) => (log += c.toString()));
      child.on('error', reject);
      child.on('close', (code) =>
        code === 0
          ? resolve()
          : reject(new Error(`packer build failed (exit ${code}):\n${log.slice(-3000)}`)),
      );
    });
    return performance.now() - t0;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const rounds = Number(process.argv[2] ?? 2);
  const provider = createLocalProvider({});
  const base = (await provider.buildBaseImage({})).image;
  const files = provider.store.files(base.id);
  const work = mkdtempSync(join(tmpdir(), 'ovenproof-bench-bake-'));
  const deb = buildMarkerDeb(work);
  const { ctx } = await testContext(join(work, 'ledger.json'), { log: silentLogger });
  const request = (strategy: 'volume' | 'instance', i: number): BakeRequest => ({
    baseImage: base.id,
    packageFiles: [deb],
    packages: ['jq'],
    provisionScript: `# bench ${process.pid} ${strategy} ${i}\ntrue`,
    strategy,
    sshUser: 'root',
  });
  const bake = async (strategy: 'volume' | 'instance', i: number) => {
    const t0 = performance.now();
    const outcome = await bakeImage(provider, request(strategy, i), ctx);
    const ms = performance.now() - t0;
    await provider.deregisterImage(ctx, outcome.image.id);
    return ms;
  };
  // Warm-up (not counted): the host's package-list cache the volume bake reuses between bakes.
  await bake('volume', -1);

  const samples: Record<Contender, number[]> = { volume: [], instance: [], packer: [] };
  const order: Contender[] = ['volume', 'instance', 'packer'];
  for (let round = 0; round < rounds; round++) {
    // Rotate the order each round so that no contender always runs first (page cache, mirror).
    const turn = [...order.slice(round % 3), ...order.slice(0, round % 3)];
    for (const who of turn) {
      const ms = who === 'packer' ? await packerBake(base, files, deb) : await bake(who, round);
      samples[who].push(ms);
      process.stderr.write(`round ${round + 1}: ${who} ${s(ms)}\n`);
    }
  }
  const v = median(samples.volume);
  const i = median(samples.instance);
  const p = median(samples.packer);
  console.log(`bake of ${deb.split('/').pop()} + jq onto ${base.id}, median of ${rounds} interleaved rounds`);
  for (const who of order) console.log(`  ${who.padEnd(9)} ${samples[who].map(s).join(', ')}`);
  console.log(
    `bake: volume ${s(v)}, instance ${s(i)} (${(i / v).toFixed(1)}x volume), packer 1.6.6 ${s(p)} ` +
      `(${(p / v).toFixed(1)}x volume, ${(p / i).toFixed(2)}x instance)`,
  );
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
