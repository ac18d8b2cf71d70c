/**
 * File/line extraction from failure texts: stack traces of Node, Python (traceback and pytest), Java
 * and other JVM languages, Go, Ruby, PHP, .NET, Perl ("at t/x.t line 8."), and Bats' "(in test file X,
 * line N)". Windows paths keep their drive letter (`C:\app\x.test.js:3:9`).
 */
export interface Frame {
  /** Path as written (absolute, relative, or for JVM frames a package-derived relative path). */
  file: string;
  line: number;
  /** True when `file` is only a trailing part of the real path (JVM frames, Go's base names). */
  partial: boolean;
}

interface Pattern {
  re: RegExp;
  frame(m: RegExpExecArray): Frame | null;
}

const JVM_EXT = /\.(?:java|kt|kts|scala|groovy)$/;

/** Most specific first: a later (generic) pattern never re-reads text an earlier one matched. */
const PATTERNS: Pattern[] = [
  // Python traceback: File "/app/tests/test_x.py", line 12, in test_x
  { re: /\bFile "([^"\n]+)", line (\d+)/g, frame: (m) => frame(m[1]!, m[2]!) },
  // Bats: (in test file test/x.bats, line 7) and (from function `f' in file lib.bash, line 3,
  { re: /\bin (?:test )?file ([^,\n]+), line (\d+)/g, frame: (m) => frame(m[1]!, m[2]!) },
  // .NET: at Ns.Class.Method() in /src/Tests/FooTests.cs:line 42
  { re: /\) in ([^\n]+?):line (\d+)/g, frame: (m) => frame(m[1]!, m[2]!) },
  // JVM: at com.acme.calc.CalcTest.adds(CalcTest.java:42) — the file name lives in the class's package
  {
    re: /\bat ((?:[\w$]+\.)+)[\w$<>-]+\(([\w$-]+\.(?:java|kt|kts|scala|groovy)):(\d+)\)/g,
    frame: (m) => {
      const qualified = m[1]!.slice(0, -1).split('.');
      qualified.pop(); // the class name; what is left is the package
      const pkg = qualified.filter((part) => /^[a-z_][\w]*$/.test(part));
      return frame([...pkg, m[2]!].join('/'), m[3]!, true);
    },
  },
  // Perl (Test::More, die): at t/calc.t line 8.
  { re: /\bat (\S+\.(?:t|pl|pm)) line (\d+)\b/g, frame: (m) => frame(m[1]!, m[2]!) },
  // PHP native trace: #0 /app/src/Calc.php(23): Calc->div()
  { re: /\.php\((\d+)\)/g, frame: (m) => pathFrame(m, 4, m[1]!) },
  // Generic path:line[:col] — Node ("at f (/a/b.js:3:9)", vitest "❯ b.ts:3:9", file:// URLs), pytest
  // ("test_x.py:11: AssertionError"), Go ("x_test.go:12: msg"), Ruby ("x_spec.rb:4:in"), PHPUnit.
  { re: /\.[A-Za-z][A-Za-z0-9]{0,9}:(\d+)/g, frame: (m) => pathFrame(m, m[0].indexOf(':'), m[1]!) },
];

const DELIMITER = /[\s()'"`<>,:[\]{}|]/;

/**
 * The path ending at `m.index + extLength` (the extension's end), found by walking back to the previous
 * delimiter. Anchoring on ".ext:line" first and walking back keeps extraction linear on hostile text.
 */
function pathFrame(m: RegExpExecArray, extLength: number, line: string): Frame | null {
  const text = m.input;
  const end = m.index + extLength;
  let start = m.index;
  while (start > 0 && !DELIMITER.test(text[start - 1]!) && end - start < 4096) start -= 1;
  let file = text.slice(start, end);
  // The walk stops at the colon of a Windows drive (C:\app\x.js, file:///C:/app/x.js): keep the drive.
  const drive = /(?:^|[\s('"`<>,[\]{}|]|file:\/\/\/?)([A-Za-z]:)$/.exec(
    text.slice(Math.max(0, start - 10), start),
  );
  if (drive && /^[\\/]/.test(file)) {
    file = `${drive[1]}${file}`;
    start -= 2;
  }
  const url = /file:\/*$/.exec(text.slice(Math.max(0, start - 8), start));
  if (url) {
    try {
      file = decodeURIComponent(drive ? file : file.replace(/^\/\/+/, '/'));
    } catch {
      return null;
    }
  }
  if (!/[A-Za-z_]/.test(file.slice(file.search(/[^\\/]*$/), file.lastIndexOf('.')))) return null;
  const isGo = file.endsWith('.go') && !/[\\/]/.test(file);
  return frame(file, line, isGo || JVM_EXT.test(file));
}

function frame(file: string, line: string, partial = false): Frame | null {
  const n = Number.parseInt(line, 10);
  if (!Number.isSafeInteger(n) || n <= 0) return null;
  let path = file.trim();
  if (path.startsWith('file://')) {
    try {
      path = decodeURIComponent(new URL(path).pathname);
    } catch {
      return null;
    }
  }
  return path ? { file: path, line: n, partial } : null;
}

/** All frames of a failure text, in the order they appear. */
export function extractFrames(text: string): Frame[] {
  const found: Array<{ at: number; end: number; frame: Frame }> = [];
  const taken: Array<[number, number]> = [];
  const overlaps = (a: number, b: number): boolean => taken.some(([s, e]) => a < e && s < b);
  for (const pattern of PATTERNS) {
    pattern.re.lastIndex = 0;
    for (let m = pattern.re.exec(text); m; m = pattern.re.exec(text)) {
      const end = m.index + m[0].length;
      if (overlaps(m.index, end)) continue;
      const f = pattern.frame(m);
      if (!f) continue;
      taken.push([m.index, end]);
      found.push({ at: m.index, end, frame: f });
    }
  }
  found.sort((a, b) => a.at - b.at);
  return found.map((f) => f.frame);
}

/** Runtime and dependency frames, never the user's code. */
const LIBRARY =
  /(^|\/)(node_modules|site-packages|dist-packages|vendor|\.venv)\/|^\/usr\/(lib|share|local\/lib)\/|^node:|^internal\//;

/** The first frame that looks like the project's own code: the parser's guess before path mapping. */
export function firstProjectFrame(text: string): Frame | null {
  return extractFrames(text).find((f) => !LIBRARY.test(f.file)) ?? null;
}
