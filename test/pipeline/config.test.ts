import { describe, expect, it } from 'vitest';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseSetFlags, readConfigFile, resolveConfig, CONFIG_KEY_NAMES } from '../../src/pipeline/config.js';
import { ConfigError } from '../../src/common/errors.js';

const cli = { entry: 'cli' as const, projectDir: '/repo' };

async function configFile(text: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'ovenproof-config-'));
  const path = join(dir, 'ovenproof.yml');
  await writeFile(path, text);
  return path;
}

describe('config', () => {
  it('applies provider-dependent defaults after merging', () => {
    const local = resolveConfig({ flags: { test: 'make check' } }, cli);
    expect(local).toMatchObject({
      provider: 'local',
      baseImage: 'debian-12',
      sshUser: 'root',
      testTimeoutMs: 30 * 60_000,
      ttlMs: 60 * 60_000,
      keepImage: 'on-success',
      keepInstance: 'never',
      bakeStrategy: 'auto',
      instanceType: ['t3.small'],
      checkName: 'ovenproof',
      spot: false,
    });
    const action = resolveConfig({ inputs: { test: 'make check' } }, { entry: 'action', projectDir: '/w' });
    expect(action.provider).toBe('ec2');
    expect(action.sshUser).toBe('admin');
  });

  it('caches bakes for 7 days and persists local stores with the Actions cache only in Actions', () => {
    const actionLocal = resolveConfig(
      { inputs: { test: 't', provider: 'local' } },
      { entry: 'action', projectDir: '/w' },
    );
    expect(actionLocal).toMatchObject({ cache: true, cacheTtlMs: 7 * 86_400_000 });
    expect(resolveConfig({ inputs: { test: 't' } }, { entry: 'action', projectDir: '/w' }).cache).toBe(false);
    expect(resolveConfig({ flags: { test: 't' } }, cli).cache).toBe(false);
    const tuned = resolveConfig(
      { inputs: { test: 't', provider: 'local', cache: 'false', 'cache-ttl': '36h' } },
      { entry: 'action', projectDir: '/w' },
    );
    expect(tuned).toMatchObject({ cache: false, cacheTtlMs: 36 * 3_600_000 });
    expect(() => resolveConfig({ flags: { test: 't', 'cache-ttl': 'a week' } }, cli)).toThrow(
      /cache-ttl: invalid value "a week"/,
    );
  });

  it('gives inputs precedence over --set, --set over the file, and treats empty inputs as unset', async () => {
    const file = await readConfigFile(await configFile('test: from-file\nttl: 2h\ncheck-name: file-name\n'));
    const config = resolveConfig(
      {
        file,
        flags: { ttl: '90m', 'check-name': 'flag-name' },
        inputs: { 'check-name': 'input-name', ttl: '' },
      },
      cli,
    );
    expect(config.test).toBe('from-file');
    expect(config.ttlMs).toBe(90 * 60_000);
    expect(config.checkName).toBe('input-name');
  });

  it('parses lists, durations, booleans and path maps in both string and YAML forms', async () => {
    const file = await readConfigFile(
      await configFile(
        'test: t\npackages: [jq, curl]\nresults:\n  - a.xml\n  - b.xml\npath-map:\n  /opt/app: .\nspot: yes\ntest-timeout: 90\n',
      ),
    );
    const fromFile = resolveConfig({ file }, cli);
    expect(fromFile.packages).toEqual(['jq', 'curl']);
    expect(fromFile.results).toEqual(['a.xml', 'b.xml']);
    expect(fromFile.pathMap).toEqual([{ from: '/opt/app', to: '.' }]);
    expect(fromFile.spot).toBe(true);
    expect(fromFile.testTimeoutMs).toBe(90_000);
    expect(fromFile.sshTimeoutMs).toBe(5 * 60_000);
    expect(resolveConfig({ flags: { test: 't', 'ssh-timeout': '2m' } }, cli).sshTimeoutMs).toBe(120_000);
    const fromFlags = resolveConfig(
      {
        flags: {
          test: 't',
          packages: 'jq,\ncurl',
          'instance-type': 't3.small, t3a.small',
          'path-map': '/srv=src,/x=',
        },
      },
      cli,
    );
    expect(fromFlags.packages).toEqual(['jq', 'curl']);
    expect(fromFlags.instanceType).toEqual(['t3.small', 't3a.small']);
    expect(fromFlags.pathMap).toEqual([
      { from: '/srv', to: 'src' },
      { from: '/x', to: '.' },
    ]);
  });

  it.each([
    [
      { 'keep-image': 'sometimes' },
      /keep-image: invalid value "sometimes" from --set: expected one of: always, on-success, never/,
    ],
    [{ ttl: 'soon' }, /ttl: invalid value "soon" .*expected a duration/],
    [{ spot: 'maybe' }, /spot: invalid value "maybe" .*expected true or false/],
    [{ provider: 'gcp' }, /provider: invalid value "gcp" .*ec2, local/],
    [{ 'path-map': 'nope' }, /path-map: invalid value "nope" .*instance-prefix=repo-prefix/],
  ])('names the key, the value and what is allowed: %o', (flags, message) => {
    expect(() => resolveConfig({ flags: { test: 't', ...flags } }, cli)).toThrow(message);
  });

  it('reports a required key that is missing or set empty', () => {
    expect(() => resolveConfig({}, { ...cli, required: ['test'] })).toThrow(/^test: is required/);
    expect(() => resolveConfig({ flags: { test: '' } }, { ...cli, required: ['test'] })).toThrow(
      /^test: must not be empty/,
    );
  });

  it('rejects unknown keys with a did-you-mean, in the file and in --set', async () => {
    await expect(readConfigFile(await configFile('tset: x\n'))).rejects.toThrow(
      /unknown key "tset" \(did you mean "test"\?\)/,
    );
    expect(() => parseSetFlags(['chek-name=x'])).toThrow(/did you mean "check-name"/);
    expect(() => parseSetFlags(['nonsense-entirely=x'])).toThrow(ConfigError);
    expect(() => parseSetFlags(['=x'])).toThrow(/expected key=value/);
  });

  it('keeps shell metacharacters verbatim: ovenproof never interpolates values into a shell', () => {
    const hostile = 'make check; rm -rf / $(whoami) `id` && echo "$HOME" | tee >(cat)';
    const config = resolveConfig({ flags: { test: hostile, 'check-name': 'a\'b"c$d' } }, cli);
    expect(config.test).toBe(hostile);
    expect(config.checkName).toBe('a\'b"c$d');
  });

  it('takes a remote bakery URL, token and audience, and names a malformed or orphaned one', () => {
    const config = resolveConfig(
      {
        flags: {
          test: 't',
          'baker-url': 'http://127.0.0.1:8780',
          'baker-token': 'opbk_x',
          'baker-audience': 'aud',
        },
      },
      cli,
    );
    expect(config).toMatchObject({
      bakerUrl: { all: 'http://127.0.0.1:8780' },
      bakerToken: 'opbk_x',
      bakerAudience: 'aud',
    });
    expect(() => resolveConfig({ flags: { test: 't', 'baker-url': 'bakery:8780' } }, cli)).toThrow(
      /baker-url: .*http/,
    );
    expect(() => resolveConfig({ flags: { test: 't', 'baker-token': 'opbk_x' } }, cli)).toThrow(
      /baker-token: only used with baker-url/,
    );
  });

  it('rejects non-mapping YAML and invalid YAML with the file name', async () => {
    await expect(readConfigFile(await configFile('- a\n- b\n'))).rejects.toThrow(/must be a mapping/);
    await expect(readConfigFile(await configFile('test: [unclosed\n'))).rejects.toThrow(/is not valid YAML/);
    expect(CONFIG_KEY_NAMES).toContain('publish-result');
  });
});
