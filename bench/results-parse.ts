/**
 * Result-file parsing side by side with the reference parser of each format, on three generated files:
 *
 *   junit-cases   JUnit XML with 100,000 test cases (10% failing with a stack trace and system-out):
 *                 ovenproof vs xml2js vs fast-xml-parser
 *   junit-output  JUnit XML with 100 MiB of system-out over 100 cases (10 failing):
 *                 ovenproof vs xml2js vs fast-xml-parser
 *   tap-points    a TAP 14 stream of 100,000 test points (10% failing with a YAML block):
 *                 ovenproof vs tap-parser
 *
 * Every parser runs in its own child process, so peak memory (max RSS) does not mix, and must count
 * the cases and failures the generator wrote, or the run aborts. Prints time and peak RSS per parser
 * (median of the runs), the ratios to ovenproof, and one result line at the end.
 *
 *   npx tsx bench/results-parse.ts [--cases 100000] [--output-mib 100] [--runs 3]
 */
import { execFileSync } from 'node:child_process';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

interface Measure {
  parser: string;
  ms: number;
  maxRssMiB: number;
  cases: number;
  failed: number;
}

interface Workload {
  name: string;
  file: string;
  parsers: string[];
  cases: number;
  failed: number;
  mib: number;
}

type JUnitDoc = Record<string, unknown>;

/** Counts cases and failures in a DOM-style JUnit document (xml2js and fast-xml-parser shapes). */
function countDom(doc: JUnitDoc): { cases: number; failed: number } {
  let cases = 0;
  let failed = 0;
  const asList = (value: unknown): JUnitDoc[] =>
    Array.isArray(value) ? (value as JUnitDoc[]) : value ? [value as JUnitDoc] : [];
  const root = doc.testsuites as JUnitDoc;
  for (const suite of asList(root.testsuite)) {
    for (const c of asList(suite.testcase)) {
      cases += 1;
      if (c.failure !== undefined || c.error !== undefined) failed += 1;
    }
  }
  return { cases, failed };
}

async function child(parser: string, file: string): Promise<void> {
  const start = performance.now();
  let cases = 0;
  let failed = 0;
  if (parser === 'ovenproof') {
    const { parseResultFiles } = await import('../src/results/index.js');
    const parsed = await parseResultFiles([file], { maxBytes: 1 << 30 });
    if (parsed.problems.length) throw new Error(parsed.problems[0]!.message);
    for (const suite of parsed.suites) {
      for (const c of suite.cases) {
        cases += 1;
        if (c.status === 'failed' || c.status === 'error') failed += 1;
      }
    }
  } else if (parser === 'xml2js') {
    const { parseStringPromise } = await import('xml2js');
    ({ cases, failed } = countDom((await parseStringPromise(await readFile(file, 'utf8'))) as JUnitDoc));
  } else if (parser === 'fast-xml-parser') {
    const { XMLParser } = await import('fast-xml-parser');
    const xml = new XMLParser({
      ignoreAttributes: false,
      isArray: (n) => n === 'testsuite' || n === 'testcase',
    });
    ({ cases, failed } = countDom(xml.parse(await readFile(file, 'utf8')) as JUnitDoc));
  } else if (parser === 'tap-parser') {
    const { Parser } = await import('tap-parser');
    await new Promise<void>((resolve, reject) => {
      const tap = new Parser((results) => {
        cases = results.count;
        failed = results.fail;
        resolve();
      });
      createReadStream(file).on('error', reject).pipe(tap);
    });
  } else {
    throw new Error(`unknown parser ${parser}`);
  }
  const ms = performance.now() - start;
  const maxRssMiB = process.resourceUsage().maxRSS / 1024;
  const result: Measure = { parser, ms, maxRssMiB, cases, failed };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

type Write = (text: string) => Promise<void>;

async function writeFile(file: string, body: (write: Write) => Promise<void>): Promise<number> {
  const out = createWriteStream(file);
  const write: Write = (text) =>
    out.write(text) ? Promise.resolve() : new Promise((resolve) => out.once('drain', () => resolve()));
  await body(write);
  await new Promise<void>((resolve, reject) =>
    out.end((error?: Error | null) => (error ? reject(error) : resolve())),
  );
  return (await stat(file)).size / (1024 * 1024);
}

/** JUnit: `cases` test cases, every tenth failing with a stack trace; `outputBytes` of system-out each. */
function junit(cases: number, perSuite: number, outputBytes: (n: number) => number) {
  return async (write: Write): Promise<void> => {
    await write('<?xml version="1.0" encoding="UTF-8"?>\n<testsuites name="bench">\n');
    for (let s = 0; s < cases / perSuite; s++) {
      await write(`  <testsuite name="suite${s}" tests="${perSuite}" file="src/mod${s}.test.ts">\n`);
      for (let i = 0; i < perSuite; i++) {
        const n = s * perSuite + i;
        await write(
          `    <testcase classname="mod${s}" name="case ${n} does &lt;thing&gt;" time="0.00${n % 10}">`,
        );
        if (n % 10 === 0) {
          await write(
            `<failure message="expected ${n} to be ${n + 1}" type="AssertionError"><![CDATA[AssertionError: expected ${n} to be ${n + 1}\n` +
              `    at Object.<anonymous> (/opt/app/src/mod${s}.test.ts:${10 + i}:7)\n` +
              `    at processTicksAndRejections (node:internal/process/task_queues:95:5)]]></failure>`,
          );
        }
        const bytes = outputBytes(n);
        if (bytes > 0) {
          await write('<system-out>');
          const line = `log line of case ${n}: ${'x'.repeat(60)}\n`;
          for (let lines = Math.ceil(bytes / line.length); lines > 0; lines -= 256) {
            await write(line.repeat(Math.min(lines, 256)));
          }
          await write('</system-out>');
        }
        await write('</testcase>\n');
      }
      await write('  </testsuite>\n');
    }
    await write('</testsuites>\n');
  };
}

/** TAP 14: `points` test points, every tenth failing with a YAML diagnostic block. */
function tap(points: number) {
  return async (write: Write): Promise<void> => {
    await write(`TAP version 14\n1..${points}\n`);
    for (let n = 1; n <= points; n++) {
      if (n % 10 === 0) {
        await write(
          `not ok ${n} - case ${n} does a thing\n  ---\n  message: 'expected ${n} to be ${n + 1}'\n` +
            `  at: /opt/app/src/mod${n % 100}.test.mjs:${n % 500}:7\n  stack: |-\n` +
            `    Object.<anonymous> (/opt/app/src/mod${n % 100}.test.mjs:${n % 500}:7)\n` +
            `    processTicksAndRejections (node:internal/process/task_queues:95:5)\n  duration_ms: 0.5\n  ...\n`,
        );
      } else {
        await write(`ok ${n} - case ${n} does a thing\n`);
      }
    }
  };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      child: { type: 'string' },
      file: { type: 'string' },
      cases: { type: 'string', default: '100000' },
      'output-mib': { type: 'string', default: '100' },
      runs: { type: 'string', default: '3' },
    },
  });
  if (values.child) return child(values.child, values.file!);

  const cases = Number(values.cases);
  const outputMiB = Number(values['output-mib']);
  const runs = Number(values.runs);
  const dir = await mkdtemp(join(tmpdir(), 'ovenproof-bench-results-'));
  try {
    const xmlParsers = ['ovenproof', 'xml2js', 'fast-xml-parser'];
    const outputCases = 100;
    const perCaseOutput = Math.ceil((outputMiB * 1024 * 1024) / outputCases);
    const workloads: Workload[] = [];
    const add = async (
      name: string,
      file: string,
      parsers: string[],
      n: number,
      body: (w: Write) => Promise<void>,
    ) => {
      const mib = await writeFile(join(dir, file), body);
      workloads.push({ name, file: join(dir, file), parsers, cases: n, failed: n / 10, mib });
    };
    await add(
      'junit-cases',
      'cases.xml',
      xmlParsers,
      cases,
      junit(cases, 100, (n) => (n % 10 === 0 ? 20 : 0)),
    );
    await add(
      'junit-output',
      'output.xml',
      xmlParsers,
      outputCases,
      junit(outputCases, 10, () => perCaseOutput),
    );
    await add('tap-points', 'points.tap', ['ovenproof', 'tap-parser'], cases, tap(cases));

    const self = fileURLToPath(import.meta.url);
    const summary: string[] = [];
    for (const workload of workloads) {
      console.log(
        `\n${workload.name}: ${workload.cases} cases (${workload.failed} failing), ${workload.mib.toFixed(1)} MiB`,
      );
      const measured = new Map<string, Measure[]>(workload.parsers.map((p) => [p, []]));
      for (let r = 0; r < runs; r++) {
        // Rotate the order each run so that no parser always goes first on a cold cache.
        const order = workload.parsers.map((_, i) => workload.parsers[(i + r) % workload.parsers.length]!);
        for (const parser of order) {
          const out = execFileSync(
            process.execPath,
            ['--import', 'tsx', self, '--child', parser, '--file', workload.file],
            { encoding: 'utf8', maxBuffer: 1 << 20 },
          );
          const m = JSON.parse(out.trim().split('\n').pop()!) as Measure;
          if (m.cases !== workload.cases || m.failed !== workload.failed) {
            throw new Error(
              `${parser} counted ${m.cases} cases / ${m.failed} failed in ${workload.name}, expected ${workload.cases} / ${workload.failed}`,
            );
          }
          measured.get(parser)!.push(m);
        }
      }
      const medians = new Map(
        [...measured].map(([p, ms]) => [
          p,
          { ms: median(ms.map((m) => m.ms)), rss: median(ms.map((m) => m.maxRssMiB)) },
        ]),
      );
      const own = medians.get('ovenproof')!;
      const parts: string[] = [];
      for (const [parser, s] of medians) {
        const ratio =
          parser === 'ovenproof'
            ? ''
            : `   (${(s.ms / own.ms).toFixed(2)}x time, ${(s.rss / own.rss).toFixed(2)}x memory of ovenproof)`;
        console.log(
          `  ${parser.padEnd(16)} time ${s.ms.toFixed(0).padStart(6)} ms   peak RSS ${s.rss.toFixed(0).padStart(5)} MiB${ratio}`,
        );
        parts.push(`${parser} ${s.ms.toFixed(0)} ms/${s.rss.toFixed(0)} MiB`);
      }
      summary.push(`${workload.name} (${workload.mib.toFixed(0)} MiB): ${parts.join(', ')}`);
    }
    console.log(`\nresults-parse (median of ${runs}): ${summary.join('; ')}`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
