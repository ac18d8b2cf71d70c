import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { CONFIG_KEY_NAMES } from '../../src/pipeline/config.js';

const action = parse(readFileSync('action.yml', 'utf8')) as {
  inputs: Record<string, { description: string; default?: unknown; required?: boolean }>;
  outputs: Record<string, unknown>;
  runs: Record<string, string>;
};

describe('action.yml', () => {
  it('declares exactly the config keys as inputs', () => {
    expect(Object.keys(action.inputs).sort()).toEqual([...CONFIG_KEY_NAMES].sort());
  });

  it('declares no default (the runner would override ovenproof.yml) but states one in each description', () => {
    for (const [key, input] of Object.entries(action.inputs)) {
      // The workflow token reaches an action only through a default expression.
      if (key === 'github-token') expect(input.default).toBe('${{ github.token }}');
      else expect(input.default, key).toBeUndefined();
      expect(input.description, key).toMatch(/Default:|Required/);
    }
  });

  it('declares the outputs of SPEC §2.1 and node24 main + post entries', () => {
    expect(Object.keys(action.outputs).sort()).toEqual(
      [
        'bake-cache-hit',
        'check-run-url',
        'image-id',
        'instance-id',
        'result-json',
        'tests-failed',
        'tests-total',
      ].sort(),
    );
    expect(action.runs).toEqual({ using: 'node24', main: 'dist/index.js', post: 'dist/post.js' });
  });
});

describe('example workflows', () => {
  it('pass only inputs that action.yml declares', () => {
    for (const file of ['examples/workflows/ovenproof.yml', 'examples/workflows/publish-fork-results.yml']) {
      const workflow = parse(readFileSync(file, 'utf8')) as {
        jobs: Record<string, { steps: Array<{ uses?: string; with?: Record<string, unknown> }> }>;
      };
      const steps = Object.values(workflow.jobs).flatMap((job) => job.steps);
      const ours = steps.filter((step) => step.uses?.startsWith('ovenproof/ovenproof'));
      expect(ours.length, file).toBeGreaterThan(0);
      for (const step of ours) {
        for (const input of Object.keys(step.with ?? {}))
          expect(Object.keys(action.inputs), `${file}: ${input}`).toContain(input);
      }
    }
  });
});
