/**
 * The package-format-neutral description of what a package installs: one record per file-system
 * entry with exactly the attributes that end up on disk. A .deb fills it from its data tar, an .rpm
 * would fill it from its header tags and payload cpio; both then hash the same canonical document.
 */
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { extract as tarExtract, type Header as TarHeader } from 'tar-stream';
import { MalformedArchiveError } from './ar.js';

export type MemberType =
  'file' | 'directory' | 'symlink' | 'hardlink' | 'char-device' | 'block-device' | 'fifo';

export interface InstalledMember {
  /** Absolute path on the installed system, e.g. `/usr/bin/hello`; `/` for the archive root. */
  path: string;
  type: MemberType;
  /** Permission bits including setuid/setgid/sticky (0o7777). */
  mode: number;
  /** `user:group`, by name where the archive records one (the package manager resolves names). */
  owner: string;
  /** Symlink target as written, or the absolute path a hard link points to. */
  linkTarget: string | null;
  /** sha256 hex of a regular file's content. */
  contentSha256: string | null;
  /** `major,minor` of a device node. */
  device: string | null;
}

/** `./usr/bin/x`, `usr/bin/x/` and `/usr//bin/x` all name `/usr/bin/x`. */
export function installedPath(archiveName: string): string {
  const parts = archiveName.split('/').filter((part) => part !== '' && part !== '.');
  return `/${parts.join('/')}`;
}

const TAR_TYPES: Record<TarHeader['type'], MemberType> = {
  file: 'file',
  'contiguous-file': 'file',
  directory: 'directory',
  symlink: 'symlink',
  link: 'hardlink',
  'character-device': 'char-device',
  'block-device': 'block-device',
  fifo: 'fifo',
};

export interface TarReadOptions {
  /** Members whose content is also returned (small metadata files such as the control file). */
  keepContent?: (path: string) => boolean;
  /** Upper bound for a kept member, so a hostile archive cannot fill memory. */
  keptContentLimit?: number;
}

export interface TarContents {
  members: InstalledMember[];
  kept: Map<string, Buffer>;
}

async function hashEntry(
  entry: AsyncIterable<unknown>,
  keep: boolean,
  limit: number,
  path: string,
): Promise<{ sha256: string; content: Buffer | null }> {
  const hash = createHash('sha256');
  const chunks: Buffer[] = [];
  let length = 0;
  for await (const data of entry) {
    const chunk = data as Buffer;
    hash.update(chunk);
    if (keep) {
      length += chunk.length;
      if (length > limit) throw new MalformedArchiveError(`${path} is larger than ${limit} bytes`);
      chunks.push(chunk);
    }
  }
  return { sha256: hash.digest('hex'), content: keep ? Buffer.concat(chunks) : null };
}

/** Reads a (decompressed) tar stream entry by entry, hashing contents as they stream past. */
export async function readTarMembers(source: Readable, options: TarReadOptions = {}): Promise<TarContents> {
  const extract = tarExtract();
  const piping = pipeline(source, extract);
  // Errors surface through the iterator below; this keeps a failed pipe from going unhandled.
  piping.catch(() => undefined);
  const members: InstalledMember[] = [];
  const kept = new Map<string, Buffer>();
  const limit = options.keptContentLimit ?? 1 << 20;
  for await (const entry of extract) {
    const { header } = entry;
    const path = installedPath(header.name);
    const type = TAR_TYPES[header.type] as MemberType | undefined;
    if (!type)
      throw new MalformedArchiveError(`${header.name} has an unsupported tar entry type "${header.type}"`);
    const keep = type === 'file' && (options.keepContent?.(path) ?? false);
    const { sha256, content } = await hashEntry(entry, keep, limit, header.name);
    if (content) kept.set(path, content);
    members.push({
      path,
      type,
      mode: (header.mode ?? 0) & 0o7777,
      owner: `${header.uname || String(header.uid ?? 0)}:${header.gname || String(header.gid ?? 0)}`,
      linkTarget:
        type === 'symlink'
          ? (header.linkname ?? '')
          : type === 'hardlink'
            ? installedPath(header.linkname ?? '')
            : null,
      contentSha256: type === 'file' ? sha256 : null,
      device:
        type === 'char-device' || type === 'block-device'
          ? `${header.devmajor ?? 0},${header.devminor ?? 0}`
          : null,
    });
  }
  await piping;
  return { members, kept };
}

/** Members sorted by path, so the order in the archive does not matter. */
export function sortedMembers(members: readonly InstalledMember[]): InstalledMember[] {
  return [...members].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** sha256 over a canonical JSON document (objects built with a fixed key order by the callers). */
export function canonicalSha256(document: unknown): string {
  return createHash('sha256').update(JSON.stringify(document)).digest('hex');
}
