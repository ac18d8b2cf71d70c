import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { bakeImage, findCachedBake, prepareBake, type BakeRequest } from '../../src/baker/index.js';
import { ConfigError, ExitCode, exitCodeOf } from '../../src/common/errors.js';
import { silentLogger } from '../../src/common/log.js';
import type { ImageManifest, ImageQuery, Provider } from '../../src/providers/provider.js';
import { buildMarkerDeb } from './helpers/test-deb.js';
import { BASE_IMAGE } from '../support/stand-ins.js';

const base = BASE_IMAGE;

function fakeProvider(volumeUnsupported: string | null, images: ImageManifest[] = [base]): Provider {
  return {
    name: 'local',
    describeImage: async (id: string) => images.find((i) => i.id === id) ?? null,
    listImages: async (q: ImageQuery = {}) =>
      images.filter(
        (i) => (q.idOrName ? i.name === q.idOrName : true) && (q.bakeKey ? i.bakeKey === q.bakeKey : true),
      ),
    volumeBakeUnsupported: async () => volumeUnsupported,
  } as unknown as Provider;
}

let deb: string;
const dir = mkdtempSync(join(tmpdir(), 'ovenproof-request-'));
const request = (over: Partial<BakeRequest> = {}): BakeRequest => ({
  baseImage: 'debian-12',
  packageFiles: [deb],
  packages: ['jq'],
  strategy: 'auto',
  sshUser: 'root',
  ...over,
});

beforeAll(() => {
  deb = buildMarkerDeb(dir);
});

describe('prepareBake', () => {
  it('resolves the base, reads the package name and digest, and keys the bake', async () => {
    const bake = await prepareBake(fakeProvider(null), request());
    expect(bake.base.id).toBe('img-base');
    expect(bake.strategy).toBe('volume');
    expect(bake.packageFiles[0]).toMatchObject({
      name: 'ovenproof-marker',
      digest: expect.stringMatching(/^[0-9a-f]{64}$/),
    });
    expect(bake.bakeKey).toMatch(/^[0-9a-f]{64}$/);
    expect(bake.imageName).toBe(`debian-12-ovenproof-marker-${bake.bakeKey.slice(0, 12)}`);
    expect((await prepareBake(fakeProvider(null), request())).bakeKey).toBe(bake.bakeKey);
  });

  it('falls back to the instance strategy under auto, and names the reason when volume was asked for', async () => {
    const provider = fakeProvider('loop devices need root');
    expect((await prepareBake(provider, request())).strategy).toBe('instance');
    await expect(prepareBake(provider, request({ strategy: 'volume' }))).rejects.toThrow(
      /bake-strategy volume is not possible here: loop devices need root/,
    );
  });

  it('keys the two strategies apart', async () => {
    const v = await prepareBake(fakeProvider(null), request({ strategy: 'volume' }));
    const i = await prepareBake(fakeProvider(null), request({ strategy: 'instance' }));
    expect(v.bakeKey).not.toBe(i.bakeKey);
  });

  it('names a missing or foreign package file and a bad strategy', async () => {
    await expect(
      prepareBake(fakeProvider(null), request({ packageFiles: [join(dir, 'nope.deb')] })),
    ).rejects.toThrow(/package: .*nope\.deb does not exist/);
    const rpm = join(dir, 'x.rpm');
    writeFileSync(rpm, 'not a package');
    await expect(prepareBake(fakeProvider(null), request({ packageFiles: [rpm] }))).rejects.toThrow(
      /x\.rpm is not a package file ovenproof can install \(supported: \.deb\)/,
    );
    await expect(prepareBake(fakeProvider(null), request({ strategy: 'fast' as never }))).rejects.toThrow(
      /bake-strategy: "fast" is not one of auto, volume, instance/,
    );
  });
});

describe('findCachedBake', () => {
  const baked = (
    id: string,
    tags: Record<string, string>,
    createdAt = '2026-02-01T00:00:00Z',
  ): ImageManifest => ({
    ...base,
    id,
    parent: base.id,
    bakeKey: 'k'.repeat(64),
    createdAt,
    tags,
  });

  it('returns the newest image with the key that is kept or not yet expired', async () => {
    const future = new Date(Date.now() + 3_600_000).toISOString();
    const past = new Date(Date.now() - 1000).toISOString();
    const images = [
      baked('img-expired', { 'ovenproof:expires-at': past }, '2026-03-01T00:00:00Z'),
      baked('img-old', { 'ovenproof:expires-at': future }, '2026-01-15T00:00:00Z'),
      baked('img-new', { 'ovenproof:kept': 'true' }, '2026-02-15T00:00:00Z'),
    ];
    expect((await findCachedBake(fakeProvider(null, images), 'k'.repeat(64)))?.id).toBe('img-new');
    expect(await findCachedBake(fakeProvider(null, [images[0]!]), 'k'.repeat(64))).toBeNull();
    expect(await findCachedBake(fakeProvider(null, images), 'x'.repeat(64))).toBeNull();
  });
});

describe('bakeImage with a bad package name', () => {
  it('fails as a config mistake (exit 3) before any resource exists', async () => {
    const created: string[] = [];
    const provider = {
      ...fakeProvider(null),
      createVolume: async () => {
        created.push('volume');
        return { id: 'vol-1' };
      },
      launch: async () => {
        created.push('instance');
        throw new Error('no instances here');
      },
    } as unknown as Provider;
    const ctx = {
      runId: 'run-bad-name',
      expiresAt: new Date(Date.now() + 3_600_000),
      journal: {
        intend: async () => {
          created.push('journal');
        },
        created: async () => undefined,
        deleted: async () => undefined,
        kept: async () => undefined,
      },
      signal: new AbortController().signal,
      log: silentLogger,
      progress: () => undefined,
      tags: {},
    };
    const error = await bakeImage(provider, request({ packages: ['Not A Package!'] }), ctx, {
      home: dir,
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect(exitCodeOf(error)).toBe(ExitCode.usageError);
    expect(String(error)).toMatch(/packages: "Not A Package!" is not a Debian package name/);
    expect(created).toEqual([]);
  });
});
