/**
 * The local half of a failure snapshot: a flat raw copy of what a running instance's disk holds now (its
 * qcow2 overlay read through to the image below it), made while QEMU is paused so the copy is one
 * consistent moment. The image under the overlay is only ever read; the instance resumes afterwards.
 */
import { join } from 'node:path';
import { PipelineError, errorMessage } from '../../common/errors.js';
import type { RunContext } from '../provider.js';
import { mustRun } from '../../common/host/command.js';
import { instanceFiles, liveQemuPid, readInstance } from './instances.js';
import type { LocalPaths } from './paths.js';
import { qmpCommand } from './qemu.js';

/** A copy of a multi-GiB sparse disk on a loaded host: generous, but bounded. */
const COPY_TIMEOUT_MS = 10 * 60_000;

/**
 * Writes the instance's current disk as `disk.raw` into `workDir` and returns its path and the image the
 * instance was launched from (whose kernel and initrd the copy boots with).
 */
export async function copyRunningInstanceDisk(
  paths: LocalPaths,
  ctx: RunContext,
  instanceId: string,
  workDir: string,
): Promise<{ disk: string; imageId: string }> {
  const record = await readInstance(paths, instanceId);
  if (!record) throw new PipelineError('teardown', `local instance ${instanceId} does not exist`);
  const files = instanceFiles(paths, instanceId);
  const running = (await liveQemuPid(paths, record)) !== null;
  const disk = join(workDir, 'disk.raw');
  // Pausing makes QEMU finish and flush every pending write of the guest, so the overlay is consistent
  // while it is read; whatever the guest still holds in its page cache was synced by the caller.
  if (running) await qmpCommand(files.qmp, 'stop', 10_000);
  try {
    ctx.progress({ label: `Copying the disk of instance ${instanceId}` });
    // -U: QEMU holds the overlay's write lock; it is paused, so reading it is safe.
    await mustRun('teardown', 'qemu-img', ['convert', '-U', '-O', 'raw', files.overlay, disk], {
      timeoutMs: COPY_TIMEOUT_MS,
      signal: ctx.signal,
    });
  } finally {
    if (running) {
      await qmpCommand(files.qmp, 'cont', 10_000).catch((error: unknown) =>
        ctx.log.warn(`instance ${instanceId} could not be resumed after the copy: ${errorMessage(error)}`),
      );
    }
  }
  return { disk, imageId: record.imageId };
}
