import { execFile } from 'node:child_process';
import { isAbsolute, posix, relative, resolve, sep } from 'node:path';
import { promisify } from 'node:util';
import { ConfigError } from '../common/errors.js';
import type { TestCase } from './model.js';
import { extractFrames, type Frame } from './stack.js';

const run = promisify(execFile);

/** `C:/…` once backslashes are slashes. */
const WINDOWS_DRIVE = /^[A-Za-z]:(?=\/|$)/;

export interface PathMapping {
  from: string;
  to: string;
}

/** Parses `instance-prefix=repo-prefix` pairs (`/opt/app=.`); a bad pair is a ConfigError naming it. */
export function parsePathMap(pairs: string[]): PathMapping[] {
  return pairs.map((pair) => {
    const eq = pair.indexOf('=');
    const from = eq < 0 ? '' : pair.slice(0, eq).trim();
    const to = eq < 0 ? '' : pair.slice(eq + 1).trim();
    if (eq < 0 || !from || !to) {
      throw new ConfigError(
        `path-map: "${pair}" is not a pair like /opt/app=. (instance prefix=repository prefix)`,
      );
    }
    if (isAbsolute(to) || posix.normalize(to.replace(/\\/g, '/')).split('/')[0] === '..') {
      throw new ConfigError(
        `path-map: "${pair}": the repository side "${to}" must be a path inside the repository`,
      );
    }
    return { from: trimSlash(from.replace(/\\/g, '/')), to: trimSlash(to.replace(/\\/g, '/')) };
  });
}

function trimSlash(path: string): string {
  return path.length > 1 ? path.replace(/\/+$/, '') : path;
}

/** Repository-relative paths of the files git tracks; empty when `repoRoot` is not a git work tree. */
export async function trackedFiles(repoRoot: string): Promise<Set<string>> {
  try {
    const { stdout } = await run('git', ['-C', repoRoot, 'ls-files', '-z'], { maxBuffer: 256 * 1024 * 1024 });
    return new Set(stdout.split('\0').filter(Boolean));
  } catch {
    return new Set();
  }
}

/**
 * Maps paths from result files to tracked repository files: `path-map` first (longest prefix wins),
 * then absolute paths inside the local checkout; relative paths that are not repository-relative are
 * matched against tracked files by their whole path as a suffix and kept only when exactly one file
 * matches. Nothing outside the repository is ever returned.
 */
export class RepoLocator {
  private readonly byBase = new Map<string, string[]>();
  private readonly maps: PathMapping[];

  constructor(
    private readonly tracked: Set<string>,
    private readonly repoRoot: string | null,
    pathMap: PathMapping[],
  ) {
    this.maps = [...pathMap].sort((a, b) => b.from.length - a.from.length);
    for (const file of tracked) {
      const base = posix.basename(file);
      const list = this.byBase.get(base);
      if (list) list.push(file);
      else this.byBase.set(base, [file]);
    }
  }

  /** The tracked repository file a path from a result file refers to, or null. */
  resolve(
    rawPath: string,
    options: { partial?: boolean; near?: string | null; suite?: string } = {},
  ): string | null {
    let path = rawPath.trim().replace(/\\/g, '/');
    if (!path || path.includes('\0')) return null;
    let mapped = false;
    const target = this.mapped(path);
    if (target !== null) {
      path = target;
      mapped = true;
    }
    if (WINDOWS_DRIVE.test(path)) return null; // a Windows path that no path-map entry covers
    if (isAbsolute(path)) {
      if (!this.repoRoot) return null;
      const rel = relative(this.repoRoot, path);
      if (!rel || rel.startsWith('..') || isAbsolute(rel)) return null;
      path = rel.split(sep).join('/');
      mapped = true;
    }
    path = posix.normalize(path).replace(/^(\.\/)+/, '');
    if (path === '.' || path === '..' || path.startsWith('../')) return null;
    if (!options.partial && this.tracked.has(path)) return path;
    if (mapped) return null;
    return this.bySuffix(path, options.near ?? null, options.suite ?? '');
  }

  /**
   * `path` rewritten by the longest matching path-map prefix, or null. Drive letters match in any
   * case, and a prefix written without one (`/app`) also covers `C:/app`, and the other way round.
   */
  private mapped(path: string): string | null {
    const pathDrive = WINDOWS_DRIVE.exec(path)?.[0].toLowerCase() ?? null;
    const bare = pathDrive ? path.slice(2) : path;
    for (const { from, to } of this.maps) {
      const fromDrive = WINDOWS_DRIVE.exec(from)?.[0].toLowerCase() ?? null;
      if (pathDrive && fromDrive && pathDrive !== fromDrive) continue;
      const prefix = fromDrive ? from.slice(2) || '/' : from;
      const subject = fromDrive || pathDrive ? bare : path;
      if (subject === prefix || subject.startsWith(prefix === '/' ? '/' : `${prefix}/`)) {
        const rest = subject === prefix ? '' : subject.slice(prefix === '/' ? 1 : prefix.length + 1);
        return to === '.' ? rest || '.' : rest ? `${to}/${rest}` : to;
      }
    }
    return null;
  }

  private bySuffix(path: string, near: string | null, suite: string): string | null {
    const candidates = (this.byBase.get(posix.basename(path)) ?? []).filter(
      (file) => file === path || file.endsWith(`/${path}`),
    );
    if (candidates.length <= 1) return candidates[0] ?? null;
    // Still ambiguous after the whole path: only a decisive hint may pick one, never list order.
    if (near) {
      const dir = posix.dirname(near);
      const same = candidates.filter((file) => posix.dirname(file) === dir);
      if (same.length === 1) return same[0]!;
    }
    if (suite.includes('/')) {
      const inPackage = candidates.filter((file) => suite.endsWith(posix.dirname(file)));
      if (inPackage.length === 1) return inPackage[0]!;
    }
    return null;
  }

  /**
   * Where a failing case failed: the case's file (attribute or parser's guess) with the deepest
   * matching stack line in that file, else the first stack frame that is a tracked file.
   */
  locate(testCase: TestCase): { file: string | null; line: number | null } {
    const frames = extractFrames(`${testCase.details}\n${testCase.message}`);
    const resolveFrame = (frame: Frame, near: string | null): string | null =>
      this.resolve(frame.file, { partial: frame.partial, near, suite: testCase.suite });
    const own = testCase.file ? this.resolve(testCase.file, { suite: testCase.suite }) : null;
    if (own) {
      // A stack line in the case's own file shows where it failed; an attribute line that the stack
      // confirms (e.g. TAP's stack after its `location`) is kept.
      const inOwn = frames.filter((frame) => resolveFrame(frame, own) === own);
      const confirmed = inOwn.some((frame) => frame.line === testCase.line);
      return { file: own, line: validLine(confirmed ? testCase.line : (inOwn[0]?.line ?? testCase.line)) };
    }
    for (const frame of frames) {
      const file = resolveFrame(frame, null);
      if (file) return { file, line: validLine(frame.line) };
    }
    return { file: null, line: null };
  }
}

function validLine(line: number | null | undefined): number | null {
  return typeof line === 'number' && Number.isSafeInteger(line) && line > 0 ? line : null;
}

/** The git work tree containing `dir`, or null. */
export async function findRepoRoot(dir: string): Promise<string | null> {
  try {
    const { stdout } = await run('git', ['-C', dir, 'rev-parse', '--show-toplevel']);
    const root = stdout.trim();
    return root ? resolve(root) : null;
  } catch {
    return null;
  }
}
