/** What every package format's digester provides; a format plugs in by adding one to the registry. */
export interface PackageContent {
  /** sha256 hex over what the package installs (see each digester for the exact list). */
  digest: string;
  /** Package name and version as recorded in the package's own metadata. */
  name: string;
  version: string;
}

export interface PackageDigester {
  /** File suffix this digester reads, e.g. `.deb`. */
  readonly extension: string;
  /** How users call the format, for error messages. */
  readonly formatName: string;
  /** Streams the file once; throws MalformedArchiveError for anything it cannot parse. */
  content(path: string): Promise<PackageContent>;
}
