/**
 * Content digests of package files for the bake key. Each package format has a digester (today .deb;
 * an .rpm digester would hash its header tags and the payload's cpio members into the same kind of
 * member records); this module picks one by suffix and turns parse failures into config errors.
 */
import { ConfigError } from '../../common/errors.js';
import { MalformedArchiveError } from './ar.js';
import { debDigester } from './deb.js';
import type { PackageContent, PackageDigester } from './types.js';

const DIGESTERS: readonly PackageDigester[] = [debDigester];

export function digesterFor(path: string): PackageDigester {
  const found = DIGESTERS.find((d) => path.endsWith(d.extension));
  if (!found) {
    const known = DIGESTERS.map((d) => d.extension).join(', ');
    throw new ConfigError(`package: ${path} has no content digest ovenproof knows (supported: ${known})`);
  }
  return found;
}

/** The content digest, name and version of a package file; a malformed file is a ConfigError (exit 3). */
export async function packageContent(path: string): Promise<PackageContent> {
  const digester = digesterFor(path);
  try {
    return await digester.content(path);
  } catch (error) {
    if (error instanceof MalformedArchiveError) {
      throw new ConfigError(`package: ${path} is not a valid ${digester.formatName}: ${error.message}`);
    }
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new ConfigError(`package: ${path} does not exist`);
    }
    throw error;
  }
}
