/**
 * Mounting the volume for the chroot: the root filesystem, the kernel's /proc, /sys and /dev bound in,
 * and the host's resolver for the package manager. Every mount point and folder the baker creates is
 * written to the journal before it exists, so a killed bake leaves a trace that sweep can undo.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Step } from '../../common/steps.js';
import { describeHolders, isSharedMount, mountsUnder, processesInRoot, unmountWithRetry } from '../mounts.js';
import { ChrootTarget } from '../target.js';
import { need, type VolumeState } from './state.js';

const BIND_MOUNTS = ['/proc', '/sys', '/dev', '/dev/pts'] as const;
export const RESOLV = '/etc/resolv.conf';
export const RESOLV_SAVED = '/etc/resolv.conf.ovenproof-orig';

const mountKey = (path: string) => `baker-mount:${path}`;

/** Creates the bake's scratch folder (the provider's when it offers one, so its sweep knows it), journaled. */
async function createBakeDir(state: VolumeState): Promise<string> {
  const { ctx, provider } = state;
  const token = `${ctx.runId.replace(/[^A-Za-z0-9-]/g, '')}-${randomBytes(4).toString('hex')}`;
  const key = `baker-dir:${token}`;
  const planned = provider.createWorkDir ? null : join(state.workDir, `bake-${token}`);
  await ctx.journal.intend({
    key,
    provider: provider.name,
    kind: 'file',
    data: { purpose: 'bake mount point', ...(planned ? { path: planned } : {}) },
  });
  let dir: string;
  if (planned) {
    await mkdir(planned, { recursive: true, mode: 0o700 });
    dir = planned;
  } else {
    dir = await provider.createWorkDir!(ctx, 'bake');
  }
  await ctx.journal.created(key, dir, { path: dir });
  state.dirKey = key;
  return dir;
}

async function mountJournaled(state: VolumeState, path: string, argv: string[]): Promise<void> {
  const { journal } = state.ctx;
  await journal.intend({ key: mountKey(path), provider: state.provider.name, kind: 'mount', data: { path } });
  await state.run(argv, { privileged: true });
  await journal.created(mountKey(path), path);
}

/** Stops processes left running in the chroot, then unmounts everything below it, deepest first. */
async function unmountAll(state: VolumeState): Promise<void> {
  const { root, ctx } = state;
  if (!root) return;
  const leftovers = await processesInRoot(root);
  if (leftovers.length) {
    ctx.log.warn(`stopping processes left running in the bake chroot: ${describeHolders(leftovers)}`);
    for (const p of leftovers)
      await state.run(['kill', '-KILL', String(p.pid)], { privileged: true, okCodes: [1] });
  }
  for (const path of await mountsUnder(root)) {
    await unmountWithRetry(path, { run: state.run, warn: (m) => ctx.log.warn(m) });
    await ctx.journal.deleted(mountKey(path)).catch(() => undefined);
  }
}

async function removeDir(state: VolumeState): Promise<void> {
  if (!state.dir) return;
  if ((await mountsUnder(state.dir)).length) return; // never rm -r across a live mount
  await rm(state.dir, { recursive: true, force: true });
  if (state.dirKey) await state.ctx.journal.deleted(state.dirKey).catch(() => undefined);
  state.dir = null;
  state.root = null;
}

export const mountVolume: Step<VolumeState> = {
  name: 'mount',
  label: 'Mounting volume',
  weight: 0.5,
  async run(state) {
    state.dir = await createBakeDir(state);
    const root = join(state.dir, 'root');
    await mkdir(root);
    state.root = root;
    await mountJournaled(state, root, [
      'mount',
      '-o',
      'noatime',
      need(state.fsDevice, 'the filesystem'),
      root,
    ]);
    for (const source of BIND_MOUNTS) {
      const path = join(root, source);
      await mountJournaled(state, path, ['mount', '--bind', source, path]);
      // A slave mount receives the host's changes but never sends its own back: with shared
      // propagation (systemd hosts) a mount inside the chroot would otherwise appear on the host.
      if (await isSharedMount(path)) await state.run(['mount', '--make-slave', path], { privileged: true });
    }
    state.target = new ChrootTarget(root, state.bake.plugin.env, state.run);
    // The host's resolver for apt inside the chroot; the image's own file (often a symlink) is kept aside.
    const resolv = Buffer.from(await readFile('/etc/resolv.conf', 'utf8').catch(() => '')).toString('base64');
    await state.target.sh(
      `if [ -e ${RESOLV} ] || [ -L ${RESOLV} ]; then mv -f ${RESOLV} ${RESOLV_SAVED}; fi\n` +
        `printf %s '${resolv}' | base64 -d > ${RESOLV} && chmod 644 ${RESOLV}`,
    );
  },
  async cleanup(state) {
    await unmountAll(state);
    await removeDir(state);
  },
};

export const unmountVolume: Step<VolumeState> = {
  name: 'unmount',
  label: 'Unmounting volume',
  weight: 0.3,
  async run(state) {
    await unmountAll(state);
    await removeDir(state);
    state.target = null;
  },
};
