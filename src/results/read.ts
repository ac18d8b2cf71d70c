import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';

/** A result file cannot be used: too large, unreadable, hostile or malformed. Other files still count. */
export class ResultFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ResultFileError';
  }
}

/** Default per-file limit: far above real reports, low enough to keep the parser's memory bounded. */
export const DEFAULT_MAX_BYTES = 64 * 1024 * 1024;

/** Characters XML 1.0 forbids (C0 controls except tab/newline/CR, U+FFFE/U+FFFF) become U+FFFD. */
// eslint-disable-next-line no-control-regex -- finding control characters is the purpose
const FORBIDDEN = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/g;

export function formatBytes(bytes: number): string {
  if (bytes >= 1024 * 1024) return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
  if (bytes >= 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${bytes} bytes`;
}

/**
 * Streams a result file as text: refused up front when over `maxBytes`, invalid UTF-8 replaced by
 * U+FFFD (never fatal), a UTF-8 BOM dropped, XML-forbidden control characters replaced.
 */
export async function* readResultText(path: string, maxBytes: number): AsyncGenerator<string> {
  let size: number;
  try {
    const info = await stat(path);
    if (!info.isFile()) throw new ResultFileError('not a regular file');
    size = info.size;
  } catch (error) {
    if (error instanceof ResultFileError) throw error;
    throw new ResultFileError(`cannot read: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
  if (size > maxBytes) {
    throw new ResultFileError(
      `is ${formatBytes(size)}, over the ${formatBytes(maxBytes)} limit for one result file: not parsed`,
    );
  }
  const decoder = new TextDecoder('utf-8', { fatal: false, ignoreBOM: false });
  let total = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: 256 * 1024 })) {
    const bytes = chunk as Buffer;
    total += bytes.length;
    // The file may grow while it is read (a runner still writing): the limit holds anyway.
    if (total > maxBytes) {
      throw new ResultFileError(`grew over the ${formatBytes(maxBytes)} limit while being read: not parsed`);
    }
    const text = decoder.decode(bytes, { stream: true });
    if (text) yield text.replace(FORBIDDEN, '\ufffd');
  }
  const rest = decoder.decode();
  if (rest) yield rest.replace(FORBIDDEN, '\ufffd');
}
