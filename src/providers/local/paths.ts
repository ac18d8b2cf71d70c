/**
 * Layout of the local provider's home ($OVENPROOF_HOME, default ~/.cache/ovenproof). Everything the
 * provider creates lives below it, so sweep can find leftovers by walking these folders.
 */
import { join } from 'node:path';

export interface LocalPaths {
  home: string;
  /** Registered images: images/<id>/{manifest.json,disk.raw,vmlinuz,initrd.img}. */
  images: string;
  storeLock: string;
  /** Volumes being baked: volumes/<id>/{volume.json,disk.raw}. */
  volumes: string;
  /** Detached, read-only volume files waiting to be registered: snapshots/<id>/{snapshot.json,disk.raw}. */
  snapshots: string;
  /** Running instances: instances/<id>/{instance.json,overlay.qcow2,seed.tar,console.log,qmp.sock}. */
  instances: string;
  /** Scratch folders (rootfs builds, mount points): work/<id>/owner.json. */
  work: string;
  /** Host facts cached per boot (KVM probe). */
  hostCache: string;
}

export function localPaths(home: string): LocalPaths {
  return {
    home,
    images: join(home, 'images'),
    storeLock: join(home, 'images', '.lock'),
    volumes: join(home, 'volumes'),
    snapshots: join(home, 'snapshots'),
    instances: join(home, 'instances'),
    work: join(home, 'work'),
    hostCache: join(home, 'host.json'),
  };
}

/** The files of one registered image. */
export function imageFiles(paths: LocalPaths, id: string) {
  const dir = join(paths.images, id);
  return {
    dir,
    manifest: join(dir, 'manifest.json'),
    disk: join(dir, 'disk.raw'),
    kernel: join(dir, 'vmlinuz'),
    initrd: join(dir, 'initrd.img'),
  };
}

/** Resource ids are file names: refuse anything that could walk out of the home. */
export function assertSafeId(kind: string, id: string): void {
  if (!/^[a-z][a-z0-9-]{2,80}$/.test(id)) throw new Error(`invalid local ${kind} id: ${JSON.stringify(id)}`);
}
