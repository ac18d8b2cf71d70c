import * as core from '@actions/core';
import { EOL } from 'node:os';
import { describe, expect, it, vi } from 'vitest';
import { annotationCommands, formatCommand, type CheckAnnotation } from '../../src/report/index.js';

/** What @actions/core itself prints for core.error(message, properties). */
function coreError(message: string, properties: core.AnnotationProperties): string {
  const writes: string[] = [];
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    writes.push(String(chunk));
    return true;
  });
  try {
    core.error(message, properties);
  } finally {
    spy.mockRestore();
  }
  return writes.join('');
}

const hostile = [
  'plain message',
  'line one\nline two\r\nline three',
  '100% done, 50%0A already escaped',
  '::set-output name=x::y',
  '::add-mask::secret',
  'a:b,c=d',
  'ünïcödé 😀',
];

describe('workflow-command annotations', () => {
  it.each(hostile)('escape exactly as @actions/core does: %j', (text) => {
    const mine = formatCommand('error', { title: text, file: `src/${text}.ts`, line: 3, endLine: 4 }, text);
    expect(mine + EOL).toBe(
      coreError(text, { title: text, file: `src/${text}.ts`, startLine: 3, endLine: 4 }),
    );
    expect(mine.split('\n')).toHaveLength(1);
  });

  it('stay within the 10 error annotations GitHub shows per step', () => {
    const annotation = (i: number): CheckAnnotation => ({
      path: `t/${i}.py`,
      start_line: i + 1,
      end_line: i + 1,
      annotation_level: 'failure',
      title: `test ${i}`,
      message: `failed ${i}`,
    });
    expect(annotationCommands(Array.from({ length: 10 }, (_, i) => annotation(i)))).toMatchObject({
      annotated: 10,
    });
    const many = annotationCommands(Array.from({ length: 25 }, (_, i) => annotation(i)));
    expect(many.lines).toHaveLength(10);
    expect(many.annotated).toBe(9);
    expect(many.lines[9]).toBe(
      '::error title=16 more failing tests::16 more failures are not annotated here (GitHub shows at most 10 error annotations per step); see the job summary.',
    );
  });
});
