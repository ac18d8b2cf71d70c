/**
 * The local image store: one folder per image under $OVENPROOF_HOME/images holding the raw disk, the
 * kernel and initrd for direct boot, and manifest.json. Registration assembles a staging folder and
 * renames it into place, so an image either exists completely or not at all; image files are made
 * read-only; every change happens under the store's flock so concurrent bakes cannot corrupt it.
 */
import { errorMessage } from '../../common/errors.js';
import { chmod, copyFile, link, mkdir, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { writeFileAtomic } from '../../common/atomic-file.js';
import type { ImageManifest, ImageQuery } from '../provider.js';
import { assertSafeId, imageFiles, type LocalPaths } from './paths.js';
import { withFileLock } from '../../common/host/lock.js';

export const KEPT_TAG = 'ovenproof:kept';
export const EXPIRES_TAG = 'ovenproof:expires-at';

export interface RegisterFiles {
  /** Moved into the store (rename), so it must be on the same filesystem as the home. */
  disk: string;
  /** Copied (hard-linked when possible). */
  kernel: string;
  initrd: string;
}

export function newImageId(): string {
  return `img-${randomBytes(6).toString('hex')}`;
}

export class ImageStore {
  constructor(readonly paths: LocalPaths) {}

  async list(query: ImageQuery = {}): Promise<ImageManifest[]> {
    const names = await readdir(this.paths.images).catch(() => [] as string[]);
    const images: ImageManifest[] = [];
    for (const name of names) {
      if (name.startsWith('.')) continue;
      const manifest = await this.read(name);
      if (manifest && matches(manifest, query)) images.push(manifest);
    }
    return images.sort((a, b) => b.createdAt.localeCompare(a.createdAt) || a.id.localeCompare(b.id));
  }

  async describe(id: string): Promise<ImageManifest | null> {
    if (!/^[a-z][a-z0-9-]{2,80}$/.test(id)) return null;
    return this.read(id);
  }

  /** Describes an image or fails with a message naming the id. */
  async require(id: string): Promise<ImageManifest> {
    const manifest = await this.describe(id);
    if (!manifest) throw new Error(`local image ${id} does not exist in ${this.paths.images}`);
    return manifest;
  }

  files(id: string) {
    assertSafeId('image', id);
    return imageFiles(this.paths, id);
  }

  async register(
    manifest: Omit<ImageManifest, 'id' | 'createdAt'>,
    files: RegisterFiles,
    id = newImageId(),
  ): Promise<ImageManifest> {
    assertSafeId('image', id);
    const full: ImageManifest = { id, createdAt: new Date().toISOString(), ...manifest };
    const staging = join(this.paths.images, `.staging-${id}`);
    await rm(staging, { recursive: true, force: true });
    await mkdir(staging, { recursive: true });
    try {
      const target = imageFiles(this.paths, id);
      const disk = join(staging, 'disk.raw');
      await rename(files.disk, disk);
      await linkOrCopy(files.kernel, join(staging, 'vmlinuz'));
      await linkOrCopy(files.initrd, join(staging, 'initrd.img'));
      const st = await stat(disk);
      full.sizes = { diskBytes: st.size, allocatedBytes: st.blocks * 512 };
      for (const f of ['disk.raw', 'vmlinuz', 'initrd.img']) await chmod(join(staging, f), 0o444);
      await writeFileAtomic(join(staging, 'manifest.json'), JSON.stringify(full, null, 2) + '\n', 0o644);
      await withFileLock(this.paths.storeLock, async () => {
        if (await this.read(id)) throw new Error(`local image ${id} already exists`);
        await rename(staging, target.dir);
      });
      return full;
    } catch (error) {
      await rm(staging, { recursive: true, force: true });
      throw error;
    }
  }

  /** Adds or replaces tags, and removes the `remove` keys. */
  async tag(id: string, tags: Record<string, string>, remove: string[] = []): Promise<ImageManifest> {
    return withFileLock(this.paths.storeLock, async () => {
      const manifest = await this.require(id);
      manifest.tags = { ...manifest.tags, ...tags };
      for (const key of remove) delete manifest.tags[key];
      await writeFileAtomic(this.files(id).manifest, JSON.stringify(manifest, null, 2) + '\n', 0o644);
      return manifest;
    });
  }

  /** Changes an image's manifest in place (e.g. the size of its warm snapshot). */
  async updateManifest(id: string, change: (manifest: ImageManifest) => void): Promise<ImageManifest> {
    return withFileLock(this.paths.storeLock, async () => {
      const manifest = await this.require(id);
      change(manifest);
      await writeFileAtomic(this.files(id).manifest, JSON.stringify(manifest, null, 2) + '\n', 0o644);
      return manifest;
    });
  }

  /** Removes an image; a missing one is not an error (deregistering is idempotent). */
  async deregister(id: string): Promise<boolean> {
    assertSafeId('image', id);
    return withFileLock(this.paths.storeLock, async () => {
      const dir = this.files(id).dir;
      const existed = (await this.read(id)) !== null;
      // Rename first so that a reader never sees a half-deleted image.
      const doomed = join(this.paths.images, `.deleting-${id}-${randomBytes(3).toString('hex')}`);
      await rename(dir, doomed).catch((error: NodeJS.ErrnoException) => {
        if (error.code !== 'ENOENT') throw error;
      });
      await rm(doomed, { recursive: true, force: true });
      return existed;
    });
  }

  private async read(id: string): Promise<ImageManifest | null> {
    try {
      const text = await readFile(imageFiles(this.paths, id).manifest, 'utf8');
      return JSON.parse(text) as ImageManifest;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw new Error(`cannot read the manifest of local image ${id}: ${errorMessage(error)}`, {
        cause: error,
      });
    }
  }
}

async function linkOrCopy(from: string, to: string): Promise<void> {
  await link(from, to).catch(() => copyFile(from, to));
}

/** `ImageQuery` semantics: idOrName matches id or name; filters match manifest fields, then tags. */
export function matches(image: ImageManifest, query: ImageQuery): boolean {
  if (query.idOrName !== undefined && image.id !== query.idOrName && image.name !== query.idOrName)
    return false;
  if (query.bakeKey !== undefined && image.bakeKey !== query.bakeKey) return false;
  for (const [key, want] of Object.entries(query.filters ?? {})) {
    const have = fieldValue(image, key);
    if (have === undefined) return false;
    if (want !== '*' && have !== want) return false;
  }
  return true;
}

function fieldValue(image: ImageManifest, key: string): string | undefined {
  if (key.startsWith('package:')) return image.packages[key.slice('package:'.length)];
  const top = (image as unknown as Record<string, unknown>)[key];
  if (typeof top === 'string') return top;
  if (top === null && key in image) return 'null';
  return image.tags[key];
}

/** Parses `key=value` filter words (CLI / config) into an ImageQuery; a bare word is an id or a name. */
export function parseImageQuery(text: string): ImageQuery {
  const words = text.split(/[\s,]+/).filter(Boolean);
  const filters: Record<string, string> = {};
  let idOrName: string | undefined;
  for (const word of words) {
    const eq = word.indexOf('=');
    if (eq > 0) filters[word.slice(0, eq)] = word.slice(eq + 1);
    else if (idOrName === undefined) idOrName = word;
    else throw new Error(`image query "${text}": more than one id or name (${idOrName}, ${word})`);
  }
  return {
    ...(idOrName !== undefined ? { idOrName } : {}),
    ...(Object.keys(filters).length ? { filters } : {}),
  };
}
