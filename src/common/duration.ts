import { ConfigError } from './errors.js';

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * Parses durations such as `90s`, `30m`, `1h30m` or a bare number of seconds into milliseconds.
 * Returns null for anything else so that callers can name the key in their error.
 */
export function parseDuration(text: string): number | null {
  const trimmed = text.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/gy;
  let total = 0;
  let matched = 0;
  for (let m = re.exec(trimmed); m; m = re.exec(trimmed)) {
    total += Number(m[1]) * (UNIT_MS[m[2]!] ?? 0);
    matched = re.lastIndex;
  }
  if (matched === 0 || matched !== trimmed.length) return null;
  return Math.round(total);
}

export function requireDuration(name: string, text: string): number {
  const ms = parseDuration(text);
  if (ms === null)
    throw new ConfigError(`${name}: "${text}" is not a duration (use e.g. 90s, 30m, 2h, 1h30m)`);
  return ms;
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)}s`;
  const m = Math.floor(s / 60);
  const rest = Math.round(s - m * 60);
  return rest ? `${m}m${rest}s` : `${m}m`;
}
