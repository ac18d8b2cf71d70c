import { SaxesParser, type SaxesTagPlain } from 'saxes';
import type { TestCase, TestStatus, TestSuite } from './model.js';
import { ResultFileError } from './read.js';
import { firstProjectFrame } from './stack.js';
import type { ParserOutput, StructureBreak } from './structure.js';
import { CappedText, LIMITS, cap, firstLine } from './text.js';

interface SuiteFrame {
  name: string;
  file: string | null;
  /** pytest writes 0-based `line` attributes (xunit1 family). */
  pytest: boolean;
  suite: TestSuite | null;
  /** The counts the suite element declares (tests, failures, errors, skipped/disabled). */
  declared: DeclaredCounts;
  /** Whether any test case or nested suite appeared inside this one. */
  hasContent: boolean;
}

interface DeclaredCounts {
  tests: number;
  failures: number;
  errors: number;
  skipped: number;
}

type Capture = 'details' | 'skipped' | 'stdout' | 'stderr' | 'ignored';

interface CaseDraft {
  testCase: TestCase;
  details: CappedText;
  stdout: CappedText;
  stderr: CappedText;
  skipMessage: string;
  /** node's JUnit reporter marks a failing todo test with both <skipped type="todo"> and <failure>. */
  todo: boolean;
}

/** Test case attribute values that mean it did not run: GoogleTest, NUnit/xUnit exports, others. */
const SKIPPED_STATUS = new Set(['skipped', 'skip', 'disabled', 'notrun', 'not_run', 'ignored', 'pending']);
const SKIPPED_RESULT = new Set(['skipped', 'suppressed', 'ignored', 'notrun', 'not_run']);

/** Synthetic cases for one suite that only declares counts: enough to count, bounded against lies. */
const MAX_DECLARED_CASES = 10_000;

/**
 * Streaming JUnit XML parser covering the dialects of pytest, jest-junit, vitest, mocha-junit-reporter,
 * Maven Surefire/Failsafe, go-junit-report/gotestsum, PHPUnit and the .NET JUnit loggers. Memory stays
 * bounded by the model's text caps (saxes holds at most one text node at a time). A DOCTYPE is refused
 * before anything in it is looked at, so entities are never expanded and nothing external is fetched.
 *
 * Every skip spelling in the wild counts as skipped (`<skipped/>`, `<ignored/>`, GoogleTest's
 * `status="notrun"`/`result="suppressed"`, `status="disabled"`); Surefire's flaky and rerun entries
 * do not change a case's outcome. A suite that only declares its counts (`tests="6" failures="1"` and
 * no test case) yields that many synthetic cases, its failures among them.
 *
 * XML that is not a result file at all (wrong root, DOCTYPE) throws. XML that breaks off after a
 * JUnit root keeps the cases completed before and becomes a structure break: the run cannot be green.
 */
export class JUnitParser {
  readonly suites: TestSuite[] = [];
  private readonly parser = new SaxesParser({ xmlns: false, position: true });
  private readonly stack: string[] = [];
  private readonly suiteStack: SuiteFrame[] = [];
  private draft: CaseDraft | null = null;
  private capture: Capture | null = null;
  private captureDepth = 0;
  private rootSeen = false;
  private fileSuite: TestSuite | null = null;
  private readonly breaks: StructureBreak[] = [];
  private broken = false;

  constructor(private readonly source: string) {
    this.parser.on('doctype', () => {
      throw new ResultFileError(
        'contains a DOCTYPE declaration: refused, because DTDs and entities are never expanded in result files',
      );
    });
    this.parser.on('opentag', (tag) => this.open(tag));
    this.parser.on('closetag', (tag) => this.close(tag));
    this.parser.on('text', (text) => this.text(text));
    this.parser.on('cdata', (text) => this.text(text));
  }

  write(chunk: string): void {
    if (this.broken) return;
    try {
      this.parser.write(chunk);
    } catch (error) {
      this.fail(error);
    }
  }

  end(): ParserOutput {
    if (!this.broken) {
      try {
        this.parser.close();
      } catch (error) {
        this.fail(error);
      }
    }
    if (!this.rootSeen) throw new ResultFileError('contains no XML element: not a JUnit XML file');
    return { suites: this.suites, breaks: this.breaks };
  }

  /** Not XML, or not JUnit, throws; JUnit that breaks off is a structure break. */
  private fail(error: unknown): void {
    if (error instanceof ResultFileError) throw error;
    const message = `is not well-formed XML: ${cap(error instanceof Error ? error.message : String(error), 300)}`;
    if (!this.rootSeen) {
      throw new ResultFileError(message);
    }
    this.broken = true;
    this.breaks.push({
      message: `the XML breaks off or is damaged (${message.slice(3)}); test cases after that point are missing`,
      relaxable: false,
    });
  }

  private open(tag: SaxesTagPlain): void {
    const name = localName(tag.name);
    const attrs = tag.attributes;
    if (!this.rootSeen) {
      this.rootSeen = true;
      if (name !== 'testsuites' && name !== 'testsuite') {
        throw new ResultFileError(`has root element <${cap(tag.name, 60)}>: not a JUnit XML file`);
      }
    }
    this.stack.push(name);
    if (this.capture) {
      this.captureDepth += 1;
      return;
    }
    if (name === 'testsuite' || name === 'testsuites') {
      const parent = this.suiteStack[this.suiteStack.length - 1];
      if (parent) parent.hasContent = true;
      const suiteName = attr(attrs, 'name') ?? '';
      this.suiteStack.push({
        name: suiteName,
        file: attr(attrs, 'file') ?? attr(attrs, 'filepath') ?? parent?.file ?? null,
        pytest: (parent?.pytest ?? false) || suiteName === 'pytest' || suiteName === 'pytest tests',
        suite: null,
        declared: {
          tests: count(attr(attrs, 'tests')),
          failures: count(attr(attrs, 'failures')),
          errors: count(attr(attrs, 'errors')),
          skipped: count(attr(attrs, 'skipped')) + count(attr(attrs, 'disabled')),
        },
        hasContent: false,
      });
      return;
    }
    if (name === 'testcase') {
      const frame = this.suiteStack[this.suiteStack.length - 1];
      if (frame) frame.hasContent = true;
      const status = attr(attrs, 'status')?.toLowerCase();
      const result = attr(attrs, 'result')?.toLowerCase();
      const notRun = (status && SKIPPED_STATUS.has(status)) || (result && SKIPPED_RESULT.has(result));
      const file = attr(attrs, 'file') ?? attr(attrs, 'filepath') ?? frame?.file ?? null;
      let line = parseLine(attr(attrs, 'line') ?? attr(attrs, 'lineno'));
      if (line !== null && frame?.pytest) line += 1;
      this.draft = {
        testCase: {
          name: cap(attr(attrs, 'name') ?? '', LIMITS.name),
          suite: cap(attr(attrs, 'classname') ?? attr(attrs, 'class') ?? frame?.name ?? '', LIMITS.name),
          status: notRun ? 'skipped' : 'passed',
          durationMs: parseSeconds(attr(attrs, 'time')),
          message: '',
          details: '',
          file,
          line: file === null ? null : line,
          stdout: '',
          stderr: '',
        },
        details: new CappedText(LIMITS.details),
        stdout: new CappedText(LIMITS.output),
        stderr: new CappedText(LIMITS.output),
        skipMessage: '',
        todo: false,
      };
      return;
    }
    const draft = this.draft;
    if (!draft || this.stack[this.stack.length - 2] !== 'testcase') return;
    switch (name) {
      case 'failure':
      case 'error':
        this.setStatus(draft, name === 'failure' ? 'failed' : 'error', attrs);
        this.startCapture('details');
        break;
      case 'skipped':
      case 'ignored':
      case 'disabled':
        if (draft.testCase.status === 'passed' || draft.testCase.status === 'skipped') {
          draft.testCase.status = 'skipped';
          draft.skipMessage = attr(attrs, 'message') ?? '';
          draft.todo = attr(attrs, 'type')?.toLowerCase() === 'todo';
        }
        this.startCapture('skipped');
        break;
      case 'system-out':
        this.startCapture('stdout');
        break;
      case 'system-err':
        this.startCapture('stderr');
        break;
      default:
        // Surefire's flakyFailure/rerunFailure and anything unknown: a passed rerun is not a failure.
        this.startCapture('ignored');
    }
  }

  private setStatus(draft: CaseDraft, status: TestStatus, attrs: Record<string, string>): void {
    const current = draft.testCase.status;
    // A todo test may fail without failing the run; its failure text stays as details.
    if (draft.todo) return;
    if (current === 'failed' || current === 'error') {
      draft.details.append('\n\n');
      return;
    }
    draft.testCase.status = status;
    // Without a message attribute the first line of the text says more than `type` ("failure").
    draft.testCase.message = cap(attr(attrs, 'message') ?? '', LIMITS.message);
  }

  private startCapture(kind: Capture): void {
    this.capture = kind;
    this.captureDepth = 0;
  }

  private text(text: string): void {
    const draft = this.draft;
    if (!draft || !this.capture) return;
    if (this.capture === 'details') draft.details.append(text);
    else if (this.capture === 'stdout') draft.stdout.append(text);
    else if (this.capture === 'stderr') draft.stderr.append(text);
    else if (this.capture === 'skipped' && draft.skipMessage.length < LIMITS.message)
      draft.skipMessage += text;
  }

  private close(tag: SaxesTagPlain): void {
    const name = localName(tag.name);
    this.stack.pop();
    if (this.capture) {
      if (this.captureDepth > 0) this.captureDepth -= 1;
      else this.capture = null;
      return;
    }
    if (name === 'testcase' && this.draft) {
      this.finishCase(this.draft);
      this.draft = null;
    } else if (name === 'testsuite' || name === 'testsuites') {
      const frame = this.suiteStack.pop();
      if (frame && !frame.hasContent) this.declaredOnly(frame);
    }
  }

  /** A suite with counts but no test case (some tools write only totals): count what it declares. */
  private declaredOnly(frame: SuiteFrame): void {
    const { tests, failures, errors, skipped } = frame.declared;
    if (tests === 0 && failures + errors === 0) return;
    const failing = failures + errors;
    const passed = Math.max(0, tests - failing - skipped);
    const suiteName = frame.name || '(unnamed suite)';
    const message = cap(
      `suite "${suiteName}" declares ${tests} tests with ${failures} failures and ${errors} errors but lists no test case`,
      LIMITS.message,
    );
    const add = (n: number, status: TestStatus, label: string): void => {
      for (let i = 1; i <= Math.min(n, MAX_DECLARED_CASES); i++) {
        this.suiteForFrame(frame).cases.push({
          name: cap(`${suiteName} (${label} ${i} of ${n}, declared only)`, LIMITS.name),
          suite: cap(suiteName, LIMITS.name),
          status,
          durationMs: null,
          message: status === 'passed' ? '' : status === 'skipped' ? 'declared skipped' : message,
          details: status === 'passed' || status === 'skipped' ? '' : message,
          file: null,
          line: null,
          stdout: '',
          stderr: '',
        });
      }
    };
    add(failures, 'failed', 'failure');
    add(errors, 'error', 'error');
    add(skipped, 'skipped', 'skipped');
    add(passed, 'passed', 'passed');
  }

  private finishCase(draft: CaseDraft): void {
    const c = draft.testCase;
    c.details = draft.details.toString().trim();
    c.stdout = draft.stdout.toString();
    c.stderr = draft.stderr.toString();
    if (c.status === 'skipped') c.message = cap(draft.skipMessage.trim(), LIMITS.message);
    if ((c.status === 'failed' || c.status === 'error') && !c.message) {
      // Bats puts its location line first: the failed command on the next line is the message.
      const text = c.details.replace(/^\s*\(in test file [^\n]*\n/, '');
      c.message = cap(firstLine(text), LIMITS.message);
    }
    if (c.file === null && (c.status === 'failed' || c.status === 'error')) {
      const guess = firstProjectFrame(`${c.details}\n${c.message}`);
      if (guess) {
        c.file = guess.file;
        c.line = guess.line;
      }
    }
    this.suiteFor().cases.push(c);
  }

  private suiteFor(): TestSuite {
    const frame = this.suiteStack[this.suiteStack.length - 1];
    if (!frame) {
      this.fileSuite ??= { name: '', source: this.source, cases: [] };
      if (!this.suites.includes(this.fileSuite)) this.suites.push(this.fileSuite);
      return this.fileSuite;
    }
    return this.suiteForFrame(frame);
  }

  private suiteForFrame(frame: SuiteFrame): TestSuite {
    if (!frame.suite) {
      frame.suite = { name: frame.name, source: this.source, cases: [] };
      this.suites.push(frame.suite);
    }
    return frame.suite;
  }
}

function localName(name: string): string {
  const colon = name.indexOf(':');
  return (colon >= 0 ? name.slice(colon + 1) : name).toLowerCase();
}

function attr(attrs: Record<string, string>, name: string): string | undefined {
  const value = attrs[name];
  return value === undefined || value === '' ? undefined : value;
}

/** `time` in seconds; some writers use a thousands separator ("1,234.5"). */
function parseSeconds(value: string | undefined): number | null {
  if (value === undefined) return null;
  const seconds = Number(value.replace(/,/g, '').trim());
  return Number.isFinite(seconds) && seconds >= 0 ? Math.round(seconds * 1000 * 1000) / 1000 : null;
}

/** A declared count attribute; anything that is not a plain non-negative integer counts as 0. */
function count(value: string | undefined): number {
  if (value === undefined || !/^\s*\d+\s*$/.test(value)) return 0;
  const n = Number(value);
  return Number.isSafeInteger(n) ? n : 0;
}

function parseLine(value: string | undefined): number | null {
  if (value === undefined || !/^\d+$/.test(value.trim())) return null;
  const n = Number(value.trim());
  return Number.isSafeInteger(n) ? n : null;
}
