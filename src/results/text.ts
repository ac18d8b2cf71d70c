/** Size caps that keep the model bounded however large a result file's texts are. */
export const LIMITS = {
  name: 1_000,
  message: 2_000,
  details: 16_000,
  output: 8_000,
} as const;

/** Appends to a capped buffer; once full, further text is counted but dropped. */
export class CappedText {
  private parts: string[] = [];
  private length = 0;
  private dropped = 0;

  constructor(private readonly cap: number) {}

  append(text: string): void {
    const room = this.cap - this.length;
    if (room <= 0) {
      this.dropped += text.length;
      return;
    }
    const kept = text.length <= room ? text : text.slice(0, room);
    this.parts.push(kept);
    this.length += kept.length;
    this.dropped += text.length - kept.length;
  }

  toString(): string {
    const text = this.parts.join('');
    return this.dropped > 0 ? `${text}\n… (${this.dropped} more characters cut)` : text;
  }
}

export function cap(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max)}…`;
}

/** First non-empty line of a text, for a short failure message. */
export function firstLine(text: string): string {
  for (const line of text.split('\n')) {
    const trimmed = line.trim();
    if (trimmed) return trimmed;
  }
  return '';
}

/**
 * Makes arbitrary text (a test name from a result file) safe to print as part of one log line:
 * control characters (newlines included) become visible escapes, so the text can never start a new
 * line and therefore never a GitHub workflow command (`::error::…` is only honoured at a line start).
 */
export function oneLine(text: string): string {
  // eslint-disable-next-line no-control-regex -- finding control characters is the purpose
  return text.replace(/[\u0000-\u001f\u007f\u0085\u2028\u2029]/g, (ch) => {
    if (ch === '\n') return '\\n';
    if (ch === '\r') return '\\r';
    if (ch === '\t') return ' ';
    return `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`;
  });
}
