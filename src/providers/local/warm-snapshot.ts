/**
 * Local warm boot: an image's warm snapshot is one booted VM saved while its agent waits for an
 * identity: its RAM in `memory.bin` (the snapshot VM's guest memory is that file, shared, and its
 * all-zero pages are holes), its device state in `state.bin` (a migration stream that leaves the shared
 * RAM out), its disk in `disk.qcow2` over the image's disk. They are kept read-only in the image's
 * folder under `warm/` with `warm.json`. Each launch restores a clone of it (a fresh overlay of that
 * disk, the RAM file mapped copy-on-write, `-incoming`, the same virtual hardware, new forwarded ports)
 * and sends the clone its identity and entropy, and then on request its clock, over the agent's serial
 * channel. Loading a clone reads no RAM at all: the guest faults its pages in from the file as it runs.
 *
 * The snapshot is made lazily, under the image's lock, at the image's second test launch on this host
 * (see noteTestLaunch), and made again whenever its key changes: the image, the QEMU version, the
 * virtual hardware or the agent.
 */
import { createConnection, type Socket } from 'node:net';
import { chmod, mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { writeFileAtomic } from '../../common/atomic-file.js';
import { PipelineError, errorMessage } from '../../common/errors.js';
import type { ImageManifest, LaunchSpec, RunContext } from '../provider.js';
import { formatIdentityDocument } from '../identity/index.js';
import { captureCommand, mustRun, type Privileged } from '../../common/host/command.js';
import { withFileLock } from '../../common/host/lock.js';
import {
  createOverlay,
  destroyInstance,
  instanceFiles,
  instanceInfo,
  instanceKey,
  machineSpec,
  newInstanceRecord,
  qemuArgs,
  spawnQemu,
  timedStep,
  withNewInstance,
  type InstanceOptions,
  type LaunchStep,
  type LocalInstance,
  type MachineSpec,
} from './instances.js';
import { readJson } from './owner.js';
import type { LocalPaths } from './paths.js';
import { chooseAccel, qmpCommand } from './qemu.js';
import type { ImageStore } from './store.js';
import { KERNEL_CMDLINE } from './base-image.js';
import { WARM_KERNEL_FLAG, warmAgentFiles, type GuestFile } from './warm-agent.js';
import { createWorkDir, removeWorkDir } from './workdir.js';

/** Bumped when the snapshot's layout or protocol changes in a way the key does not already cover. */
const WARM_FORMAT = 2;
/** The snapshot boot is a cold boot of the whole image under an emulated CPU: be generous. */
const SNAPSHOT_BOOT_TIMEOUT_MS = 15 * 60_000;
const SAVE_TIMEOUT_MS = 5 * 60_000;
const RESTORE_TIMEOUT_MS = 3 * 60_000;
const IDENTITY_TIMEOUT_MS = 3 * 60_000;
/** Only one warm snapshot of an image is made at a time; others wait this long, then boot cold. */
const LOCK_TIMEOUT_MS = 20 * 60_000;

export interface WarmSnapshot {
  format: number;
  key: string;
  imageId: string;
  qemuVersion: string;
  machine: MachineSpec;
  createdAt: string;
  /** Saved device state, RAM (allocated blocks) and the disk's own blocks (the image's are shared). */
  stateBytes: number;
  memoryBytes: number;
  diskBytes: number;
  /** Boot of the snapshot VM until its agent was ready, and the save. */
  bootMs: number;
  saveMs: number;
  /**
   * What the snapshot VM had before any identity: its boot-time machine-id, the image's hostname and
   * 16 bytes it read from /dev/urandom just before it was saved.
   */
  booted: { machineId: string; hostname: string; urandom: string };
}

export function warmFiles(paths: LocalPaths, imageDir: string) {
  const dir = join(imageDir, 'warm');
  return {
    dir,
    meta: join(dir, 'warm.json'),
    disk: join(dir, 'disk.qcow2'),
    state: join(dir, 'state.bin'),
    memory: join(dir, 'memory.bin'),
    /** Written at the image's first test launch on this host (see noteTestLaunch). */
    launched: join(dir, 'launched'),
    lock: join(imageDir, 'warm.lock'),
  };
}

/** Why this host cannot make or restore warm snapshots, or null when it can. */
export async function warmBootUnsupported(): Promise<string | null> {
  const devices = await captureCommand('qemu-system-x86_64', ['-device', 'help']).catch(() => null);
  if (!devices || devices.code !== 0) return 'cannot list QEMU devices';
  for (const device of ['vmgenid', 'virtserialport', 'virtio-serial-pci']) {
    if (!devices.stdout.includes(`"${device}"`)) return `this QEMU has no ${device} device`;
  }
  const debugfs = await captureCommand('debugfs', ['-V']).catch(() => null);
  if (!debugfs || debugfs.code !== 0) return 'debugfs (e2fsprogs) is not installed';
  return null;
}

let qemuVersionText: Promise<string> | null = null;
function qemuVersion(): Promise<string> {
  qemuVersionText ??= mustRun('launch', 'qemu-system-x86_64', ['--version']).then((out) =>
    out.split('\n')[0]!.trim(),
  );
  return qemuVersionText;
}

/** The virtual hardware of the image's warm snapshot (and so of every clone) on this host. */
async function warmMachine(
  paths: LocalPaths,
  store: ImageStore,
  options: InstanceOptions,
  image: ImageManifest,
): Promise<MachineSpec> {
  const accel = await chooseAccel(paths.hostCache);
  const cmdline = image.tags['ovenproof:cmdline'] ?? KERNEL_CMDLINE;
  return machineSpec(options, accel, store.files(image.id), `${cmdline} ${WARM_KERNEL_FLAG}`);
}

/**
 * Notes that the image was launched as a test instance on this host, and says whether it had been
 * before. The note lives in the snapshot's folder, which the Actions cache leaves out: an image
 * restored from the cache into a fresh home counts as never launched there.
 */
export async function noteTestLaunch(paths: LocalPaths, imageDir: string): Promise<boolean> {
  const files = warmFiles(paths, imageDir);
  const before = await stat(files.launched).then(
    () => true,
    () => false,
  );
  if (!before) {
    // Not recursive: a launch of an image that does not exist fails in the boot, with its own message.
    await mkdir(files.dir, { mode: 0o755 }).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'EEXIST') throw error;
    });
    await writeFile(files.launched, `${new Date().toISOString()}\n`, { mode: 0o644 });
  }
  return before;
}

/** The image's warm snapshot when it exists and is current on this host; never makes one. */
export async function currentWarmSnapshot(
  paths: LocalPaths,
  store: ImageStore,
  options: InstanceOptions,
  image: ImageManifest,
): Promise<WarmSnapshot | null> {
  const machine = await warmMachine(paths, store, options, image);
  return readSnapshot(paths, store.files(image.id).dir, warmKey(image, machine, await qemuVersion()));
}

/**
 * The snapshot's key: everything that must match for a saved VM to restore and behave like a fresh
 * boot of the image. The argument list with placeholder paths stands for the whole device model.
 */
function warmKey(image: ImageManifest, machine: MachineSpec, version: string): string {
  const devices = qemuArgs(
    'name',
    machine,
    { drive: 'D', console: 'C', qmp: 'Q', pidfile: 'P', agentSocket: 'A' },
    null,
  );
  const agent = warmAgentFiles().map((f) => [f.path, f.mode, f.symlinkTo ?? '', f.content]);
  return createHash('sha256')
    .update(JSON.stringify({ WARM_FORMAT, image: [image.id, image.createdAt], version, devices, agent }))
    .digest('hex');
}

async function readSnapshot(paths: LocalPaths, imageDir: string, key: string): Promise<WarmSnapshot | null> {
  const files = warmFiles(paths, imageDir);
  const meta = await readJson<WarmSnapshot>(files.meta);
  if (!meta || meta.key !== key) return null;
  const present = await Promise.all([stat(files.disk), stat(files.state), stat(files.memory)]).then(
    () => true,
    () => false,
  );
  return present ? meta : null;
}

/** The image's current warm snapshot, made now (under the image's lock) when it is missing or stale. */
export async function ensureWarmSnapshot(
  paths: LocalPaths,
  store: ImageStore,
  privileged: Privileged,
  options: InstanceOptions,
  ctx: RunContext,
  image: ImageManifest,
): Promise<WarmSnapshot> {
  const imageDir = store.files(image.id).dir;
  const machine = await warmMachine(paths, store, options, image);
  const key = warmKey(image, machine, await qemuVersion());
  const existing = await readSnapshot(paths, imageDir, key);
  if (existing) return existing;
  return withFileLock(
    warmFiles(paths, imageDir).lock,
    async () => {
      const made = await readSnapshot(paths, imageDir, key);
      if (made) return made;
      ctx.log.info(`warm boot: making the warm snapshot of image ${image.id} (once per image)`);
      const snapshot = await makeWarmSnapshot(paths, store, privileged, ctx, image, machine, key);
      ctx.log.info(
        `warm boot: snapshot of ${image.id} ready (boot ${(snapshot.bootMs / 1000).toFixed(1)} s, save ${(snapshot.saveMs / 1000).toFixed(1)} s, ` +
          `RAM ${mib(snapshot.memoryBytes)} MiB, device state ${mib(snapshot.stateBytes)} MiB, disk ${mib(snapshot.diskBytes)} MiB)`,
      );
      return snapshot;
    },
    LOCK_TIMEOUT_MS,
  );
}

/** Migration leaves out RAM backed by a shared file: the snapshot's RAM is its memory file. */
const IGNORE_SHARED_RAM = { capabilities: [{ capability: 'x-ignore-shared', state: true }] };

const mib = (bytes: number) => (bytes / 1048576).toFixed(1);

async function makeWarmSnapshot(
  paths: LocalPaths,
  store: ImageStore,
  privileged: Privileged,
  ctx: RunContext,
  image: ImageManifest,
  machine: MachineSpec,
  key: string,
): Promise<WarmSnapshot> {
  const imageFiles = store.files(image.id);
  const work = await createWorkDir(paths, 'warm-snapshot', ctx.runId);
  const workKey = `file:${work}`;
  await ctx.journal.intend({ key: workKey, provider: 'local', kind: 'file', data: { path: work } });
  try {
    ctx.progress({ label: 'Preparing the warm snapshot disk' });
    const edited = join(work, 'edited.raw');
    await mustRun('launch', 'cp', ['--sparse=always', '--reflink=auto', imageFiles.disk, edited]);
    await chmod(edited, 0o644);
    await writeGuestFiles(edited, warmAgentFiles(), work);
    // Only the blocks that differ from the image's disk are kept: an overlay over the edited copy,
    // rebased (comparing contents) onto the image's disk, holds just the agent's blocks.
    const disk = join(work, 'disk.qcow2');
    await createOverlay(edited, 'raw', disk);
    await mustRun('launch', 'qemu-img', [
      'rebase',
      '-q',
      '-f',
      'qcow2',
      '-b',
      imageFiles.disk,
      '-F',
      'raw',
      disk,
    ]);
    await rm(edited, { force: true });

    const state = join(work, 'state.bin');
    const memory = join(work, 'memory.bin');
    const { booted, bootMs, saveMs } = await bootAndSave(paths, ctx, image, machine, disk, { state, memory });
    // The agent zeroed the guest's free pages before the save: as holes they cost no disk.
    await mustRun('launch', 'fallocate', ['--dig-holes', memory]);
    for (const file of [disk, state, memory]) await chmod(file, 0o444);
    const diskStat = await stat(disk);
    const snapshot: WarmSnapshot = {
      format: WARM_FORMAT,
      key,
      imageId: image.id,
      qemuVersion: await qemuVersion(),
      machine,
      createdAt: new Date().toISOString(),
      stateBytes: (await stat(state)).size,
      memoryBytes: (await stat(memory)).blocks * 512,
      diskBytes: diskStat.blocks * 512,
      bootMs,
      saveMs,
      booted,
    };
    await writeFileAtomic(join(work, 'warm.json'), JSON.stringify(snapshot, null, 2) + '\n', 0o444);

    // Swap it in: clones still reading an older snapshot keep their open files.
    const files = warmFiles(paths, imageFiles.dir);
    const previous = `${files.dir}.old-${randomBytes(3).toString('hex')}`;
    await rename(files.dir, previous).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'ENOENT') throw error;
    });
    await mkdir(files.dir, { mode: 0o755 });
    for (const name of ['disk.qcow2', 'state.bin', 'memory.bin', 'warm.json'])
      await rename(join(work, name), join(files.dir, name));
    await writeFile(files.launched, `${snapshot.createdAt}\n`, { mode: 0o644 });
    await rm(previous, { recursive: true, force: true });
    await store.updateManifest(image.id, (m) => {
      m.sizes = {
        ...m.sizes,
        warmSnapshotBytes: snapshot.stateBytes + snapshot.memoryBytes + snapshot.diskBytes,
      };
    });
    return snapshot;
  } finally {
    await removeWorkDir(work, privileged);
    await ctx.journal.deleted(workKey).catch(() => undefined);
  }
}

/**
 * Writes files into an ext4 disk image without mounting it (debugfs), then reads each one back: the
 * warm snapshot must never run with a half-written agent.
 */
export async function writeGuestFiles(diskFile: string, files: GuestFile[], scratch: string): Promise<void> {
  const commands: string[] = [];
  const dirs = new Set<string>();
  for (const file of files) {
    const parts = file.path.split('/').slice(1, -1);
    for (let i = 1; i <= parts.length; i++) dirs.add('/' + parts.slice(0, i).join('/'));
  }
  for (const dir of [...dirs].sort((a, b) => a.length - b.length)) commands.push(`mkdir ${dir}`);
  for (const [index, file] of files.entries()) {
    if (/\s|"/.test(file.path))
      throw new Error(`guest file path ${JSON.stringify(file.path)} has spaces or quotes`);
    commands.push(`rm ${file.path}`);
    if (file.symlinkTo) {
      commands.push(`symlink ${file.path} ${file.symlinkTo}`);
      continue;
    }
    const local = join(scratch, `guest-file-${index}`);
    await writeFile(local, file.content, { mode: 0o600 });
    commands.push(`write ${local} ${file.path}`);
    commands.push(`sif ${file.path} mode 0${(0o100000 | file.mode).toString(8)}`);
    commands.push(`sif ${file.path} uid 0`, `sif ${file.path} gid 0`);
  }
  const script = join(scratch, 'debugfs-commands');
  await writeFile(script, commands.join('\n') + '\n');
  // debugfs reports a missing file for `rm` and an existing folder for `mkdir` and goes on: expected.
  await mustRun('launch', 'debugfs', ['-w', '-f', script, diskFile]);
  for (const [index, file] of files.entries()) {
    const got = await mustRun('launch', 'debugfs', [
      '-R',
      file.symlinkTo ? `stat ${file.path}` : `cat ${file.path}`,
      diskFile,
    ]);
    const ok = file.symlinkTo ? got.includes(`Fast link dest: "${file.symlinkTo}"`) : got === file.content;
    if (!ok) throw new PipelineError('launch', `writing ${file.path} into the warm snapshot disk failed`);
    await rm(join(scratch, `guest-file-${index}`), { force: true });
  }
  await rm(script, { force: true });
}

/**
 * Boots the snapshot VM (its RAM in `saved.memory`) until its agent is ready, stops it and saves its
 * device state to `saved.state`.
 */
async function bootAndSave(
  paths: LocalPaths,
  ctx: RunContext,
  image: ImageManifest,
  machine: MachineSpec,
  disk: string,
  saved: { state: string; memory: string },
): Promise<{ booted: WarmSnapshot['booted']; bootMs: number; saveMs: number }> {
  // The snapshot VM is an instance like any other while it runs, so post and sweep can remove it.
  const spec: LaunchSpec = {
    imageId: image.id,
    purpose: 'builder',
    identity: { hostname: 'warm-snapshot', authorizedKey: '', hostKeyPrivate: '', hostKeyPublic: '' },
    ttlMs: SNAPSHOT_BOOT_TIMEOUT_MS + SAVE_TIMEOUT_MS,
    sshUser: 'root',
  };
  let id = '';
  const result = await withNewInstance(paths, ctx, spec, async (newId, ttlMs, expiresAt) => {
    id = newId;
    const files = instanceFiles(paths, id);
    const record = await newInstanceRecord(paths, ctx, spec, id, image.id, expiresAt);
    ctx.progress({ label: `Booting the warm snapshot VM ${id} (${machine.accel})` });
    const started = Date.now();
    await spawnQemu(paths, ctx, record, ttlMs, () =>
      qemuArgs(
        `ovenproof-${id}`,
        machine,
        {
          drive: disk,
          console: files.console,
          qmp: files.qmp,
          pidfile: files.pidfile,
          agentSocket: files.agent,
          memory: { file: saved.memory, shared: true },
        },
        null,
      ),
    );
    const agent = await AgentChannel.connect(files.agent, ctx.signal);
    try {
      const ready = await agent.nextLine(SNAPSHOT_BOOT_TIMEOUT_MS, ctx.signal);
      const match = /^ready machine-id=(\S+) hostname=(\S+) urandom=([0-9a-f]{32})$/.exec(ready);
      if (!match) throw new PipelineError('launch', `warm snapshot agent said ${JSON.stringify(ready)}`);
      const bootMs = Date.now() - started;
      ctx.progress({ label: 'Saving the warm snapshot' });
      const saving = Date.now();
      await qmpCommand(files.qmp, 'stop', 10_000);
      await qmpCommand(files.qmp, 'migrate-set-capabilities', 10_000, IGNORE_SHARED_RAM);
      await qmpCommand(files.qmp, 'migrate', 10_000, { uri: `exec:cat > ${shellQuote(saved.state)}` });
      await waitForMigration(files.qmp, ctx.signal);
      const saveMs = Date.now() - saving;
      await qmpCommand(files.qmp, 'quit', 10_000).catch(() => undefined);
      return { booted: { machineId: match[1]!, hostname: match[2]!, urandom: match[3]! }, bootMs, saveMs };
    } finally {
      agent.close();
    }
  });
  await destroyInstance(paths, id, 10_000, ctx.log);
  await ctx.journal.deleted(instanceKey(id)).catch(() => undefined);
  return result;
}

async function waitForMigration(qmp: string, signal: AbortSignal): Promise<void> {
  const deadline = Date.now() + SAVE_TIMEOUT_MS;
  for (;;) {
    signal.throwIfAborted();
    const info = (await qmpCommand(qmp, 'query-migrate', 10_000)) as {
      status?: string;
      'error-desc'?: string;
    };
    if (info.status === 'completed') return;
    if (info.status === 'failed' || info.status === 'cancelled') {
      throw new PipelineError(
        'launch',
        `saving the warm snapshot failed: ${info['error-desc'] ?? info.status}`,
      );
    }
    if (Date.now() > deadline) throw new PipelineError('launch', 'saving the warm snapshot timed out');
    await sleep(100);
  }
}

/**
 * Waits for the incoming state to load, then resumes the clone: the snapshot was saved from a stopped
 * VM, so the loaded one is paused too.
 */
async function resumeRestored(qmp: string, signal: AbortSignal): Promise<void> {
  const deadline = Date.now() + RESTORE_TIMEOUT_MS;
  for (;;) {
    signal.throwIfAborted();
    const { status } = (await qmpCommand(qmp, 'query-status', 10_000)) as { status?: string };
    if (status === 'running') return;
    if (status !== 'inmigrate' && status !== 'prelaunch') {
      const migration = (await qmpCommand(qmp, 'query-migrate', 10_000)) as {
        status?: string;
        'error-desc'?: string;
      };
      if (status === 'paused' && migration.status === 'completed') {
        await qmpCommand(qmp, 'cont', 10_000);
        return;
      }
      throw new PipelineError(
        'launch',
        `restoring the warm snapshot failed (VM ${status ?? 'unknown'}, state load ${migration.status ?? 'unknown'}` +
          `${migration['error-desc'] ? `: ${migration['error-desc']}` : ''})`,
      );
    }
    if (Date.now() > deadline) throw new PipelineError('launch', 'restoring the warm snapshot timed out');
    await sleep(5);
  }
}

/** A clone of the warm snapshot with this launch's identity. */
export async function restoreWarmSnapshot(
  paths: LocalPaths,
  ctx: RunContext,
  spec: LaunchSpec,
  snapshot: WarmSnapshot,
  imageDir: string,
): Promise<LocalInstance> {
  ctx.log.mask(spec.identity.hostKeyPrivate);
  const warm = warmFiles(paths, imageDir);
  return withNewInstance(paths, ctx, spec, async (id, ttlMs, expiresAt) => {
    const files = instanceFiles(paths, id);
    const record = await newInstanceRecord(paths, ctx, spec, id, snapshot.imageId, expiresAt);
    record.boot = 'restored';
    const steps: LaunchStep[] = [];
    ctx.progress({ label: `Restoring instance ${id} from the warm snapshot (${snapshot.machine.accel})` });
    let agent: AgentChannel | null = null;
    try {
      const ports = await timedStep(steps, 'restore', async () => {
        await createOverlay(warm.disk, 'qcow2', files.overlay);
        const offered = await spawnQemu(paths, ctx, record, ttlMs, (p) =>
          qemuArgs(
            `ovenproof-${id}`,
            snapshot.machine,
            {
              drive: files.overlay,
              console: files.console,
              qmp: files.qmp,
              pidfile: files.pidfile,
              agentSocket: files.agent,
              memory: { file: warm.memory, shared: false },
              incoming: 'defer',
            },
            p,
          ),
        );
        // The stream has no RAM pages, like the save that made it.
        await qmpCommand(files.qmp, 'migrate-set-capabilities', 10_000, IGNORE_SHARED_RAM);
        await qmpCommand(files.qmp, 'migrate-incoming', 10_000, {
          uri: `exec:cat ${shellQuote(warm.state)}`,
        });
        // Connected, and the identity sent, before the guest resumes: the agent's first read after the
        // restore returns it.
        agent = await AgentChannel.connect(files.agent, ctx.signal);
        agent.send(
          [
            `entropy-hex=${randomBytes(64).toString('hex')}`,
            formatIdentityDocument({ instanceId: id, identity: spec.identity, sshUser: spec.sshUser, ttlMs }),
          ].join('\n'),
        );
        await resumeRestored(files.qmp, ctx.signal);
        return offered;
      });
      await timedStep(steps, 'identity', async () => {
        for (;;) {
          const said = await agent!.nextLine(IDENTITY_TIMEOUT_MS, ctx.signal);
          // The clock is sent on request, right before the agent sets it, so no transfer delay is lost.
          if (said === 'time?') agent!.send(`clock=${(Date.now() / 1000).toFixed(3)}`);
          else if (said === 'applied') break;
          else throw new PipelineError('launch', `the clone's agent answered ${JSON.stringify(said)}`);
        }
      });
      // The agent answered once sshd listened, so the clone's network is up: no probe before SSH.
      const info = instanceInfo(record, spec, ports);
      delete info.networkProbe;
      return { ...info, boot: 'restored' as const, steps };
    } finally {
      (agent as AgentChannel | null)?.close();
    }
  });
}

function shellQuote(path: string): string {
  if (path.includes("'")) throw new Error(`path ${JSON.stringify(path)} contains a quote`);
  return `'${path}'`;
}

/** Line-based talk with the guest agent over the virtio-serial port's host-side Unix socket. */
class AgentChannel {
  private buffer = '';
  private waiting: (() => void) | null = null;
  private closed = false;

  private constructor(private readonly socket: Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      this.buffer += chunk;
      this.waiting?.();
    });
    socket.on('close', () => {
      this.closed = true;
      this.waiting?.();
    });
    socket.on('error', () => undefined);
  }

  /** Connects as soon as QEMU has created the socket. */
  static async connect(path: string, signal: AbortSignal, timeoutMs = 30_000): Promise<AgentChannel> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      signal.throwIfAborted();
      try {
        const socket = await new Promise<Socket>((resolve, reject) => {
          const s = createConnection(path);
          s.once('connect', () => resolve(s));
          s.once('error', reject);
        });
        return new AgentChannel(socket);
      } catch (error) {
        if (Date.now() > deadline) {
          throw new PipelineError(
            'launch',
            `cannot connect to the agent channel ${path}: ${errorMessage(error)}`,
          );
        }
        await sleep(20);
      }
    }
  }

  async nextLine(timeoutMs: number, signal: AbortSignal): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const nl = this.buffer.indexOf('\n');
      if (nl >= 0) {
        const line = this.buffer.slice(0, nl).trim();
        this.buffer = this.buffer.slice(nl + 1);
        return line;
      }
      signal.throwIfAborted();
      if (this.closed) throw new PipelineError('launch', 'the agent channel closed (QEMU exited?)');
      const left = deadline - Date.now();
      if (left <= 0)
        throw new PipelineError(
          'launch',
          `no answer from the guest agent within ${Math.round(timeoutMs / 1000)} s`,
        );
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 1000));
        this.waiting = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.waiting = null;
    }
  }

  send(text: string): void {
    this.socket.write(text.endsWith('\n') ? text : text + '\n');
  }

  close(): void {
    this.socket.destroy();
  }
}
