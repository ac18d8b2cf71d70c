import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { aptPlugin } from '../../src/baker/os/apt.js';
import { osPluginFor, pluginForPackageFile } from '../../src/baker/os/index.js';
import { COMMON_HYGIENE, hygieneScript } from '../../src/baker/hygiene.js';

describe('apt plugin', () => {
  it('installs package files as ./paths or absolute paths plus distribution packages, quoted', () => {
    const script = aptPlugin.installScript(['/var/tmp/ovenproof-bake/0-hello.deb'], ['jq', 'libc6=2.36-9']);
    expect(script).toContain("install '/var/tmp/ovenproof-bake/0-hello.deb' 'jq' 'libc6=2.36-9'");
    expect(aptPlugin.installScript(['x.deb'], [])).toContain("'./x.deb'");
  });

  it('refuses package names that are not Debian names, naming them', () => {
    expect(() => aptPlugin.installScript([], ['jq; rm -rf /'])).toThrow(
      /"jq; rm -rf \/" is not a Debian package name/,
    );
    expect(() => aptPlugin.installScript([], ['$(reboot)'])).toThrow(/not a Debian package name/);
  });

  it('parses only installed packages from dpkg-query', () => {
    const output = 'ii \tjq\t1.6-2.1\nrc \told\t1.0\nii \tlibjq1:amd64\t1.6-2.1\n\n';
    expect(aptPlugin.parseInstalled(output)).toEqual({ jq: '1.6-2.1', 'libjq1:amd64': '1.6-2.1' });
  });

  it('parses what the real dpkg-query prints on this host', () => {
    const out = execFileSync('/bin/sh', ['-c', aptPlugin.listInstalledScript()], { encoding: 'utf8' });
    const packages = aptPlugin.parseInstalled(out);
    expect(packages['dpkg']).toMatch(/^\d/);
  });

  it('is chosen for Debian and Ubuntu images and .deb files; others get a clear error', () => {
    expect(osPluginFor('debian-12')).toBe(aptPlugin);
    expect(osPluginFor('ubuntu-24.04')).toBe(aptPlugin);
    expect(() => osPluginFor('fedora-40')).toThrow(/no package-manager plugin for os "fedora-40"/);
    expect(pluginForPackageFile('/x/hello_1.0_amd64.deb')).toBe(aptPlugin);
    expect(() => pluginForPackageFile('/x/hello.zip')).toThrow(/hello.zip is not a package file/);
  });
});

describe('hygiene script', () => {
  it('keeps globs active but quotes everything else, and refuses relative or .. paths', () => {
    const script = hygieneScript({
      removeGlobs: ['/etc/ssh/ssh_host_*', "/a b/c'd"],
      emptyFiles: [],
      clearDirs: [],
    });
    expect(script).toContain(`rm -rf -- '/etc/ssh/ssh_host_'* '/a b/c'\\''d'`);
    expect(() => hygieneScript({ removeGlobs: ['etc/x'], emptyFiles: [], clearDirs: [] })).toThrow(
      /must be absolute/,
    );
    expect(() => hygieneScript({ removeGlobs: ['/etc/../x'], emptyFiles: [], clearDirs: [] })).toThrow(
      /\.\./,
    );
  });

  it('covers every item of SPEC §1.3', () => {
    const all = [
      ...COMMON_HYGIENE.removeGlobs,
      ...COMMON_HYGIENE.emptyFiles,
      ...COMMON_HYGIENE.clearDirs,
    ].join(' ');
    for (const item of [
      '/etc/ssh/ssh_host_',
      'machine-id',
      '.bash_history',
      '/var/log',
      'authorized_keys',
      '/var/lib/cloud/instances',
    ]) {
      expect(all).toContain(item);
    }
    expect(aptPlugin.hygiene.removeGlobs.join(' ')).toContain('/var/lib/apt/lists');
    expect(aptPlugin.hygiene.removeGlobs.join(' ')).toContain('/var/cache/apt/archives/*.deb');
  });
});
