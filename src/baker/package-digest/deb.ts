/**
 * The content digest of a .deb: what dpkg would install (control fields, maintainer scripts and other
 * control members, and every data member's path, type, mode, owner, link target and content), but not
 * how the archive was packed (mtimes, member order, compression, ar and tar headers). Two builds of
 * unchanged sources therefore share a digest even when the build is not byte-reproducible.
 */
import { errorMessage } from '../../common/errors.js';
import { MalformedArchiveError, readArMembers, streamArMember, type ArMember } from './ar.js';
import { compressionOfSuffix, decompressed, SUPPORTED_SUFFIXES } from './decompress.js';
import { canonicalSha256, readTarMembers, sortedMembers, type InstalledMember } from './members.js';
import type { PackageContent, PackageDigester } from './types.js';

/** Changes whenever the document below changes shape, so old and new digests never compare equal. */
const DEB_DIGEST_FORMAT = 'ovenproof-deb-content/1';

export type ControlFields = Array<[name: string, value: string]>;

/**
 * Parses the first paragraph of a deb822 control file. Field names compare case-insensitively and
 * trailing blanks carry no meaning, so both are normalised; continuation lines keep their text.
 */
export function parseControlFields(text: string): ControlFields {
  const fields: ControlFields = [];
  for (const [index, line] of text.split('\n').entries()) {
    if (line.trim() === '') {
      if (fields.length > 0) break;
      continue;
    }
    if (/^[ \t]/.test(line)) {
      const last = fields.at(-1);
      if (!last) throw new MalformedArchiveError(`control line ${index + 1} continues no field`);
      last[1] += `\n${line.trimEnd()}`;
      continue;
    }
    const match = /^([^\s:#-][^\s:]*):(.*)$/.exec(line);
    if (!match)
      throw new MalformedArchiveError(
        `control line ${index + 1} is not "Field: value": ${line.slice(0, 80)}`,
      );
    fields.push([match[1]!.toLowerCase(), match[2]!.trim()]);
  }
  return fields.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
}

function tarMember(members: ArMember[], stem: 'control.tar' | 'data.tar'): ArMember & { suffix: string } {
  const found = members.find((m) => m.name.startsWith(stem));
  if (!found) throw new MalformedArchiveError(`it has no ${stem} member`);
  const suffix = found.name.slice(stem.length);
  if (compressionOfSuffix(suffix) === null) {
    throw new MalformedArchiveError(
      `${found.name} uses a compression ovenproof cannot read (supported: none, ${SUPPORTED_SUFFIXES.join(', ')})`,
    );
  }
  return { ...found, suffix };
}

async function readTar(
  path: string,
  member: ArMember & { suffix: string },
  keepContent?: (path: string) => boolean,
) {
  const compression = compressionOfSuffix(member.suffix) ?? 'none';
  try {
    return await readTarMembers(
      decompressed(streamArMember(path, member), compression),
      keepContent ? { keepContent } : {},
    );
  } catch (error) {
    if (error instanceof MalformedArchiveError) throw error;
    const reason = errorMessage(error);
    throw new MalformedArchiveError(`${member.name} cannot be read: ${reason}`);
  }
}

/** Control members are hashed without owner: dpkg never installs them under their archived owner. */
const controlMemberRecord = (m: InstalledMember) => ({
  path: m.path,
  type: m.type,
  mode: m.mode,
  linkTarget: m.linkTarget,
  contentSha256: m.contentSha256,
});

const dataMemberRecord = (m: InstalledMember) => ({
  path: m.path,
  type: m.type,
  mode: m.mode,
  owner: m.owner,
  linkTarget: m.linkTarget,
  contentSha256: m.contentSha256,
  device: m.device,
});

export async function debContent(path: string): Promise<PackageContent> {
  const members = await readArMembers(path);
  if (members[0]?.name !== 'debian-binary') {
    throw new MalformedArchiveError('its first member is not debian-binary');
  }
  const control = await readTar(path, tarMember(members, 'control.tar'), (p) => p === '/control');
  const controlText = control.kept.get('/control');
  if (!controlText) throw new MalformedArchiveError('its control.tar has no control file');
  const fields = parseControlFields(controlText.toString('utf8'));
  const name = fields.find(([field]) => field === 'package')?.[1];
  if (!name) throw new MalformedArchiveError('its control file has no Package field');
  const version = fields.find(([field]) => field === 'version')?.[1] ?? '';
  const data = await readTar(path, tarMember(members, 'data.tar'));

  const digest = canonicalSha256({
    format: DEB_DIGEST_FORMAT,
    fields,
    control: sortedMembers(control.members)
      .filter((m) => m.path !== '/' && m.path !== '/control')
      .map(controlMemberRecord),
    data: sortedMembers(data.members).map(dataMemberRecord),
  });
  return { digest, name, version };
}

export const debDigester: PackageDigester = {
  extension: '.deb',
  formatName: 'Debian package',
  content: debContent,
};
