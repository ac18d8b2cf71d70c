/** Reading /proc/self/mountinfo: the one parser for the baker's chroot mounts and the local provider's sweep. */
import { readFile } from 'node:fs/promises';

export interface MountEntry {
  /** Where it is mounted (octal escapes such as `\040` decoded). */
  point: string;
  /** The mounted device or filesystem source. */
  source: string;
  /** In a shared peer group (its optional fields carry `shared:N`). */
  shared: boolean;
}

const unescapeMount = (field: string): string =>
  field.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));

/** Mounts listed in mountinfo text, in mount order. */
export function parseMountinfo(text: string): MountEntry[] {
  const entries: MountEntry[] = [];
  for (const line of text.split('\n')) {
    const fields = line.split(' ');
    if (fields[4] === undefined) continue;
    const dash = fields.indexOf('-');
    entries.push({
      point: unescapeMount(fields[4]),
      source: dash < 0 ? '' : (fields[dash + 2] ?? ''),
      shared: fields.slice(6, dash < 0 ? undefined : dash).some((f) => f.startsWith('shared:')),
    });
  }
  return entries;
}

/** This process's mounts, in mount order. */
export async function readMounts(): Promise<MountEntry[]> {
  return parseMountinfo(await readFile('/proc/self/mountinfo', 'utf8').catch(() => ''));
}

/** Mount points at or below `root`, most recently mounted first: the order to unmount them. */
export async function mountsUnder(root: string): Promise<string[]> {
  const prefix = root.endsWith('/') ? root : `${root}/`;
  return (await readMounts())
    .map((m) => m.point)
    .filter((p) => p === root || p.startsWith(prefix))
    .reverse();
}
