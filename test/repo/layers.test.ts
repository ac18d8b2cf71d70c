/**
 * The source layout rules, checked on the real files: imports point downward only
 * (entry shells → pipeline → baker → providers, ssh, results, report → common), nothing but the
 * provider registry and provider-specific commands reaches into one provider's folder, and no
 * function in src/ is longer than 120 lines.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const SRC = resolve('src');
const MAX_FUNCTION_LINES = 120;

/** Folders of src/ and the folders each may import from (besides itself). */
const MAY_IMPORT: Record<string, readonly string[]> = {
  common: [],
  ssh: ['common'],
  results: ['common'],
  report: ['common', 'results'],
  providers: ['common'],
  baker: ['common', 'providers', 'ssh'],
  bakery: ['common', 'baker', 'providers', 'ssh', 'results'],
  pipeline: ['common', 'baker', 'bakery', 'providers', 'ssh', 'results', 'report'],
  cli: ['common', 'pipeline', 'baker', 'bakery', 'providers', 'ssh', 'results', 'report'],
  action: ['common', 'pipeline', 'baker', 'providers', 'ssh', 'results', 'report'],
};

/**
 * Files outside src/providers allowed to use one provider directly: commands only that provider has,
 * and the Action's Actions-cache persistence of the local provider's image store.
 */
const PROVIDER_SPECIFIC = new Set([
  'cli/commands/base.ts',
  'cli/commands/images.ts',
  'action/image-cache.ts',
]);

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

function parse(file: string): ts.SourceFile {
  return ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
}

/** Every relative module a file imports, statically or with import(), as a path below src/. */
function importsOf(source: ts.SourceFile): string[] {
  const found: string[] = [];
  const visit = (node: ts.Node) => {
    let specifier: ts.Expression | undefined;
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier)
      specifier = node.moduleSpecifier;
    if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword)
      specifier = node.arguments[0];
    if (specifier && ts.isStringLiteral(specifier) && specifier.text.startsWith('.'))
      found.push(relative(SRC, resolve(dirname(source.fileName), specifier.text)));
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

function longFunctions(source: ts.SourceFile): string[] {
  const found: string[] = [];
  const visit = (node: ts.Node) => {
    if (ts.isFunctionLike(node) && 'body' in node && node.body) {
      const start = source.getLineAndCharacterOfPosition(node.getStart(source)).line;
      const end = source.getLineAndCharacterOfPosition(node.getEnd()).line;
      if (end - start + 1 > MAX_FUNCTION_LINES)
        found.push(`${relative(SRC, source.fileName)}:${start + 1} (${end - start + 1} lines)`);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

const files = sourceFiles(SRC).map(parse);

describe('source layout', () => {
  it('knows every folder of src/', () => {
    const folders = new Set(files.map((f) => relative(SRC, f.fileName).split('/')[0]));
    expect([...folders].filter((folder) => !(folder! in MAY_IMPORT))).toEqual([]);
  });

  it('imports point downward only, and src/common imports nothing from other folders', () => {
    const violations: string[] = [];
    for (const file of files) {
      const from = relative(SRC, file.fileName);
      const layer = from.split('/')[0]!;
      for (const target of importsOf(file)) {
        const to = target.split('/')[0]!;
        if (to !== layer && !MAY_IMPORT[layer]?.includes(to)) violations.push(`${from} → ${target}`);
      }
    }
    expect(violations).toEqual([]);
  });

  it('only the registry and provider-specific commands reach into one provider', () => {
    const providerFolders = ['providers/local/', 'providers/ec2/'];
    const violations: string[] = [];
    for (const file of files) {
      const from = relative(SRC, file.fileName);
      if (from.startsWith('providers/') || PROVIDER_SPECIFIC.has(from)) continue;
      for (const target of importsOf(file))
        if (providerFolders.some((p) => target.startsWith(p))) violations.push(`${from} → ${target}`);
    }
    expect(violations).toEqual([]);
  });

  it(`has no function over ${MAX_FUNCTION_LINES} lines`, () => {
    expect(files.flatMap(longFunctions)).toEqual([]);
  });

  it('index.ts files only re-export', () => {
    const offenders = files
      .filter((f) => f.fileName.endsWith('/index.ts'))
      .filter((f) => f.statements.some((s) => !(ts.isExportDeclaration(s) && s.moduleSpecifier)))
      .map((f) => relative(SRC, f.fileName));
    expect(offenders).toEqual([]);
  });

  it('has exactly one step runner', () => {
    const runners = files.filter((f) => /export (async )?function runSteps\b/.test(f.text));
    expect(runners.map((f) => relative(SRC, f.fileName))).toEqual(['common/steps.ts']);
  });
});
