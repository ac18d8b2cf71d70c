import { parse as parseYaml } from 'yaml';
import type { TestCase, TestSuite } from './model.js';
import { ResultFileError } from './read.js';
import { firstProjectFrame } from './stack.js';
import { CappedText, LIMITS, cap, firstLine } from './text.js';

interface Point {
  ok: boolean;
  name: string;
  directive: 'skip' | 'todo' | null;
  reason: string;
  yaml: CappedText | null;
  children: Point[];
}

interface Level {
  indent: number;
  points: Point[];
  plan: number | null;
}

const POINT = /^(not ok|ok)\b\s*(\d+)?\s*(?:-\s*)?(.*)$/;
const PLAN = /^1\.\.(\d+)\b/;

/**
 * Streaming TAP 13/14 parser: test points, directives (SKIP, TODO), YAML diagnostic blocks, indented
 * subtests (TAP 14 and Node's test runner), plans and "Bail out!". A test point with subtests counts
 * through its subtests; it counts itself only when it failed although none of them did.
 */
export class TapParser {
  private buffer = '';
  private readonly levels: Level[] = [{ indent: 0, points: [], plan: null }];
  private last: { point: Point; indent: number } | null = null;
  private yamlIndent: number | null = null;
  private sawTap = false;
  private bailOut: string | null = null;
  readonly problems: string[] = [];

  constructor(private readonly source: string) {}

  write(chunk: string): void {
    this.buffer += chunk;
    let nl = this.buffer.indexOf('\n');
    while (nl >= 0) {
      this.line(this.buffer.slice(0, nl).replace(/\r$/, ''));
      this.buffer = this.buffer.slice(nl + 1);
      nl = this.buffer.indexOf('\n');
    }
    // A single line has no business being megabytes long: keep only its start.
    if (this.buffer.length > 1_000_000) this.buffer = this.buffer.slice(0, LIMITS.details);
  }

  end(): TestSuite {
    if (this.buffer) this.line(this.buffer.replace(/\r$/, ''));
    this.buffer = '';
    const root = this.levels[0]!;
    // Subtests whose parent point never came (a truncated stream) still count.
    root.points.push(...this.popDeeper(0));
    if (!this.sawTap) throw new ResultFileError('contains no TAP test point or plan: not a TAP file');
    const suite: TestSuite = { name: '', source: this.source, cases: [] };
    for (const point of root.points) flatten(point, [], suite.cases);
    if (this.bailOut !== null) {
      suite.cases.push(
        caseOf({ ok: false, name: 'Bail out!', directive: null, reason: '', yaml: null, children: [] }, []),
      );
      suite.cases[suite.cases.length - 1]!.status = 'error';
      suite.cases[suite.cases.length - 1]!.message = cap(`Bail out! ${this.bailOut}`.trim(), LIMITS.message);
    } else if (root.plan !== null && root.plan !== root.points.length) {
      this.problems.push(`planned ${root.plan} tests (1..${root.plan}) but reported ${root.points.length}`);
    }
    return suite;
  }

  private line(raw: string): void {
    const indent = raw.length - raw.trimStart().length;
    const text = raw.trim();
    if (this.yamlIndent !== null) {
      if (text === '...' && indent === this.yamlIndent) {
        this.yamlIndent = null;
      } else {
        this.last?.point.yaml?.append(`${raw.slice(Math.min(indent, this.yamlIndent))}\n`);
      }
      return;
    }
    if (text === '---' && this.last && indent > this.last.indent) {
      this.yamlIndent = indent;
      this.last.point.yaml = new CappedText(LIMITS.details);
      return;
    }
    if (/^TAP version \d+/i.test(text)) {
      this.sawTap = true;
      return;
    }
    const bail = /^Bail out!\s*(.*)$/i.exec(text);
    if (bail) {
      this.sawTap = true;
      this.bailOut = bail[1] ?? '';
      return;
    }
    const plan = PLAN.exec(text);
    if (plan) {
      this.sawTap = true;
      this.levelAt(indent).plan = Number(plan[1]);
      return;
    }
    const m = POINT.exec(text);
    if (!m) return;
    this.sawTap = true;
    const children = this.popDeeper(indent);
    const { name, directive, reason } = splitDirective(m[3] ?? '');
    const point: Point = { ok: m[1] === 'ok', name, directive, reason, yaml: null, children };
    this.levelAt(indent).points.push(point);
    this.last = { point, indent };
  }

  /** The level for `indent`, opening it when the stream goes deeper (a subtest begins). */
  private levelAt(indent: number): Level {
    const top = this.levels[this.levels.length - 1]!;
    if (indent > top.indent) {
      const level: Level = { indent, points: [], plan: null };
      this.levels.push(level);
      return level;
    }
    return top;
  }

  /** Levels deeper than `indent` end here: their points are the subtests of the next point. */
  private popDeeper(indent: number): Point[] {
    const children: Point[] = [];
    while (this.levels.length > 1 && this.levels[this.levels.length - 1]!.indent > indent) {
      const level = this.levels.pop()!;
      children.unshift(...level.points);
    }
    return children;
  }
}

function splitDirective(rest: string): { name: string; directive: 'skip' | 'todo' | null; reason: string } {
  const m = /(?:^|[^\\])#\s*(SKIP|TODO)\S*\s*(.*)$/i.exec(rest);
  if (!m) return { name: unescape(rest.trim()), directive: null, reason: '' };
  const cut = m.index + (m[0].startsWith('#') ? 0 : 1);
  return {
    name: unescape(rest.slice(0, cut).trim()),
    directive: m[1]!.toLowerCase() === 'skip' ? 'skip' : 'todo',
    reason: (m[2] ?? '').trim(),
  };
}

function unescape(text: string): string {
  return text.replace(/\\([#\\])/g, '$1');
}

function sameFile(a: string, b: string): boolean {
  const strip = (p: string): string => p.replace(/^file:\/\//, '').replace(/^\.\//, '');
  return strip(a) === strip(b) || strip(a).endsWith(`/${strip(b)}`) || strip(b).endsWith(`/${strip(a)}`);
}

function hasFailure(point: Point): boolean {
  return point.children.some((c) => (!c.ok && c.directive === null) || hasFailure(c));
}

function flatten(point: Point, parents: string[], out: TestCase[]): void {
  if (point.children.length > 0) {
    for (const child of point.children) flatten(child, [...parents, point.name], out);
    if (point.ok || point.directive !== null || hasFailure(point)) return;
  }
  out.push(caseOf(point, parents));
}

function caseOf(point: Point, parents: string[]): TestCase {
  const yamlText = point.yaml?.toString() ?? '';
  const diag = readDiagnostics(yamlText);
  const status =
    point.directive === 'skip' || (point.directive === 'todo' && !point.ok)
      ? 'skipped'
      : point.ok
        ? 'passed'
        : 'failed';
  const failing = status === 'failed';
  const message = failing ? diag.message || firstLine(yamlText) || point.name : point.reason;
  let file = diag.file;
  let line = diag.line;
  // The stack's first project frame is where it failed; `location`/`at` may only name the test.
  const guess = failing ? firstProjectFrame(diag.stack || yamlText) : null;
  if (guess && (file === null || sameFile(guess.file, file))) ({ file, line } = guess);
  return {
    name: cap(point.name, LIMITS.name),
    suite: cap(parents.join(' > '), LIMITS.name),
    status,
    durationMs: diag.durationMs,
    message: cap(message, LIMITS.message),
    details: failing ? yamlText.trim() : '',
    file,
    line,
    stdout: '',
    stderr: '',
  };
}

interface Diagnostics {
  message: string;
  stack: string;
  file: string | null;
  line: number | null;
  durationMs: number | null;
}

/** Reads the fields producers use: message/error, at/location/file+line, duration_ms. */
function readDiagnostics(yamlText: string): Diagnostics {
  const none: Diagnostics = { message: '', stack: '', file: null, line: null, durationMs: null };
  if (!yamlText.trim()) return none;
  let doc: unknown;
  try {
    // yaml caps alias expansion (maxAliasCount), so an alias bomb fails instead of growing.
    doc = parseYaml(yamlText, { maxAliasCount: 100, prettyErrors: false });
  } catch {
    return none;
  }
  if (!doc || typeof doc !== 'object') return none;
  const d = doc as Record<string, unknown>;
  const str = (v: unknown): string => (typeof v === 'string' ? v : typeof v === 'number' ? String(v) : '');
  const message = firstLine(
    str(d.message) || str(d.error) || str((d.error as Record<string, unknown>)?.message),
  );
  let file: string | null = null;
  let line: number | null = null;
  const where = d.at ?? d.location;
  if (typeof where === 'string') {
    const m = /^(?:.*\()?(.+?):(\d+)(?::\d+)?\)?$/.exec(where.trim());
    if (m) ({ file, line } = { file: m[1]!.replace(/^file:\/\//, ''), line: Number(m[2]) });
  } else if (where && typeof where === 'object') {
    const w = where as Record<string, unknown>;
    file = str(w.file ?? w.fileName ?? w.filename) || null;
    line = Number(w.line) || null;
  } else if (typeof d.file === 'string') {
    file = d.file;
    line = Number(d.line) || null;
  }
  const durationMs = typeof d.duration_ms === 'number' ? d.duration_ms : null;
  return { message, stack: str(d.stack), file, line: file ? line : null, durationMs };
}
