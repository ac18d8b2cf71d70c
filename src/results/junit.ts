import { SaxesParser, type SaxesTagPlain } from 'saxes';
import type { TestCase, TestStatus, TestSuite } from './model.js';
import { ResultFileError } from './read.js';
import { firstProjectFrame } from './stack.js';
import { CappedText, LIMITS, cap, firstLine } from './text.js';

interface SuiteFrame {
  name: string;
  file: string | null;
  /** pytest writes 0-based `line` attributes (xunit1 family). */
  pytest: boolean;
  suite: TestSuite | null;
}

type Capture = 'details' | 'skipped' | 'stdout' | 'stderr' | 'ignored';

interface CaseDraft {
  testCase: TestCase;
  details: CappedText;
  stdout: CappedText;
  stderr: CappedText;
  skipMessage: string;
}

/**
 * Streaming JUnit XML parser covering the dialects of pytest, jest-junit, vitest, mocha-junit-reporter,
 * Maven Surefire/Failsafe, go-junit-report/gotestsum, PHPUnit and the .NET JUnit loggers. Memory stays
 * bounded by the model's text caps (saxes holds at most one text node at a time). A DOCTYPE is refused
 * before anything in it is looked at, so entities are never expanded and nothing external is fetched.
 *
 * Suites completed before a parse error stay in `suites`; the error is thrown afterwards.
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
    try {
      this.parser.write(chunk);
    } catch (error) {
      throw this.wrap(error);
    }
  }

  end(): void {
    try {
      this.parser.close();
    } catch (error) {
      throw this.wrap(error);
    }
    if (!this.rootSeen) throw new ResultFileError('contains no XML element: not a JUnit XML file');
  }

  private wrap(error: unknown): Error {
    if (error instanceof ResultFileError) return error;
    const message = error instanceof Error ? error.message : String(error);
    return new ResultFileError(`is not well-formed XML: ${cap(message, 300)}`);
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
      const suiteName = attr(attrs, 'name') ?? '';
      this.suiteStack.push({
        name: suiteName,
        file: attr(attrs, 'file') ?? attr(attrs, 'filepath') ?? parent?.file ?? null,
        pytest: (parent?.pytest ?? false) || suiteName === 'pytest' || suiteName === 'pytest tests',
        suite: null,
      });
      return;
    }
    if (name === 'testcase') {
      const frame = this.suiteStack[this.suiteStack.length - 1];
      const file = attr(attrs, 'file') ?? attr(attrs, 'filepath') ?? frame?.file ?? null;
      let line = parseLine(attr(attrs, 'line') ?? attr(attrs, 'lineno'));
      if (line !== null && frame?.pytest) line += 1;
      this.draft = {
        testCase: {
          name: cap(attr(attrs, 'name') ?? '', LIMITS.name),
          suite: cap(attr(attrs, 'classname') ?? attr(attrs, 'class') ?? frame?.name ?? '', LIMITS.name),
          status: 'passed',
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
        if (draft.testCase.status === 'passed') {
          draft.testCase.status = 'skipped';
          draft.skipMessage = attr(attrs, 'message') ?? '';
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
      this.suiteStack.pop();
    }
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

function parseLine(value: string | undefined): number | null {
  if (value === undefined || !/^\d+$/.test(value.trim())) return null;
  const n = Number(value.trim());
  return Number.isSafeInteger(n) ? n : null;
}
