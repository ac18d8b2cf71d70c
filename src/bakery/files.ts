/**
 * Content-addressed storage for uploaded package files: streamed to disk while hashed (never held in
 * memory), refused as soon as they pass the size limit, then renamed to `<sha256>.<ext>` where the
 * extension comes from the file's magic bytes (the baker picks a package plugin by extension).
 */
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Transform } from 'node:stream';

export class FileTooLargeError extends Error {
  constructor(readonly limit: number) {
    super(`file is larger than the limit of ${limit} bytes`);
    this.name = 'FileTooLargeError';
  }
}

const EXTENSIONS = ['deb', 'rpm', 'bin'] as const;

/** `.deb` files are ar archives whose first member is debian-binary; rpm has its own lead magic. */
function extensionOf(head: Buffer): (typeof EXTENSIONS)[number] {
  if (head.subarray(0, 8).toString('latin1') === '!<arch>\n' && head.includes('debian-binary')) return 'deb';
  if (head.subarray(0, 4).equals(Buffer.from([0xed, 0xab, 0xee, 0xdb]))) return 'rpm';
  return 'bin';
}

export const SHA256_PATTERN = /^[0-9a-f]{64}$/;

export class FileStore {
  constructor(
    readonly dir: string,
    readonly maxBytes: number,
  ) {}

  async init(): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
  }

  /** Path of the stored file with this digest, or null. */
  async pathOf(sha256: string): Promise<string | null> {
    if (!SHA256_PATTERN.test(sha256)) return null;
    for (const ext of EXTENSIONS) {
      const path = join(this.dir, `${sha256}.${ext}`);
      const info = await stat(path).catch(() => null);
      if (info?.isFile()) return path;
    }
    return null;
  }

  /** Stores a stream; throws FileTooLargeError (and keeps nothing) once it passes the limit. */
  async put(body: Readable): Promise<{ sha256: string; size: number }> {
    const temp = join(this.dir, `.upload-${randomBytes(8).toString('hex')}`);
    const hash = createHash('sha256');
    let size = 0;
    let head = Buffer.alloc(0);
    const limit = this.maxBytes;
    const meter = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        size += chunk.length;
        if (size > limit) {
          callback(new FileTooLargeError(limit));
          return;
        }
        if (head.length < 72) head = Buffer.concat([head, chunk.subarray(0, 72 - head.length)]);
        hash.update(chunk);
        callback(null, chunk);
      },
    });
    try {
      await pipeline(body, meter, createWriteStream(temp, { mode: 0o600 }));
    } catch (error) {
      await rm(temp, { force: true });
      throw error;
    }
    const sha256 = hash.digest('hex');
    const existing = await this.pathOf(sha256);
    if (existing) await rm(temp, { force: true });
    else await rename(temp, join(this.dir, `${sha256}.${extensionOf(head)}`));
    return { sha256, size };
  }
}
