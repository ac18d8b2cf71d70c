/**
 * Every YAML file the repository ships (its own workflows, action.yml, the example workflows and
 * configs users copy) must parse: a workflow that does not parse never runs, and GitHub says so only on
 * the next push.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseDocument } from 'yaml';

const ROOT = join(import.meta.dirname, '../..');
const SKIP = new Set(['node_modules', '.git', 'dist']);

function yamlFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    if (SKIP.has(entry.name)) return [];
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return yamlFiles(path);
    return /\.ya?ml$/.test(entry.name) ? [path] : [];
  });
}

describe('YAML files in the repository', () => {
  const files = yamlFiles(ROOT).map((path) => relative(ROOT, path));

  it('include the workflows and action.yml', () => {
    expect(files).toEqual(expect.arrayContaining(['action.yml', '.github/workflows/ci.yml']));
  });

  it.each(files)('%s parses without errors', (file) => {
    const document = parseDocument(readFileSync(join(ROOT, file), 'utf8'));
    expect(document.errors.map((e) => e.message)).toEqual([]);
  });
});
