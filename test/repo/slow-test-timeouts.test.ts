/**
 * The tests that boot VMs, bake or need root (`.qemu.` and `.root.` files) must never rely on vitest's
 * short default timeout, nor on a number written in the file: each test and hook takes a timeout
 * derived with test/support/timeouts.ts from what it waits on, itself or from its `describe`.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const TESTS = new Set(['it', 'test']);
const HOOKS = new Set(['beforeAll', 'afterAll', 'beforeEach', 'afterEach']);

function slowTestFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return slowTestFiles(path);
    return /\.(qemu|root)\.test\.ts$/.test(name) ? [path] : [];
  });
}

/** `it`, `it.each([...])`, `it.skip` …: the name of the vitest function a call runs, if any. */
function vitestFunction(call: ts.CallExpression): string | null {
  let callee: ts.Expression = call.expression;
  if (ts.isCallExpression(callee)) callee = callee.expression; // it.each([...])(name, fn)
  while (ts.isPropertyAccessExpression(callee)) callee = callee.expression;
  return ts.isIdentifier(callee) ? callee.text : null;
}

function isFunction(node: ts.Node | undefined): boolean {
  return node !== undefined && (ts.isArrowFunction(node) || ts.isFunctionExpression(node));
}

/** The timeout a call gives: a third argument, or an options object (or constant) before the function. */
function ownTimeout(call: ts.CallExpression, kind: 'test' | 'hook'): ts.Expression | null {
  const args = call.arguments;
  if (kind === 'hook') return args[1] ?? null;
  if (args.length >= 3) return isFunction(args[1]) ? args[2]! : args[1]!;
  return null;
}

function numericTimeout(timeout: ts.Expression): boolean {
  if (ts.isNumericLiteral(timeout)) return true;
  return (
    ts.isObjectLiteralExpression(timeout) &&
    timeout.properties.some(
      (p) =>
        ts.isPropertyAssignment(p) && p.name.getText() === 'timeout' && ts.isNumericLiteral(p.initializer),
    )
  );
}

/** Where a slow test file leaves a test or hook on the default timeout or writes its timeout as a number. */
export function timeoutProblems(fileName: string, source: string): string[] {
  const file = ts.createSourceFile(fileName, source, ts.ScriptTarget.Latest, true);
  const problems: string[] = [];
  const where = (node: ts.Node) =>
    `${fileName}:${file.getLineAndCharacterOfPosition(node.getStart()).line + 1}`;
  const visit = (node: ts.Node, describeHasTimeout: boolean): void => {
    // `it.each([...])` on its own only builds the test that the call around it defines.
    const builder =
      node.parent !== undefined && ts.isCallExpression(node.parent) && node.parent.expression === node;
    if (ts.isCallExpression(node) && !builder) {
      const name = vitestFunction(node);
      if (name === 'describe') {
        const options = node.arguments.length >= 3 ? node.arguments[1]! : null;
        if (options && numericTimeout(options)) problems.push(`${where(node)}: describe timeout is a number`);
        node.arguments.forEach((arg) => visit(arg, describeHasTimeout || options !== null));
        return;
      }
      if (name && (TESTS.has(name) || HOOKS.has(name))) {
        const kind = HOOKS.has(name) ? 'hook' : 'test';
        const timeout = ownTimeout(node, kind);
        if (timeout && numericTimeout(timeout)) problems.push(`${where(node)}: ${name} timeout is a number`);
        if (!timeout && (kind === 'hook' || !describeHasTimeout))
          problems.push(`${where(node)}: ${name} has no timeout of its own or from its describe`);
      }
    }
    ts.forEachChild(node, (child) => visit(child, describeHasTimeout));
  };
  visit(file, false);
  return problems;
}

describe('timeouts of the slow tests', () => {
  it('every test and hook of a .qemu. or .root. file takes a derived timeout', () => {
    const files = slowTestFiles('test');
    expect(files.length).toBeGreaterThan(0);
    expect(files.flatMap((f) => timeoutProblems(f, readFileSync(f, 'utf8')))).toEqual([]);
  });

  it('finds a missing timeout, a number, and accepts a describe-wide one', () => {
    const source = [
      'beforeAll(async () => undefined, 900_000);',
      'afterAll(async () => undefined);',
      "it('boots', async () => undefined);",
      "it('bakes', async () => undefined, 600_000);",
      "it.each(['a'])('kills %s', { timeout: 5000 }, async () => undefined);",
      "describe('d', { timeout: LONGEST }, () => {",
      "  it('inherits', async () => undefined);",
      "  it.each(['a'])('inherits %s', async () => undefined);",
      '});',
      "describe('e', () => {",
      "  it('own', async () => undefined, timeoutFor(budgets.launch));",
      "  it('none', async () => undefined);",
      '});',
    ].join('\n');
    expect(timeoutProblems('x.qemu.test.ts', source)).toEqual([
      'x.qemu.test.ts:1: beforeAll timeout is a number',
      'x.qemu.test.ts:2: afterAll has no timeout of its own or from its describe',
      'x.qemu.test.ts:3: it has no timeout of its own or from its describe',
      'x.qemu.test.ts:4: it timeout is a number',
      'x.qemu.test.ts:5: it timeout is a number',
      'x.qemu.test.ts:12: it has no timeout of its own or from its describe',
    ]);
  });
});
