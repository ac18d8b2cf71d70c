/**
 * Persists the local provider's image store across GitHub-hosted jobs with the Actions cache: the base
 * image under a key derived from its build recipe, and each bake-cache image under its bake key. A job
 * restores the base before the pipeline and a bake's image when the baker asks for its key; after the
 * run it saves only the images this run used or made that the cache does not hold yet.
 *
 * An entry holds exactly one image folder (manifest, disk, kernel, initrd) packed with a sparse-aware
 * tar, so nothing from instances, keys or work folders can reach the cache.
 */
import * as cache from '@actions/cache';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { access, mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { errorMessage } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import type { ImageManifest } from '../providers/provider.js';
import { baseRecipeDigest } from '../providers/local/base-image.js';
import { localPaths, type LocalPaths } from '../providers/local/paths.js';
import { EXPIRES_TAG, ImageStore, KEPT_TAG } from '../providers/local/store.js';

const run = promisify(execFile);
const ARCHIVE = 'image.tar';

export interface ImageCacheOptions {
  /** The local provider's home ($OVENPROOF_HOME). */
  home: string;
  /** Where entries are packed and unpacked; must be the same path in every job (RUNNER_TEMP is). */
  stagingRoot: string;
  /** Expiry given to a restored, unpromoted bake image (the run then pushes it forward on use). */
  cacheTtlMs: number;
  log: Logger;
}

export class ActionsImageCache {
  private readonly paths: LocalPaths;
  private readonly store: ImageStore;
  /** Keys this job restored or found already saved: nothing to save for them. */
  private readonly present = new Set<string>();

  constructor(private readonly options: ImageCacheOptions) {
    this.paths = localPaths(options.home);
    this.store = new ImageStore(this.paths);
  }

  /** False outside Actions or when the runner gave no cache service (then every call is a no-op). */
  static available(): boolean {
    return cache.isFeatureAvailable();
  }

  static bakeKeyEntry(bakeKey: string): string {
    return `ovenproof-bake-${bakeKey}`;
  }

  static async baseEntry(name: string): Promise<string> {
    return `ovenproof-base-${name}-${(await baseRecipeDigest(name)).slice(0, 32)}`;
  }

  /** Brings the named base image into an empty store from the cache; true when it did. */
  async restoreBase(name: string): Promise<boolean> {
    if ((await this.store.list({ idOrName: name })).some((i) => i.parent === null)) return false;
    let key: string;
    try {
      key = await ActionsImageCache.baseEntry(name);
    } catch (error) {
      this.options.log.warn(`cache: cannot name the base image's cache entry: ${errorMessage(error)}`);
      return false;
    }
    return this.restore(key, (m) => m.name === name && m.parent === null);
  }

  /** Brings the image baked with this bake key into the store from the cache; true when it did. */
  async restoreBake(bakeKey: string): Promise<boolean> {
    if ((await this.store.list({ bakeKey })).length > 0) return false;
    return this.restore(ActionsImageCache.bakeKeyEntry(bakeKey), (m) => m.bakeKey === bakeKey);
  }

  /** Saves each of these images (base or bake) whose entry the cache does not hold yet. */
  async saveImages(ids: ReadonlyArray<string | null | undefined>): Promise<string[]> {
    const saved: string[] = [];
    for (const id of new Set(ids)) {
      if (!id) continue;
      const image = await this.store.describe(id);
      if (!image) continue;
      let dir: string | null = null;
      try {
        const key = await this.entryFor(image);
        if (!key || this.present.has(key)) continue;
        dir = this.stagingDir(key);
        if (await cache.restoreCache([dir], key, [], { lookupOnly: true })) {
          this.present.add(key);
          continue;
        }
        await rm(dir, { recursive: true, force: true });
        await mkdir(dir, { recursive: true });
        // -S keeps the sparse disk sparse: a 4 GiB disk with 1 GiB of data packs as 1 GiB. The warm
        // snapshot stays out: it is tied to this host's QEMU and is rebuilt on first use elsewhere.
        await run('tar', [
          '-S',
          '-cf',
          join(dir, ARCHIVE),
          `--exclude=${image.id}/warm`,
          `--exclude=${image.id}/warm.lock`,
          '-C',
          this.paths.images,
          image.id,
        ]);
        const entryId = await cache.saveCache([dir], key);
        if (entryId !== -1) {
          saved.push(key);
          this.present.add(key);
          this.options.log.info(`saved image ${image.id} to the Actions cache as ${key}`);
        }
      } catch (error) {
        this.options.log.warn(
          `could not save image ${image.id} to the Actions cache: ${errorMessage(error)}`,
        );
      } finally {
        if (dir) await rm(dir, { recursive: true, force: true });
      }
    }
    return saved;
  }

  private async entryFor(image: ImageManifest): Promise<string | null> {
    if (image.parent === null) return ActionsImageCache.baseEntry(image.name);
    return image.bakeKey ? ActionsImageCache.bakeKeyEntry(image.bakeKey) : null;
  }

  private stagingDir(key: string): string {
    return join(this.options.stagingRoot, 'ovenproof-image-cache', key);
  }

  private async restore(key: string, belongs: (manifest: ImageManifest) => boolean): Promise<boolean> {
    const dir = this.stagingDir(key);
    const { log } = this.options;
    // Unpacked inside the store (same filesystem, so registering is a rename); the name is one that
    // sweep removes if this job dies half-way.
    const unpacked = join(this.paths.images, `.staging-restore-${randomBytes(4).toString('hex')}`);
    await rm(dir, { recursive: true, force: true });
    try {
      const hit = await cache.restoreCache([dir], key);
      if (!hit) return false;
      this.present.add(key);
      await mkdir(unpacked, { recursive: true });
      await run('tar', ['-S', '-xf', join(dir, ARCHIVE), '-C', unpacked]);
      const image = await this.adopt(unpacked, belongs);
      log.info(`restored image ${image.id} (${image.name}) from the Actions cache entry ${key}`);
      return true;
    } catch (error) {
      log.warn(`could not restore ${key} from the Actions cache: ${errorMessage(error)}`);
      return false;
    } finally {
      await rm(dir, { recursive: true, force: true });
      await rm(unpacked, { recursive: true, force: true });
    }
  }

  /** Registers an unpacked image folder with the store after checking it is what the key promised. */
  private async adopt(
    unpacked: string,
    belongs: (manifest: ImageManifest) => boolean,
  ): Promise<ImageManifest> {
    const { stdout } = await run('find', [unpacked, '-mindepth', '1', '-maxdepth', '1', '-printf', '%f\n']);
    const [id, ...extra] = stdout.split('\n').filter(Boolean);
    if (!id || extra.length > 0) throw new Error('the entry does not hold exactly one image folder');
    const folder = join(unpacked, id);
    const manifest = JSON.parse(await readFile(join(folder, 'manifest.json'), 'utf8')) as ImageManifest;
    if (manifest.id !== id || !belongs(manifest)) {
      throw new Error(`the entry holds image ${manifest.id} (${manifest.name}), not the one its key names`);
    }
    for (const file of ['disk.raw', 'vmlinuz', 'initrd.img']) await access(join(folder, file));
    if (await this.store.describe(id)) return this.store.require(id);
    const { id: _id, createdAt: _createdAt, ...rest } = manifest;
    const tags = { ...rest.tags };
    // A restored cache entry is as fresh as its last use: this job's runs push the expiry from here.
    if (tags[KEPT_TAG] !== 'true' && rest.parent !== null) {
      tags[EXPIRES_TAG] = new Date(Date.now() + this.options.cacheTtlMs)
        .toISOString()
        .replace(/\.\d{3}Z$/, 'Z');
    }
    return this.store.register(
      { ...rest, tags },
      {
        disk: join(folder, 'disk.raw'),
        kernel: join(folder, 'vmlinuz'),
        initrd: join(folder, 'initrd.img'),
      },
      id,
    );
  }
}
