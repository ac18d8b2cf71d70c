import { describe, expect, it } from 'vitest';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { execFileSync } from 'node:child_process';
// @ts-expect-error: plain ESM build script without type declarations
import { bundleFiles } from '../../script/bundle.mjs';

function listFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? listFiles(path) : [path];
  });
}

describe('repository', () => {
  it('dist/ is exactly what src/ bundles to (run `npm run bundle` and commit dist/)', async () => {
    const expected = (await bundleFiles()) as Map<string, Uint8Array>;
    const actual = listFiles('dist').map((p) => relative('.', p));
    expect(actual.sort()).toEqual([...expected.keys()].sort());
    for (const [path, contents] of expected) {
      expect(Buffer.from(readFileSync(path)).equals(Buffer.from(contents)), `${path} is stale`).toBe(true);
    }
  });

  it('type-checks with tsc --noEmit (strict)', () => {
    execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '--noEmit', '-p', '.'], {
      stdio: 'pipe',
    });
  }, 120_000);

  it('passes eslint', () => {
    execFileSync(process.execPath, ['node_modules/eslint/bin/eslint.js', '.'], { stdio: 'pipe' });
  }, 120_000);
});
