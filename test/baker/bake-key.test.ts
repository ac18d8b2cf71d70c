import { describe, expect, it } from 'vitest';
import { BAKE_FORMAT_VERSION, computeBakeKey, type BakeKeyInput } from '../../src/baker/bake-key.js';

const d1 = 'a'.repeat(64);
const d2 = 'b'.repeat(64);
const base: BakeKeyInput = {
  baseImageId: 'img-0123456789ab',
  packages: ['jq', 'curl'],
  packageFileDigests: [d1, d2],
  provisionScript: null,
  strategy: 'volume',
};

describe('computeBakeKey', () => {
  it('is a sha256 hex string and the same for equal requests', () => {
    const key = computeBakeKey(base);
    expect(key).toMatch(/^[0-9a-f]{64}$/);
    expect(computeBakeKey({ ...base })).toBe(key);
  });

  it('ignores the order and duplicates of packages and package files', () => {
    const key = computeBakeKey(base);
    expect(computeBakeKey({ ...base, packages: ['curl', 'jq', 'jq'], packageFileDigests: [d2, d1] })).toBe(
      key,
    );
  });

  it.each([
    ['base image', { baseImageId: 'img-other' }],
    ['packages', { packages: ['jq'] }],
    ['package file digests', { packageFileDigests: [d1] }],
    ['provisioning script', { provisionScript: 'echo hi' }],
    ['strategy', { strategy: 'instance' as const }],
    ['bake-format version', { formatVersion: BAKE_FORMAT_VERSION + 1 }],
  ])('changes when the %s changes', (_what, change) => {
    expect(computeBakeKey({ ...base, ...change })).not.toBe(computeBakeKey(base));
  });

  it('keeps an empty provisioning script apart from none', () => {
    expect(computeBakeKey({ ...base, provisionScript: '' })).not.toBe(computeBakeKey(base));
  });

  it('rejects a digest that is not sha256 hex, naming it', () => {
    expect(() => computeBakeKey({ ...base, packageFileDigests: ['abc'] })).toThrow(/"abc" is not a sha256/);
  });
});
