/**
 * Who owns a local resource: the pid and kernel start time of the ovenproof process that created it,
 * so sweep can tell a live bake's files from a dead one's leftovers even when pids are reused.
 */
import { mountsUnder } from '../../common/host/mountinfo.js';
import { isProcessAlive, procStatField } from '../../common/host/process.js';
import { readFile } from 'node:fs/promises';

export interface Owner {
  pid: number;
  /** Field 22 of /proc/<pid>/stat (clock ticks since boot); null where /proc is unavailable. */
  start: string | null;
  runId?: string;
}

/** Field 22 of /proc/<pid>/stat: the start time, which tells a reused pid from the original. */
function procStart(pid: number): string | null {
  return procStatField(pid, 22);
}

export function currentOwner(runId?: string): Owner {
  return { pid: process.pid, start: procStart(process.pid), ...(runId ? { runId } : {}) };
}

/** True while the very process that created the resource is still running. */
export function ownerAlive(owner: Owner | undefined | null): boolean {
  if (!owner || !Number.isInteger(owner.pid) || owner.pid <= 0) return false;
  if (!isProcessAlive(owner.pid)) return false;
  if (owner.start === null) return true;
  return procStart(owner.pid) === owner.start;
}

export async function readJson<T>(path: string): Promise<T | null> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as T;
  } catch {
    return null;
  }
}

/** Mount points (decoded) currently mounted at or below `dir`, deepest first. */
export async function mountsBelow(dir: string): Promise<string[]> {
  const points = await mountsUnder(dir);
  return [...new Set(points)].sort((a, b) => b.length - a.length);
}
