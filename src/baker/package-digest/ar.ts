/**
 * Reads the member table of a Unix `ar` archive (the outer container of a .deb) by positioned reads of
 * its 60-byte headers, so that each member can then be streamed from its offset without copying or
 * extracting anything.
 */
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { Readable } from 'node:stream';

const GLOBAL_MAGIC = '!<arch>\n';
const HEADER_SIZE = 60;
const HEADER_END = '`\n';

export interface ArMember {
  name: string;
  /** Byte offset of the member's data in the archive file. */
  offset: number;
  size: number;
}

/** The archive is not a well-formed ar file; the message says where and why. */
export class MalformedArchiveError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MalformedArchiveError';
  }
}

export async function readArMembers(path: string): Promise<ArMember[]> {
  const handle = await open(path, 'r');
  try {
    const { size: fileSize } = await handle.stat();
    const magic = Buffer.alloc(GLOBAL_MAGIC.length);
    const { bytesRead } = await handle.read(magic, 0, magic.length, 0);
    if (bytesRead < magic.length || magic.toString('latin1') !== GLOBAL_MAGIC) {
      throw new MalformedArchiveError('it does not start with the ar signature "!<arch>"');
    }
    const members: ArMember[] = [];
    const header = Buffer.alloc(HEADER_SIZE);
    let position = GLOBAL_MAGIC.length;
    while (position < fileSize) {
      const read = await handle.read(header, 0, HEADER_SIZE, position);
      if (read.bytesRead < HEADER_SIZE) {
        throw new MalformedArchiveError(`the member header at byte ${position} is cut short`);
      }
      const text = header.toString('latin1');
      if (text.slice(58, 60) !== HEADER_END) {
        throw new MalformedArchiveError(`the member header at byte ${position} has no end marker`);
      }
      const sizeField = text.slice(48, 58).trim();
      if (!/^\d+$/.test(sizeField)) {
        throw new MalformedArchiveError(`the member header at byte ${position} has no valid size`);
      }
      const size = Number(sizeField);
      const offset = position + HEADER_SIZE;
      if (offset + size > fileSize) {
        throw new MalformedArchiveError(
          `member at byte ${position} claims ${size} bytes but the file ends ${fileSize - offset} bytes later`,
        );
      }
      // GNU ar ends short names with "/"; dpkg writes names padded with spaces, sometimes with the slash.
      const name = text.slice(0, 16).trimEnd().replace(/\/$/, '');
      members.push({ name, offset, size });
      // Member data is padded to an even length.
      position = offset + size + (size % 2);
    }
    return members;
  } finally {
    await handle.close();
  }
}

export function streamArMember(path: string, member: ArMember): Readable {
  if (member.size === 0) return Readable.from([]);
  return createReadStream(path, { start: member.offset, end: member.offset + member.size - 1 });
}
