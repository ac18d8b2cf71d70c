/**
 * Vitest timeouts for the tests that boot VMs, bake images or build the base image (the `.qemu.` and
 * `.root.` files), so that a slow host of the machine class can only make them slow, never failing.
 *
 * A test may not give up before the operations it waits on do: its timeout is the sum of the deadlines
 * of the operations it runs one after another, plus a margin for its own work (`timeoutFor`). Deadlines
 * come from three places:
 * - `testDeadlines`: what the tests pass to the operations they start themselves (waitForSsh's
 *   timeoutMs, …); tests use these constants for the operation and for the timeout alike;
 * - `ovenproofDeadlines`: the deadlines ovenproof sets itself, which a test waits out when it drives the
 *   baker, the pipeline, the CLI or the Action; each names the code it follows;
 * - `budgets`: work with no deadline of its own (apt inside an emulated CPU, building the base image),
 *   budgeted from what it took on the slow 2-core host of the class with a second VM running, with room
 *   to spare.
 * The fast tests keep the short default of vitest.config.ts.
 */
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { parseDuration } from '../../src/common/duration.js';

const SECOND = 1000;
const MINUTE = 60 * SECOND;

/** The test stage deadline examples/hello-deb sets (`test-timeout` in its ovenproof.yml). */
function helloDebTestTimeout(): number {
  const config = parse(
    readFileSync(new URL('../../examples/hello-deb/ovenproof.yml', import.meta.url), 'utf8'),
  ) as { 'test-timeout'?: unknown };
  const ms = parseDuration(String(config['test-timeout']));
  if (ms === null) throw new Error('examples/hello-deb/ovenproof.yml: test-timeout is not a duration');
  return ms;
}

/** Deadlines inside ovenproof that a test waits out; each equals the code it names. */
export const ovenproofDeadlines = {
  /** The pipeline's wait for SSH on the test instance (the `ssh-timeout` default in the config). */
  pipelineSshReady: 5 * MINUTE,
  /** The instance bake's wait for SSH on its builder (the baker's default sshTimeoutMs). */
  builderSshReady: 5 * MINUTE,
  /** A clean power-off of a local instance before it is killed (the local provider's stopTimeoutMs). */
  localStop: 2 * MINUTE,
  /** The result fetch's second connection after the first one dropped (the SSH layer's reconnect window). */
  resultReconnect: MINUTE,
  /** The test stage of a run of examples/hello-deb: its `test-timeout`. */
  helloDebTestStage: helloDebTestTimeout(),
} as const;

/** Deadlines the tests give the operations they start themselves. */
export const testDeadlines = {
  /**
   * From a VM's launch to an open SSH session (waitForSsh): the deadline the pipeline gives its test
   * instance. A cold boot of the base reaches sshd in 21–45 s on the slow host under TCG; with the load
   * average at 25 on the two cores and the --under-load hog running, the guest's network was still
   * down after 240 s.
   */
  vmSshReady: ovenproofDeadlines.pipelineSshReady,
  /** Connecting to the test's own OpenSSH sshd on 127.0.0.1 (no VM behind it). */
  localSshReady: 20 * SECOND,
  /** A command run through that sshd (it finishes in well under a second when nothing is wrong). */
  localCommand: MINUTE,
  /** moto's server answering on its port (startMoto's own deadline). */
  motoStart: MINUTE,
  /**
   * The lease the fleet tests give their bakeries (`--lease`): a bakery that misses heartbeats this
   * long loses its running bakes to another bakery of the store.
   */
  bakeryLease: 10 * SECOND,
} as const;

/** Work without a deadline of its own: what it took on the slow host with a second VM running, and more. */
export const budgets = {
  /** Starting a VM: overlay, seed disk, accelerator probe (up to 6 s), QEMU process. */
  launch: 30 * SECOND,
  /** A handful of commands over an open SSH session. */
  sshCommands: MINUTE,
  /** Building the base image with mmdebstrap (about 40 s on a quiet host), or finding it in the store. */
  baseImage: 15 * MINUTE,
  /** A volume bake: copy, mount, apt in a chroot, unmount, register (4–5 s measured, apt lists may need fetching). */
  volumeBake: 5 * MINUTE,
  /** apt installing a few packages inside an emulated CPU (108 s measured on the slow host). */
  aptInVm: 8 * MINUTE,
  /** Copying a VM disk: a volume from an image, an image from a stopped instance's disk. */
  diskCopy: 2 * MINUTE,
  /** A few commands on the host: mount, umount, chroot, a child process. */
  hostCommands: 30 * SECOND,
  /** Building examples/hello-deb's package on the host. */
  build: MINUTE,
  /** Terminating instances and removing what a run created. */
  teardown: MINUTE,
  /** The test's own work around the operations: processes, ledger reads, assertions. */
  ownWork: MINUTE,
} as const;

/** Booting a VM the test launches itself, up to an open SSH session. */
export const VM_BOOT = budgets.launch + testDeadlines.vmSshReady;

/** An instance bake on the local provider: builder boot, apt inside it, clean power-off, image. */
export const INSTANCE_BAKE =
  budgets.launch +
  ovenproofDeadlines.builderSshReady +
  budgets.aptInVm +
  ovenproofDeadlines.localStop +
  budgets.diskCopy;

/**
 * One run of examples/hello-deb through the CLI or the Action on the local provider, post step
 * included: build, volume bake (or a cache hit), launch, the pipeline's SSH wait, the test stage, the
 * result fetch with its reconnection, teardown.
 */
export const HELLO_DEB_RUN =
  budgets.build +
  budgets.volumeBake +
  budgets.launch +
  ovenproofDeadlines.pipelineSshReady +
  ovenproofDeadlines.helloDebTestStage +
  ovenproofDeadlines.resultReconnect +
  budgets.teardown;

/**
 * The vitest timeout (for a test or a hook) of work made of these operations one after another: the sum
 * of their deadlines and budgets, plus the test's own work.
 */
export function timeoutFor(...operationsMs: number[]): number {
  return operationsMs.reduce((sum, ms) => sum + ms, budgets.ownWork);
}
