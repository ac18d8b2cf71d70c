/**
 * Parses one generated JUnit file with 100,000 test cases (10% failing) with ovenproof's streaming
 * parser and with xml2js (the DOM-style parser behind popular reporters), each in its own child
 * process so that peak memory (max RSS) does not mix. Prints time and peak memory of each, the ratios,
 * and one result line at the end.
 *
 *   npx tsx bench/results-parse.ts [--cases 100000] [--runs 3]
 */
import { execFileSync } from 'node:child_process';
import { createWriteStream } from 'node:fs';
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
  } else {
    const { parseStringPromise } = await import('xml2js');
    const doc = (await parseStringPromise(await readFile(file, 'utf8'))) as {
      testsuites: { testsuite: Array<{ testcase?: Array<{ failure?: unknown[]; error?: unknown[] }> }> };
    };
    for (const suite of doc.testsuites.testsuite) {
      for (const c of suite.testcase ?? []) {
        cases += 1;
        if (c.failure || c.error) failed += 1;
      }
    }
  }
  const ms = performance.now() - start;
  const maxRssMiB = process.resourceUsage().maxRSS / 1024;
  const result: Measure = { parser, ms, maxRssMiB, cases, failed };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

async function generate(file: string, cases: number): Promise<void> {
  const out = createWriteStream(file);
  const write = (text: string): Promise<void> =>
    out.write(text) ? Promise.resolve() : new Promise((resolve) => out.once('drain', () => resolve()));
  await write('<?xml version="1.0" encoding="UTF-8"?>\n<testsuites name="bench">\n');
  const perSuite = 100;
  for (let s = 0; s < cases / perSuite; s++) {
    await write(`  <testsuite name="suite${s}" tests="${perSuite}" file="src/mod${s}.test.ts">\n`);
    for (let i = 0; i < perSuite; i++) {
      const n = s * perSuite + i;
      await write(
        `    <testcase classname="mod${s}" name="case ${n} does &lt;thing&gt;" time="0.00${n % 10}"`,
      );
      if (n % 10 === 0) {
        await write(
          `><failure message="expected ${n} to be ${n + 1}" type="AssertionError"><![CDATA[AssertionError: expected ${n} to be ${n + 1}\n` +
            `    at Object.<anonymous> (/opt/app/src/mod${s}.test.ts:${10 + i}:7)\n` +
            `    at processTicksAndRejections (node:internal/process/task_queues:95:5)]]></failure>` +
            `<system-out>log line for ${n}</system-out></testcase>\n`,
        );
      } else {
        await write('/>\n');
      }
    }
    await write('  </testsuite>\n');
  }
  await write('</testsuites>\n');
  await new Promise<void>((resolve, reject) =>
    out.end((error?: Error | null) => (error ? reject(error) : resolve())),
  );
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
      runs: { type: 'string', default: '3' },
    },
  });
  if (values.child) return child(values.child, values.file!);

  const cases = Number(values.cases);
  const runs = Number(values.runs);
  const dir = await mkdtemp(join(tmpdir(), 'ovenproof-bench-results-'));
  try {
    const file = join(dir, 'junit.xml');
    await generate(file, cases);
    const size = (await stat(file)).size / (1024 * 1024);
    console.log(`generated ${cases} cases (${cases / 10} failing), ${size.toFixed(1)} MiB`);
    const self = fileURLToPath(import.meta.url);
    const results: Record<string, Measure[]> = { ovenproof: [], xml2js: [] };
    for (let r = 0; r < runs; r++) {
      for (const parser of ['ovenproof', 'xml2js']) {
        const out = execFileSync(
          process.execPath,
          ['--import', 'tsx', self, '--child', parser, '--file', file],
          {
            encoding: 'utf8',
            maxBuffer: 1 << 20,
          },
        );
        const m = JSON.parse(out.trim().split('\n').pop()!) as Measure;
        if (m.cases !== cases || m.failed !== cases / 10) {
          throw new Error(
            `${parser} counted ${m.cases} cases / ${m.failed} failed, expected ${cases} / ${cases / 10}`,
          );
        }
        results[parser]!.push(m);
      }
    }
    const summary = Object.fromEntries(
      Object.entries(results).map(([parser, ms]) => [
        parser,
        { ms: median(ms.map((m) => m.ms)), rss: median(ms.map((m) => m.maxRssMiB)) },
      ]),
    ) as Record<'ovenproof' | 'xml2js', { ms: number; rss: number }>;
    for (const [parser, s] of Object.entries(summary)) {
      console.log(
        `${parser.padEnd(10)} time ${s.ms.toFixed(0)} ms   peak RSS ${s.rss.toFixed(0)} MiB   (median of ${runs})`,
      );
    }
    const o = summary.ovenproof;
    const x = summary.xml2js;
    console.log(
      `results-parse: ${cases} cases, ${size.toFixed(1)} MiB: ovenproof ${o.ms.toFixed(0)} ms / ${o.rss.toFixed(0)} MiB, ` +
        `xml2js ${x.ms.toFixed(0)} ms / ${x.rss.toFixed(0)} MiB; time ratio xml2js/ovenproof ${(x.ms / o.ms).toFixed(2)}x, ` +
        `peak memory ratio ${(x.rss / o.rss).toFixed(2)}x`,
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
