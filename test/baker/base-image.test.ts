import { describe, expect, it } from 'vitest';
import { parseBaseImageRef, resolveBaseImage, selectBaseImage } from '../../src/baker/base-image.js';
import type { ImageManifest, ImageQuery, Provider } from '../../src/providers/provider.js';

function image(
  id: string,
  packages: Record<string, string>,
  createdAt: string,
  name = 'debian-12',
): ImageManifest {
  return {
    id,
    name,
    os: 'debian-12',
    arch: 'x86_64',
    parent: null,
    createdAt,
    packages,
    bakeKey: null,
    tags: {},
  };
}

const core = { bash: '5.2', systemd: '252' };

describe('selectBaseImage', () => {
  it('prefers the image with most requested packages already installed', () => {
    const plain = image('img-plain', core, '2026-01-03T00:00:00Z');
    const withJq = image('img-jq', { ...core, jq: '1.6', extra1: '1', extra2: '1' }, '2026-01-01T00:00:00Z');
    expect(selectBaseImage([plain, withJq], ['jq', 'curl'])?.id).toBe('img-jq');
  });

  it('then the one with fewest unrequested extras', () => {
    const lean = image('img-lean', core, '2026-01-01T00:00:00Z');
    const fat = image('img-fat', { ...core, vim: '9' }, '2026-01-05T00:00:00Z');
    expect(selectBaseImage([fat, lean], ['jq'])?.id).toBe('img-lean');
  });

  it('then the newest', () => {
    const older = image('img-old', core, '2026-01-01T00:00:00Z');
    const newer = image('img-new', core, '2026-02-01T00:00:00Z');
    expect(selectBaseImage([older, newer], [])?.id).toBe('img-new');
    expect(selectBaseImage([newer, older], [])?.id).toBe('img-new');
  });

  it('counts a pinned version only when it matches', () => {
    const jq15 = image('img-15', { ...core, jq: '1.5' }, '2026-03-01T00:00:00Z');
    const jq16 = image('img-16', { ...core, jq: '1.6' }, '2026-01-01T00:00:00Z');
    expect(selectBaseImage([jq15, jq16], ['jq=1.6'])?.id).toBe('img-16');
    expect(selectBaseImage([jq15, jq16], ['jq:amd64'])?.id).toBe('img-15');
  });

  it('returns null without candidates', () => {
    expect(selectBaseImage([], ['jq'])).toBeNull();
  });
});

describe('parseBaseImageRef', () => {
  it('reads ids, names and filters', () => {
    expect(parseBaseImageRef('debian-12')).toEqual({ kind: 'id-or-name', value: 'debian-12' });
    expect(parseBaseImageRef('os=debian-12, arch=x86_64')).toEqual({
      kind: 'filters',
      filters: { os: 'debian-12', arch: 'x86_64' },
    });
  });

  it('names the bad part of a filter', () => {
    expect(() => parseBaseImageRef('os=debian-12,=x')).toThrow(
      /"=x" in "os=debian-12,=x" is not a key=value filter/,
    );
    expect(() => parseBaseImageRef('  ')).toThrow(/base-image: empty value/);
  });
});

describe('resolveBaseImage', () => {
  const images = [
    image('img-a', core, '2026-01-01T00:00:00Z'),
    image('img-b', { ...core, jq: '1.6' }, '2026-01-02T00:00:00Z', 'debian-12-jq'),
  ];
  const queries: ImageQuery[] = [];
  const provider = {
    name: 'local',
    describeImage: async (id: string) => images.find((i) => i.id === id) ?? null,
    listImages: async (query: ImageQuery = {}) => {
      queries.push(query);
      if (query.idOrName) return images.filter((i) => i.name === query.idOrName);
      return images.filter((i) =>
        Object.entries(query.filters ?? {}).every(([k, v]) => (i as never)[k] === v),
      );
    },
  } as unknown as Provider;

  it('takes an exact id first, then a name, then filters', async () => {
    expect((await resolveBaseImage(provider, 'img-a', ['jq'])).id).toBe('img-a');
    expect((await resolveBaseImage(provider, 'debian-12-jq', [])).id).toBe('img-b');
    expect((await resolveBaseImage(provider, 'os=debian-12', ['jq'])).id).toBe('img-b');
    expect(queries).toContainEqual({ filters: { os: 'debian-12' } });
  });

  it('explains how to get a base image when none matches', async () => {
    await expect(resolveBaseImage(provider, 'ubuntu-24.04', [])).rejects.toThrow(
      /base-image "ubuntu-24.04" matches no local image \(build one with `ovenproof base build`/,
    );
  });
});
