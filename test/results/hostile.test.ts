import { open, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resultsCommand } from '../../src/cli/commands/results.js';
import { parseResultFiles, summarizeResults } from '../../src/results/index.js';
import { runCommand } from '../support/cli-io.js';

const cli = (args: string[], cwd: string) => runCommand(resultsCommand, args, { cwd });

const GOOD =
  '<testsuite name="ok"><testcase name="fine" classname="c"/><testcase name="bad" classname="c"><failure message="boom"/></testcase></testsuite>';

describe('hostile and broken result files', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ovenproof-hostile-'));
    await writeFile(join(dir, 'good.xml'), GOOD);
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('refuses an external entity to /etc/passwd; nothing of the file appears anywhere', async () => {
    const xxe = join(dir, 'xxe.xml');
    await writeFile(
      xxe,
      '<?xml version="1.0"?><!DOCTYPE testsuite [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>' +
        '<testsuite name="x"><testcase name="&xxe;"><failure message="&xxe;">&xxe;</failure></testcase></testsuite>',
    );
    const parsed = await parseResultFiles([xxe, join(dir, 'good.xml')]);
    expect(parsed.problems).toHaveLength(1);
    expect(parsed.problems[0]!.message).toMatch(/DOCTYPE declaration: refused/);
    const tests = await summarizeResults(parsed, { pathMap: [], repoRoot: null });
    expect(tests).toMatchObject({ total: 2, failed: 1 });
    const run = await cli([xxe, '--json'], dir);
    expect(run.code).toBe(3);
    for (const text of [JSON.stringify(parsed), JSON.stringify(tests), run.stdout, run.stderr]) {
      expect(text).not.toContain('root:x:0:0');
    }
  });

  it('refuses an entity-expansion bomb at once', async () => {
    const bomb = join(dir, 'bomb.xml');
    const entities = ['<!ENTITY a0 "lolololololololololol">'];
    for (let i = 1; i < 10; i++) entities.push(`<!ENTITY a${i} "${`&a${i - 1};`.repeat(10)}">`);
    await writeFile(
      bomb,
      `<?xml version="1.0"?><!DOCTYPE t [${entities.join('')}]><testsuite><testcase name="&a9;"/></testsuite>`,
    );
    const parsed = await parseResultFiles([bomb]);
    expect(parsed.suites).toEqual([]);
    expect(parsed.problems[0]!.message).toMatch(/DOCTYPE/);
  });

  it('rejects a 200 MB result file with a clear message while the other files still count', async () => {
    const huge = join(dir, 'huge.xml');
    const handle = await open(huge, 'w');
    await handle.truncate(200 * 1024 * 1024); // sparse: costs no disk and no write time
    await handle.close();
    const parsed = await parseResultFiles([huge, join(dir, 'good.xml')]);
    expect(parsed.problems).toEqual([
      { source: huge, message: 'is 200.0 MiB, over the 64.0 MiB limit for one result file: not parsed' },
    ]);
    expect((await summarizeResults(parsed, { pathMap: [], repoRoot: null })).total).toBe(2);
  });

  it('parses a large file within a raised limit with capped texts', async () => {
    const big = join(dir, 'big-output.xml');
    const body = 'x'.repeat(4 * 1024 * 1024);
    await writeFile(
      big,
      `<testsuite><testcase name="t"><failure>${body}</failure><system-out>${body}</system-out></testcase></testsuite>`,
    );
    const parsed = await parseResultFiles([big], { maxBytes: 16 * 1024 * 1024 });
    const c = parsed.suites[0]!.cases[0]!;
    expect(c.details.length).toBeLessThan(20_000);
    expect(c.stdout.length).toBeLessThan(10_000);
    expect(c.details).toMatch(/more characters cut/);
  });

  it('replaces invalid UTF-8 and forbidden control characters instead of failing', async () => {
    const bad = join(dir, 'utf8.xml');
    await writeFile(
      bad,
      Buffer.concat([
        Buffer.from('<testsuite><testcase name="caf'),
        Buffer.from([0xc3, 0x28, 0xff]),
        Buffer.from('\u0001"><failure message="m\u0007"/></testcase></testsuite>'),
      ]),
    );
    const parsed = await parseResultFiles([bad]);
    expect(parsed.problems).toEqual([]);
    expect(parsed.suites[0]!.cases[0]).toMatchObject({
      name: 'caf\ufffd(\ufffd\ufffd',
      status: 'failed',
      message: 'm\ufffd',
    });
  });

  it('keeps the cases of a truncated file and fails it with one failure naming the damage', async () => {
    const cut = join(dir, 'cut.xml');
    await writeFile(cut, `${GOOD.slice(0, GOOD.indexOf('<testcase name="bad"'))}<testcase name="half`);
    const parsed = await parseResultFiles([cut], { strict: false });
    expect(parsed.problems).toEqual([]);
    const cases = parsed.suites.flatMap((s) => s.cases);
    expect(cases.map((c) => [c.name, c.status])).toEqual([
      ['fine', 'passed'],
      ['result file cut.xml is incomplete', 'error'],
    ]);
    expect(cases[1]!.message).toMatch(/XML breaks off or is damaged \(not well-formed XML/);
    const run = await cli([cut], dir);
    expect(run.code).toBe(1);
  });

  it('names non-result files and missing files clearly', async () => {
    await writeFile(join(dir, 'page.html'), '<html><body/></html>');
    await writeFile(join(dir, 'notes.txt'), 'hello');
    const parsed = await parseResultFiles([
      join(dir, 'page.html'),
      join(dir, 'notes.txt'),
      join(dir, 'missing.xml'),
    ]);
    expect(parsed.problems.map((p) => p.message)).toEqual([
      'has root element <html>: not a JUnit XML file',
      'is neither JUnit XML nor TAP: no XML element and no TAP line in its first 200 lines (use --format to force one)',
      'cannot read: ENOENT',
    ]);
  });

  it('prints names with ::error::, %0A and newlines without forming workflow commands', async () => {
    const evil = join(dir, 'evil.xml');
    await writeFile(
      evil,
      '<testsuite name="::warning::suite"><testcase classname="&#10;::error::x" name="::error file=a,line=1::pwned%0A::error::two&#10;::set-output name=x::y&#13;::add-mask::z">' +
        '<failure message="&#10;::error::from message">::error::details</failure></testcase></testsuite>',
    );
    const tap = join(dir, 'evil.tap');
    await writeFile(tap, 'TAP version 13\nnot ok 1 - ::error::tap name %0A x\n1..1\n');
    for (const args of [[evil], [tap], [evil, '--json']]) {
      const run = await cli(args, dir);
      expect(run.code).toBe(1);
      for (const line of `${run.stdout}${run.stderr}`.split(/\r?\n/))
        expect(line.trimStart()).not.toMatch(/^::/);
      expect(run.stdout).toContain('::error');
    }
    const table = await cli([evil], dir);
    expect(table.stdout).toContain('pwned%0A::error::two\\n::set-output');
  });
});
