/**
 * Local instances: QEMU booting a throw-away qcow2 overlay over an image's read-only raw disk, with the
 * image's kernel and tiny initrd, a seed disk carrying the identity document, user-mode networking that
 * forwards SSH and a closed-port probe to 127.0.0.1 only, and the serial console in a file. QEMU runs
 * detached under `timeout`, which kills it after the TTL even if ovenproof is gone.
 */
import { spawn } from 'node:child_process';
import { chmod, mkdir, open, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { writeFileAtomic } from '../../common/atomic-file.js';
import { PipelineError, errorMessage } from '../../common/errors.js';
import type { Logger } from '../../common/log.js';
import type { InstanceInfo, LaunchSpec, RunContext } from '../provider.js';
import { formatIdentityDocument, IDENTITY_DOCUMENT_NAME } from '../identity/index.js';
import { mustRun } from '../../common/host/command.js';
import { currentOwner, readJson, type Owner } from './owner.js';
import { isProcessAlive } from '../../common/host/process.js';
import { assertSafeId, type LocalPaths } from './paths.js';
import { chooseAccel, freePort, qmpCommand, type Accel } from './qemu.js';
import { WARM_PORT_NAME } from './warm-agent.js';
import type { ImageStore } from './store.js';
import { KERNEL_CMDLINE } from './base-image.js';

export interface InstanceRecord {
  id: string;
  imageId: string;
  purpose: LaunchSpec['purpose'];
  runId: string;
  owner: Owner;
  state: 'launching' | 'running' | 'stopped';
  createdAt: string;
  expiresAt: string;
  accel?: 'kvm' | 'tcg';
  sshPort?: number;
  probePort?: number;
  /** `timeout` watchdog process and the QEMU process under it. */
  watchdogPid?: number;
  qemuPid?: number;
  user: string;
  hostKeyPublic: string;
  /** Kept on purpose (keep-instance): sweep removes it only after its expiry, not when its owner exits. */
  kept?: boolean;
  /** How it came up: booted from the image, or restored from the image's warm snapshot. */
  boot?: 'cold' | 'restored';
}

export interface InstanceOptions {
  memoryMiB: number;
  cpus: number;
  /** How long terminate waits for a graceful power-off before killing QEMU. */
  terminateGraceMs: number;
  stopTimeoutMs: number;
}

/** Guest port forwarded as the network probe: nothing listens there, so the guest answers with a reset. */
const CLOSED_GUEST_PORT = 9;

export const instanceKey = (id: string) => `instance:${id}`;

export function instanceDir(paths: LocalPaths, id: string): string {
  assertSafeId('instance', id);
  return join(paths.instances, id);
}

export function instanceFiles(paths: LocalPaths, id: string) {
  const dir = instanceDir(paths, id);
  return {
    dir,
    record: join(dir, 'instance.json'),
    overlay: join(dir, 'overlay.qcow2'),
    seed: join(dir, 'seed.tar'),
    console: join(dir, 'console.log'),
    qemuLog: join(dir, 'qemu.log'),
    qmp: join(dir, 'qmp.sock'),
    agent: join(dir, 'agent.sock'),
    pidfile: join(dir, 'qemu.pid'),
  };
}

export async function readInstance(paths: LocalPaths, id: string): Promise<InstanceRecord | null> {
  return readJson<InstanceRecord>(instanceFiles(paths, id).record);
}

export async function writeInstance(paths: LocalPaths, record: InstanceRecord): Promise<void> {
  await writeFileAtomic(instanceFiles(paths, record.id).record, JSON.stringify(record, null, 2));
}

/** Writes the seed tar: one file, the identity document (it holds the host private key: mode 0600). */
async function writeSeed(dir: string, document: string): Promise<string> {
  const seedDir = join(dir, 'seed');
  await mkdir(seedDir, { mode: 0o700 });
  const doc = join(seedDir, IDENTITY_DOCUMENT_NAME);
  await writeFile(doc, document, { mode: 0o600 });
  const tar = join(dir, 'seed.tar');
  try {
    await mustRun('launch', 'tar', [
      '-cf',
      tar,
      '-C',
      seedDir,
      '--owner=0',
      '--group=0',
      IDENTITY_DOCUMENT_NAME,
    ]);
    await chmod(tar, 0o600);
  } finally {
    await rm(seedDir, { recursive: true, force: true });
  }
  return tar;
}

export interface LaunchStep {
  name: string;
  startedAt: string;
  durationMs: number;
}

/** Times one launch step for the result JSON. */
export async function timedStep<T>(steps: LaunchStep[], name: string, fn: () => Promise<T>): Promise<T> {
  const started = Date.now();
  try {
    return await fn();
  } finally {
    steps.push({ name, startedAt: new Date(started).toISOString(), durationMs: Date.now() - started });
  }
}

/** What a launched local instance is, plus how it came up. */
export interface LocalInstance extends InstanceInfo {
  boot: 'cold' | 'restored';
  steps: LaunchStep[];
}

/** One instance's life from the journal's point of view: whatever `body` builds is removed if it fails. */
export async function withNewInstance<T>(
  paths: LocalPaths,
  ctx: RunContext,
  spec: LaunchSpec,
  body: (id: string, ttlMs: number, expiresAt: Date) => Promise<T>,
): Promise<T> {
  const id = `i-${randomBytes(6).toString('hex')}`;
  const files = instanceFiles(paths, id);
  const ttlMs = Math.max(60_000, spec.ttlMs);
  const expiresAt = new Date(
    Math.min(Date.now() + ttlMs, Math.max(ctx.expiresAt.getTime(), Date.now() + 60_000)),
  );
  await ctx.journal.intend({
    key: instanceKey(id),
    provider: 'local',
    kind: 'instance',
    data: { id, dir: files.dir, home: paths.home },
  });
  try {
    return await body(id, ttlMs, expiresAt);
  } catch (error) {
    // A launch that failed half-way leaves nothing behind: no QEMU, no overlay, no seed with keys.
    await destroyInstance(paths, id, 0, ctx.log).catch(() => undefined);
    await ctx.journal.deleted(instanceKey(id)).catch(() => undefined);
    throw error;
  }
}

/** The record of an instance about to start, written before anything else exists in its folder. */
export async function newInstanceRecord(
  paths: LocalPaths,
  ctx: RunContext,
  spec: LaunchSpec,
  id: string,
  imageId: string,
  expiresAt: Date,
): Promise<InstanceRecord> {
  await mkdir(instanceDir(paths, id), { recursive: true, mode: 0o700 });
  const record: InstanceRecord = {
    id,
    imageId,
    purpose: spec.purpose,
    runId: ctx.runId,
    owner: currentOwner(ctx.runId),
    state: 'launching',
    createdAt: new Date().toISOString(),
    expiresAt: expiresAt.toISOString(),
    user: spec.sshUser,
    hostKeyPublic: spec.identity.hostKeyPublic.trim(),
  };
  await writeInstance(paths, record);
  return record;
}

/** The virtual hardware of a local instance. A warm snapshot and its clones must use the same. */
export interface MachineSpec {
  accel: Accel;
  cpus: number;
  memoryMiB: number;
  kernel: string;
  initrd: string;
  append: string;
}

export function machineSpec(
  options: InstanceOptions,
  accel: Accel,
  files: { kernel: string; initrd: string },
  append: string,
): MachineSpec {
  return {
    accel,
    cpus: options.cpus,
    memoryMiB: options.memoryMiB,
    kernel: files.kernel,
    initrd: files.initrd,
    append,
  };
}

/**
 * QEMU arguments for one instance: the machine, its disk (`drive`), and either the seed disk (cold
 * boot) or the agent's virtio-serial channel plus a VM generation id device (warm snapshot and clones).
 * `ports` is null for the snapshot boot, which needs no forwarded port.
 */
export function qemuArgs(
  name: string,
  machine: MachineSpec,
  io: {
    drive: string;
    console: string;
    qmp: string;
    pidfile: string;
    seed?: string;
    agentSocket?: string;
    incoming?: string;
    /**
     * Guest RAM in this file instead of anonymous memory: shared (written through) in the warm
     * snapshot's boot, so the file becomes the saved RAM; private (copy-on-write) in each clone, so the
     * clone reads the snapshot's pages on demand and never writes to the file.
     */
    memory?: { file: string; shared: boolean };
  },
  ports: { ssh: number; probe: number } | null,
): string[] {
  const forwards = ports
    ? `,hostfwd=tcp:127.0.0.1:${ports.ssh}-:22,hostfwd=tcp:127.0.0.1:${ports.probe}-:${CLOSED_GUEST_PORT}`
    : '';
  return [
    '-name',
    name,
    '-accel',
    machine.accel,
    '-cpu',
    machine.accel === 'kvm' ? 'host' : 'qemu64,+rdrand',
    '-smp',
    String(machine.cpus),
    '-m',
    String(machine.memoryMiB),
    ...(io.memory
      ? [
          '-object',
          `memory-backend-file,id=ram,size=${machine.memoryMiB}M,mem-path=${io.memory.file},share=${io.memory.shared ? 'on' : 'off'}`,
          '-machine',
          'memory-backend=ram',
        ]
      : []),
    '-nodefaults',
    '-no-user-config',
    '-display',
    'none',
    '-chardev',
    `file,id=console,path=${io.console}`,
    '-serial',
    'chardev:console',
    '-kernel',
    machine.kernel,
    '-initrd',
    machine.initrd,
    '-append',
    machine.append,
    '-drive',
    `file=${io.drive},if=virtio,format=qcow2,discard=unmap`,
    ...(io.seed ? ['-drive', `file=${io.seed},if=virtio,format=raw,readonly=on`] : []),
    '-netdev',
    `user,id=net0${forwards}`,
    '-device',
    'virtio-net-pci,netdev=net0',
    '-device',
    'virtio-rng-pci',
    ...(io.agentSocket
      ? [
          '-device',
          'virtio-serial-pci',
          '-chardev',
          `socket,id=agent,path=${io.agentSocket},server=on,wait=off`,
          '-device',
          `virtserialport,chardev=agent,name=${WARM_PORT_NAME}`,
          // A new generation id at every start: kernels with the vmgenid driver reseed on restore.
          '-device',
          'vmgenid,guid=auto',
        ]
      : []),
    ...(io.incoming ? ['-incoming', io.incoming] : []),
    '-qmp',
    `unix:${io.qmp},server=on,wait=off`,
    '-pidfile',
    io.pidfile,
  ];
}

/** Cold boot: the image's kernel and disk, the identity on a seed disk, the identity init at boot. */
export async function bootCold(
  paths: LocalPaths,
  store: ImageStore,
  options: InstanceOptions,
  ctx: RunContext,
  spec: LaunchSpec,
): Promise<LocalInstance> {
  const image = await store.require(spec.imageId);
  const imageFiles = store.files(image.id);
  ctx.log.mask(spec.identity.hostKeyPrivate);
  return withNewInstance(paths, ctx, spec, async (id, ttlMs, expiresAt) => {
    const files = instanceFiles(paths, id);
    const record = await newInstanceRecord(paths, ctx, spec, id, image.id, expiresAt);
    record.boot = 'cold';
    const steps: LaunchStep[] = [];
    ctx.progress({ label: 'Creating instance disk' });
    await createOverlay(imageFiles.disk, 'raw', files.overlay);
    await writeSeed(
      files.dir,
      formatIdentityDocument({ instanceId: id, identity: spec.identity, sshUser: spec.sshUser, ttlMs }),
    );
    const accel = await chooseAccel(paths.hostCache);
    const cmdline = image.tags['ovenproof:cmdline'] ?? KERNEL_CMDLINE;
    const machine = machineSpec(options, accel, imageFiles, `${cmdline} ovenproof.seed=/dev/vdb`);
    ctx.progress({ label: `Booting instance ${id} (${accel})` });
    const ports = await timedStep(steps, 'boot', () =>
      spawnQemu(paths, ctx, record, ttlMs, (p) =>
        qemuArgs(
          `ovenproof-${id}`,
          machine,
          {
            drive: files.overlay,
            console: files.console,
            qmp: files.qmp,
            pidfile: files.pidfile,
            seed: files.seed,
          },
          p,
        ),
      ),
    );
    return { ...instanceInfo(record, spec, ports), boot: 'cold', steps };
  });
}

export function instanceInfo(
  record: InstanceRecord,
  spec: LaunchSpec,
  ports: { ssh: number; probe: number },
): InstanceInfo {
  return {
    id: record.id,
    host: '127.0.0.1',
    port: ports.ssh,
    user: spec.sshUser,
    hostKeyPublic: record.hostKeyPublic,
    networkProbe: { host: '127.0.0.1', port: ports.probe },
  };
}

/** A throw-away copy-on-write overlay over `backing`. */
export async function createOverlay(backing: string, backingFormat: 'raw' | 'qcow2', overlay: string) {
  await mustRun('launch', 'qemu-img', [
    'create',
    '-q',
    '-f',
    'qcow2',
    '-F',
    backingFormat,
    '-b',
    backing,
    overlay,
  ]);
}

/**
 * Starts QEMU for `record` detached under `timeout` (the host-side dead-man switch) and returns once
 * QMP answers, with the two free ports it offered `argsFor` (SSH and the network probe). Port clashes
 * are retried with new ports.
 */
export async function spawnQemu(
  paths: LocalPaths,
  ctx: RunContext,
  record: InstanceRecord,
  ttlMs: number,
  argsFor: (ports: { ssh: number; probe: number }) => string[],
): Promise<{ ssh: number; probe: number }> {
  const files = instanceFiles(paths, record.id);
  const id = record.id;
  for (let attempt = 1; ; attempt++) {
    const ssh = await freePort();
    let probe = await freePort();
    while (probe === ssh) probe = await freePort();
    const args = argsFor({ ssh, probe });
    const logHandle = await open(files.qemuLog, 'w');
    // `timeout` is the host-side dead-man switch: TERM at the TTL, KILL 10 s later. Detached into its own
    // session so that neither a terminal's signals nor our death reach it.
    const watchdog = spawn(
      'timeout',
      ['--kill-after=10', `${Math.ceil(ttlMs / 1000)}s`, 'qemu-system-x86_64', ...args],
      { detached: true, stdio: ['ignore', logHandle.fd, logHandle.fd] },
    );
    await logHandle.close();
    const exited = new Promise<string>((resolve) =>
      watchdog.on('exit', (code, signal) => resolve(signal ? `signal ${signal}` : `exit ${code}`)),
    );
    watchdog.unref();
    record.watchdogPid = watchdog.pid;
    record.sshPort = ssh;
    record.probePort = probe;
    record.accel = args[args.indexOf('-accel') + 1] as Accel;
    await writeInstance(paths, record);
    await ctx.journal.created(instanceKey(id), id, { watchdogPid: String(watchdog.pid ?? '') });

    let gone: string | null = null;
    const started = await Promise.race([
      waitForQmp(files.qmp, ctx.signal, () => gone !== null),
      exited.then((how) => {
        gone = how;
        return false;
      }),
    ]);
    if (started) {
      const qemuPid = Number((await readFile(files.pidfile, 'utf8')).trim());
      record.qemuPid = qemuPid;
      record.state = 'running';
      await writeInstance(paths, record);
      await ctx.journal.created(instanceKey(id), id, { qemuPid: String(qemuPid) });
      ctx.log.info(`instance ${id}: QEMU ${record.accel} pid ${qemuPid}, ssh 127.0.0.1:${ssh}`);
      return { ssh, probe };
    }
    const log = await readFile(files.qemuLog, 'utf8').catch(() => '');
    if (/host forwarding rule|Address already in use/i.test(log) && attempt < 4) {
      ctx.log.debug(`instance ${id}: port clash, retrying (${log.trim()})`);
      continue;
    }
    throw new PipelineError(
      'launch',
      `QEMU for instance ${id} exited at start (${gone ?? 'unknown'}): ${log.trim().slice(-2000)}`,
    );
  }
}

/** QMP answers only once the machine is built (kernel and initrd loaded): QEMU has really started. */
async function waitForQmp(socket: string, signal: AbortSignal, exited: () => boolean): Promise<boolean> {
  for (;;) {
    if (exited()) return false;
    signal.throwIfAborted();
    try {
      await qmpCommand(socket, 'query-status', 2000);
      return true;
    } catch {
      await sleep(20);
    }
  }
}

async function waitForExit(pid: number | undefined, timeoutMs: number): Promise<boolean> {
  if (!pid) return true;
  const deadline = Date.now() + timeoutMs;
  while (isProcessAlive(pid)) {
    if (Date.now() > deadline) return false;
    await sleep(50);
  }
  return true;
}

/** QEMU's pid, checked against its command line so a reused pid is never signalled. */
export async function liveQemuPid(paths: LocalPaths, record: InstanceRecord): Promise<number | null> {
  // The pid file exists before the record is updated: a launch killed in between has only the file.
  const fromFile = async () =>
    Number((await readFile(instanceFiles(paths, record.id).pidfile, 'utf8').catch(() => '')).trim());
  const pid = record.qemuPid ?? (await fromFile());
  if (!pid || !isProcessAlive(pid)) return null;
  const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
  return cmdline.includes(instanceDir(paths, record.id)) ? pid : null;
}

export async function powerOff(paths: LocalPaths, record: InstanceRecord, timeoutMs: number, log: Logger) {
  const pid = await liveQemuPid(paths, record);
  if (!pid) return true;
  try {
    await qmpCommand(instanceFiles(paths, record.id).qmp, 'system_powerdown', 3000);
  } catch (error) {
    log.debug(`instance ${record.id}: QMP power-off failed: ${errorMessage(error)}`);
    return false;
  }
  return waitForExit(pid, timeoutMs);
}

/** Graceful power-off with a short deadline, then kill, then delete overlay, seed and console. */
export async function destroyInstance(
  paths: LocalPaths,
  id: string,
  graceMs: number,
  log: Logger,
): Promise<void> {
  const files = instanceFiles(paths, id);
  const record = await readInstance(paths, id);
  if (record) {
    if (!(await powerOff(paths, record, graceMs, log))) {
      const pid = await liveQemuPid(paths, record);
      if (pid) {
        log.debug(`instance ${id}: no clean power-off within ${graceMs} ms, killing QEMU ${pid}`);
        process.kill(pid, 'SIGKILL');
        await waitForExit(pid, 10_000);
      }
    }
    // The watchdog exits with its child; kill it anyway in case QEMU never started under it.
    if (record.watchdogPid && isProcessAlive(record.watchdogPid)) {
      const cmd = await readFile(`/proc/${record.watchdogPid}/cmdline`, 'utf8').catch(() => '');
      if (cmd.includes(files.dir)) process.kill(record.watchdogPid, 'SIGKILL');
    }
  }
  await unlink(files.seed).catch(() => undefined);
  await rm(files.dir, { recursive: true, force: true });
}

export async function stopInstance(
  paths: LocalPaths,
  id: string,
  timeoutMs: number,
  log: Logger,
): Promise<void> {
  const record = await readInstance(paths, id);
  if (!record) throw new PipelineError('bake', `local instance ${id} does not exist`);
  if (!(await powerOff(paths, record, timeoutMs, log))) {
    throw new PipelineError(
      'bake',
      `instance ${id} did not power off within ${Math.round(timeoutMs / 1000)} s`,
    );
  }
  record.state = 'stopped';
  await writeInstance(paths, record);
}
