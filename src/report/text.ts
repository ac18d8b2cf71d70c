/**
 * Size limits GitHub enforces on check runs and the helpers that keep text inside them without breaking
 * UTF-8: GitHub counts the summary in bytes and rejects a request (422) that exceeds a limit.
 */
export const LIMITS = {
  /** Check-run output.summary and output.text: bytes. */
  summaryBytes: 65_535,
  /** Check-run output.title and annotation title: characters. */
  titleChars: 255,
  /** Annotation message and raw_details: "64 KB" in GitHub's description. */
  annotationBytes: 65_535,
  /** Annotations per create/update request; a 51st is rejected with 422. */
  annotationsPerRequest: 50,
  /** $GITHUB_STEP_SUMMARY per step: 1 MiB. */
  jobSummaryBytes: 1024 * 1024,
  /** Workflow-command annotations GitHub shows per step and level. */
  commandAnnotationsPerStep: 10,
} as const;

const encoder = new TextEncoder();

export function byteLength(text: string): number {
  return Buffer.byteLength(text, 'utf8');
}

/**
 * Cuts `text` to at most `maxBytes` UTF-8 bytes, including `suffix`, which is appended only when
 * something was cut. The cut never lands inside a multi-byte character, so the result is valid UTF-8.
 */
export function truncateBytes(text: string, maxBytes: number, suffix = ''): string {
  const bytes = encoder.encode(text);
  if (bytes.length <= maxBytes) return text;
  const suffixBytes = byteLength(suffix);
  if (suffixBytes > maxBytes) throw new RangeError(`suffix of ${suffixBytes} bytes exceeds ${maxBytes}`);
  let cut = maxBytes - suffixBytes;
  // Continuation bytes look like 0b10xxxxxx: back up to the first byte of the character.
  while (cut > 0 && (bytes[cut]! & 0xc0) === 0x80) cut--;
  return Buffer.from(bytes.buffer, bytes.byteOffset, cut).toString('utf8') + suffix;
}

/** Cuts to at most `maxChars` Unicode code points (never half a surrogate pair), ending with '…' if cut. */
export function truncateChars(text: string, maxChars: number): string {
  const chars = Array.from(text);
  if (chars.length <= maxChars) return text;
  return chars.slice(0, maxChars - 1).join('') + '…';
}

/** `████████░░░░░░░░░░░░ 40%` */
export function progressBar(fraction: number, width = 20): string {
  const clamped = Number.isFinite(fraction) ? Math.min(1, Math.max(0, fraction)) : 0;
  const filled = Math.round(clamped * width);
  return `${'█'.repeat(filled)}${'░'.repeat(width - filled)} ${Math.round(clamped * 100)}%`;
}

/**
 * Makes untrusted text (test names, messages) inert inside Markdown: HTML-escapes angle brackets and
 * ampersands and backslash-escapes the characters that start links, emphasis, code or table cells.
 */
export function escapeMarkdown(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/([\\`*_[\]{}()#+!|~])/g, '\\$1')
    .replace(/\r?\n/g, ' ');
}

/** First line of a message, for one-line listings. */
export function firstLine(text: string): string {
  const line = text.split(/\r?\n/, 1)[0] ?? '';
  return line.trim();
}
