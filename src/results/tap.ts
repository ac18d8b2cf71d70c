import { parse as parseYaml } from 'yaml';
import type { TestCase, TestSuite } from './model.js';
import { ResultFileError } from './read.js';
import { firstProjectFrame } from './stack.js';
import type { ParserOutput, StructureBreak } from './structure.js';
import { CappedText, LIMITS, cap, firstLine } from './text.js';

interface Point {
  ok: boolean;
  /** The test number as written, or the position it implies when the producer wrote none. */
  id: number;
  name: string;
  directive: 'skip' | 'todo' | null;
  reason: string;
  yaml: CappedText | null;
  /** `#` lines right after a failing point: Perl's Test::More and Bats put their diagnostics there. */
  comments: CappedText | null;
  children: Point[];
}

interface Level {
  /** Indentation of the level's lines; null for a buffered subtest before its first line. */
  indent: number | null;
  /** The subtest's name as announced by a `# Subtest:` comment ('' for the stream itself). */
  name: string;
  points: Point[];
  /** Subtests inside this level that ended without the test point closing them. */
  unfinished: Point[];
  plan: number | null;
  /** How many points had come when the plan came. */
  planAfter: number;
  ids: Set<number>;
  /** node-tap's buffered subtest (`ok 1 - name {` … `}`): the point that owns the level. */
  owner: { point: Point; indent: number } | null;
}

/** A test point: `ok`/`not ok`, an optional number after whitespace, an optional `-`, the rest. */
const POINT = /^(not ok|ok)(?=\s|$)\s*(?:(\d+)(?=\s|$))?\s*(?:-(?=\s|$))?\s*(.*)$/;
const PLAN = /^1\.\.(\d+)(?:\s*(?:#.*)?)$/;
const SUBTEST = /^#\s*Subtest(?::\s*(.*))?$/i;
const PRAGMA = /^pragma\s+([+-])([\w-]+)$/;
/** Diagnostic lines that say where or that a test failed, not what went wrong. */
/** Subtests deeper than this are counted at this depth: real suites nest a handful of levels. */
const MAX_DEPTH = 64;
/** Structure breaks kept per file; further ones are counted. */
const MAX_BREAKS = 100;
const NOT_A_MESSAGE = /^(?:\(in test file .*\)|Failed (?:\(TODO\) )?test\b.*|at .+ line \d+\.?)$/;

/**
 * Streaming TAP 14 (and 13) parser. Test points with SKIP/TODO directives (only after whitespace and
 * `#`), YAML diagnostic blocks bounded by their indentation, indented subtests (TAP 14, Node's test
 * runner, Perl's Test::More) and node-tap's buffered `{ … }` subtests, plans, `Bail out!` (nothing
 * after it counts), `pragma +strict`. A test point with subtests counts through its subtests; it counts
 * itself only when it failed although none of them did.
 *
 * Everything that keeps the stream from proving its tests ran is a structure break: no plan, a plan
 * that does not match, a plan in the middle, test numbers repeated, out of sequence or outside the
 * plan, a YAML block never closed, a subtest never finished, a non-TAP line under `pragma +strict`.
 */
export class TapParser {
  private buffer = '';
  private readonly levels: Level[] = [newLevel(0, '')];
  /** The point the previous line wrote: a YAML block may follow it. */
  private justWritten: { point: Point; indent: number } | null = null;
  /** The failing point whose diagnostics `#` lines are, until another kind of line comes. */
  private commentTarget: Point | null = null;
  private yaml: { indent: number; point: Point; text: CappedText } | null = null;
  /** The last `# Subtest: name` seen, naming the next level that opens. */
  private announced: { indent: number; name: string } | null = null;
  private pragmaStrict = false;
  private nonTapLines = 0;
  private lineNumber = 0;
  private sawTap = false;
  private bailOut: string | null = null;
  private readonly breaks: StructureBreak[] = [];
  private droppedBreaks = 0;

  constructor(private readonly source: string) {}

  write(chunk: string): void {
    const text = this.buffer + chunk;
    let start = 0;
    let nl = text.indexOf('\n', start);
    while (nl >= 0) {
      this.line(text.slice(start, nl));
      start = nl + 1;
      nl = text.indexOf('\n', start);
    }
    this.buffer = text.slice(start);
    // A single line has no business being megabytes long: keep only its start.
    if (this.buffer.length > 1_000_000) this.buffer = this.buffer.slice(0, LIMITS.details);
  }

  end(): ParserOutput {
    if (this.buffer) this.line(this.buffer);
    this.buffer = '';
    if (!this.sawTap) throw new ResultFileError('contains no TAP test point or plan: not a TAP file');
    if (this.yaml) this.unclosedYaml();
    if (this.bailOut !== null) {
      this.breaks.push({
        message: `the run was aborted with "Bail out!${this.bailOut ? ` ${this.bailOut}` : ''}"; tests after it never ran`,
        relaxable: false,
      });
      // Subtests open at the bail-out still count, without further complaints about them.
      while (this.levels.length > 1) this.popUnfinished(false);
    } else {
      while (this.levels.length > 1) this.popUnfinished(true);
      const root = this.levels[0]!;
      if (root.plan === null) {
        this.relaxable(
          `no plan (a "1..N" line): the stream may have ended before all tests ran (${root.points.length} reported)`,
        );
      } else {
        this.checkPlan(root);
      }
    }
    if (this.nonTapLines > 1)
      this.relaxable(`${this.nonTapLines} lines in all are not TAP under "pragma +strict"`);
    const root = this.levels[0]!;
    const cases: TestCase[] = [];
    for (const point of [...root.points, ...root.unfinished]) flatten(point, [], cases);
    const suites: TestSuite[] = cases.length ? [{ name: '', source: this.source, cases }] : [];
    return { suites, breaks: this.breaks };
  }

  private line(rawLine: string): void {
    this.lineNumber += 1;
    if (this.bailOut !== null) return;
    const raw = rawLine.endsWith('\r') ? rawLine.slice(0, -1) : rawLine;
    const text = raw.trim();
    const indent = raw.length - raw.trimStart().length;
    if (this.yaml) {
      if (text === '...' && indent === this.yaml.indent) {
        this.yaml = null;
        return;
      }
      if (!text || indent >= this.yaml.indent) {
        this.yaml.text.append(`${raw.slice(Math.min(indent, this.yaml.indent))}\n`);
        return;
      }
      // A line indented less than the block ends it, as TAP 14 bounds YAML by indentation.
      this.unclosedYaml();
    }
    if (!text) return;
    const justWritten = this.justWritten;
    this.justWritten = null;
    if (text === '---' && justWritten && indent > justWritten.indent) {
      const yamlText = new CappedText(LIMITS.details);
      justWritten.point.yaml = yamlText;
      this.yaml = { indent, point: justWritten.point, text: yamlText };
      return;
    }
    if (text.startsWith('#')) {
      this.comment(text, indent);
      return;
    }
    this.commentTarget = null;
    if (/^TAP version \d+$/i.test(text)) {
      this.sawTap = true;
      return;
    }
    const bail = /^Bail out!\s*(.*)$/i.exec(text);
    if (bail) {
      this.sawTap = true;
      this.bailOut = bail[1] ?? '';
      return;
    }
    const pragma = PRAGMA.exec(text);
    if (pragma) {
      if (pragma[2] === 'strict') this.pragmaStrict = pragma[1] === '+';
      return;
    }
    const plan = PLAN.exec(text);
    if (plan) {
      this.sawTap = true;
      this.plan(Number(plan[1]), indent);
      return;
    }
    const point = POINT.exec(text);
    if (point) {
      this.sawTap = true;
      this.point(point[1] === 'ok', point[2], point[3] ?? '', indent);
      return;
    }
    if (text === '}' && this.closeBuffered(indent)) return;
    if (this.pragmaStrict) {
      this.nonTapLines += 1;
      if (this.nonTapLines === 1) {
        this.relaxable(
          `line ${this.lineNumber} is not TAP although "pragma +strict" is on: "${cap(text, 80)}"`,
        );
      }
    }
  }

  private comment(text: string, indent: number): void {
    const subtest = SUBTEST.exec(text);
    if (subtest) {
      this.commentTarget = null;
      const name = (subtest[1] ?? '').trim();
      // TAP 14 writes the comment inside the subtest, Node and Perl just before it.
      const top = this.top();
      if (top.indent !== null && indent > top.indent) this.open(indent, this.announced?.name ?? name);
      this.announced = { indent, name };
      return;
    }
    this.commentTarget?.comments?.append(`${text.replace(/^#\s?/, '')}\n`);
  }

  private plan(count: number, indent: number): void {
    // A plan shallower than open subtests means those subtests never got their closing point.
    while (this.levels.length > 1 && this.isDeeper(this.top(), indent)) this.popUnfinished(true);
    const level = this.levelAt(indent);
    if (level.plan !== null) {
      this.relaxable(`${where(level)}has a second plan (1..${count} after 1..${level.plan})`);
      return;
    }
    level.plan = count;
    level.planAfter = level.points.length;
  }

  private point(ok: boolean, number: string | undefined, rest: string, indent: number): void {
    const children = this.closeDeeper(indent);
    const level = this.levelAt(indent);
    if (level.plan !== null && level.planAfter > 0 && level.planAfter === level.points.length) {
      this.relaxable(
        `${where(level)}has its plan 1..${level.plan} after test ${level.planAfter} but more tests after the plan`,
      );
    }
    const expected = level.points.length + 1;
    const id = number === undefined ? expected : Number(number);
    if (number !== undefined) {
      if (level.ids.has(id)) this.relaxable(`${where(level)}reports test number ${id} more than once`);
      else if (id !== expected) {
        this.relaxable(`${where(level)}reports test number ${id} out of sequence (expected ${expected})`);
      }
    }
    level.ids.add(id);
    const buffered = /(?:^|\s)\{$/.test(rest);
    const { name, directive, reason } = splitDirective(buffered ? rest.slice(0, -1).trimEnd() : rest);
    const p: Point = { ok, id, name, directive, reason, yaml: null, comments: null, children };
    level.points.push(p);
    this.justWritten = { point: p, indent };
    if (this.announced && this.announced.indent >= indent) this.announced = null;
    if (!ok && directive === null) {
      p.comments = new CappedText(LIMITS.details);
      this.commentTarget = p;
    }
    if (buffered && this.levels.length < MAX_DEPTH) {
      const subtest = newLevel(null, name);
      subtest.owner = { point: p, indent };
      this.levels.push(subtest);
    }
  }

  private top(): Level {
    return this.levels[this.levels.length - 1]!;
  }

  /** Whether a line at `indent` lies outside `level`, which must therefore have ended. */
  private isDeeper(level: Level, indent: number): boolean {
    if (level.owner) return level.owner.indent >= indent;
    return level.indent !== null && level.indent > indent;
  }

  /** The level a line at `indent` belongs to, opening a subtest when the stream goes deeper. */
  private levelAt(indent: number): Level {
    const top = this.top();
    if (top.indent === null) {
      top.indent = indent;
      return top;
    }
    if (indent > top.indent) return this.open(indent, this.announced?.name ?? '');
    return top;
  }

  private open(indent: number, name: string): Level {
    if (this.levels.length >= MAX_DEPTH) return this.top();
    const level = newLevel(indent, name);
    this.levels.push(level);
    this.announced = null;
    return level;
  }

  /**
   * Ends the levels deeper than a test point at `indent`: the shallowest of them holds the point's
   * subtests; any deeper one never got its own closing point.
   */
  private closeDeeper(indent: number): Point[] {
    let children: Point[] = [];
    while (this.levels.length > 1 && this.isDeeper(this.top(), indent)) {
      const level = this.top();
      const parent = this.levels[this.levels.length - 2]!;
      if (level.owner || (parent.indent !== null && parent.indent > indent)) {
        this.popUnfinished(true);
        continue;
      }
      this.levels.pop();
      this.checkPlan(level);
      children = [...level.points, ...level.unfinished];
    }
    return children;
  }

  /** A `}` at the indentation of a buffered subtest's point closes it. */
  private closeBuffered(indent: number): boolean {
    const at = this.levels.findLastIndex((l) => l.owner?.indent === indent);
    if (at < 1) return false;
    while (this.levels.length - 1 > at) this.popUnfinished(true);
    const level = this.levels.pop()!;
    this.checkPlan(level);
    level.owner!.point.children.push(...level.points, ...level.unfinished);
    return true;
  }

  /** Pops the deepest level, which ended without its closing point; its tests still count. */
  private popUnfinished(complain: boolean): void {
    const level = this.levels.pop()!;
    const parent = this.top();
    const owner = level.owner?.point;
    const name = owner?.name ?? level.name;
    if (complain) {
      this.relaxable(
        owner
          ? `subtest "${cap(name, 120)}" opened with "{" is never closed with "}"`
          : `subtest${name ? ` "${cap(name, 120)}"` : ''} never finished: no test point closes it (${level.points.length} of its tests counted)`,
      );
      this.checkPlan(level);
    }
    if (owner) {
      owner.children.push(...level.points, ...level.unfinished);
      return;
    }
    parent.unfinished.push({
      ok: true,
      id: 0,
      name: name || '(unnamed subtest)',
      directive: null,
      reason: '',
      yaml: null,
      comments: null,
      children: [...level.points, ...level.unfinished],
    });
  }

  private checkPlan(level: Level): void {
    if (level.plan === null) return;
    // An unfinished subtest stands for the point that would have closed it (and is reported itself).
    const reported = level.points.length + level.unfinished.length;
    if (level.plan !== reported) {
      this.relaxable(
        `${where(level)}planned ${level.plan} tests (1..${level.plan}) but reported ${reported}`,
      );
    }
    const outside = level.points.filter((p) => p.id < 1 || p.id > level.plan!).map((p) => p.id);
    if (outside.length) {
      this.relaxable(
        `${where(level)}reports test number${outside.length > 1 ? 's' : ''} ${outside.slice(0, 5).join(', ')} outside its plan 1..${level.plan}`,
      );
    }
  }

  private unclosedYaml(): void {
    const point = this.yaml!.point;
    this.yaml = null;
    this.relaxable(
      `the YAML block of test ${point.id}${point.name ? ` "${cap(point.name, 120)}"` : ''} opened with "---" is never closed with "..."`,
    );
  }

  private relaxable(message: string): void {
    if (this.breaks.length >= MAX_BREAKS) this.droppedBreaks += 1;
    else this.breaks.push({ message, relaxable: true });
  }
}

function newLevel(indent: number | null, name: string): Level {
  return { indent, name, points: [], unfinished: [], plan: null, planAfter: 0, ids: new Set(), owner: null };
}

function where(level: Level): string {
  if (level.owner) return `subtest "${cap(level.owner.point.name, 120)}" `;
  if (level.indent === 0) return 'the stream ';
  return level.name ? `subtest "${cap(level.name, 120)}" ` : 'a subtest ';
}

/**
 * Splits a description from its directive. A directive is `#` after whitespace (or at the start),
 * then SKIP or TODO in any case; an escaped `\#` or a `#` inside a word (`title#skip`) is part of the
 * description. node-tap's trailing `# time=12ms` is dropped.
 */
function splitDirective(rest: string): { name: string; directive: 'skip' | 'todo' | null; reason: string } {
  const m = /(?:^|\s)#\s*(skip|todo)\S*(?:\s+(.*))?$/i.exec(rest);
  if (m && !isEscaped(rest, m.index + m[0].indexOf('#'))) {
    return {
      name: unescape(rest.slice(0, m.index).trim()),
      directive: m[1]!.toLowerCase() === 'skip' ? 'skip' : 'todo',
      reason: (m[2] ?? '').trim(),
    };
  }
  const name = rest.replace(/\s+#\s*time=[\d.]+m?s$/, '').trim();
  return { name: unescape(name), directive: null, reason: '' };
}

function isEscaped(text: string, at: number): boolean {
  let backslashes = 0;
  for (let i = at - 1; i >= 0 && text[i] === '\\'; i--) backslashes += 1;
  return backslashes % 2 === 1;
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
  const comments = point.comments?.toString().trim() ?? '';
  const diag = readDiagnostics(yamlText);
  const status =
    point.directive === 'skip' || (point.directive === 'todo' && !point.ok)
      ? 'skipped'
      : point.ok
        ? 'passed'
        : 'failed';
  const failing = status === 'failed';
  const commentMessage = firstLine(
    comments
      .split('\n')
      .filter((line) => !NOT_A_MESSAGE.test(line.trim()))
      .join('\n'),
  );
  const message = failing
    ? diag.message || firstLine(yamlText) || commentMessage || point.name
    : point.reason;
  let file = diag.file;
  let line = diag.line;
  // The stack's first project frame is where it failed; `location`/`at` may only name the test.
  const guess = failing ? firstProjectFrame(diag.stack || yamlText || comments) : null;
  if (guess && (file === null || sameFile(guess.file, file))) ({ file, line } = guess);
  return {
    name: cap(point.name, LIMITS.name),
    suite: cap(parents.join(' > '), LIMITS.name),
    status,
    durationMs: diag.durationMs,
    message: cap(message, LIMITS.message),
    details: failing ? [yamlText.trim(), comments].filter(Boolean).join('\n') : '',
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
  const at = d.at ?? d.location;
  if (typeof at === 'string') {
    const m = /^(?:.*\()?(.+?):(\d+)(?::\d+)?\)?$/.exec(at.trim());
    if (m) ({ file, line } = { file: m[1]!.replace(/^file:\/\//, ''), line: Number(m[2]) });
  } else if (at && typeof at === 'object') {
    const w = at as Record<string, unknown>;
    file = str(w.file ?? w.fileName ?? w.filename) || null;
    line = Number(w.line) || null;
  } else if (typeof d.file === 'string') {
    file = d.file;
    line = Number(d.line) || null;
  }
  const durationMs = typeof d.duration_ms === 'number' ? d.duration_ms : null;
  return { message, stack: str(d.stack), file, line: file ? line : null, durationMs };
}
