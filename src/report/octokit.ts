/**
 * The Octokit every GitHub call of ovenproof goes through: @actions/github's client with the retry plugin
 * (5xx, network errors) and the throttling plugin (primary and secondary rate limits, write spacing).
 */
import { getOctokit } from '@actions/github';
import { retry } from '@octokit/plugin-retry';
import { throttling } from '@octokit/plugin-throttling';
import type { Logger } from '../common/log.js';

export type GitHubClient = ReturnType<typeof getOctokit>;

export const DEFAULT_API_URL = 'https://api.github.com';

export function createGitHubClient(token: string, apiUrl: string, log: Logger): GitHubClient {
  // Registered before any request so that no sink (core.info, stderr) can ever print the token.
  log.mask(token);
  return getOctokit(
    token,
    {
      baseUrl: apiUrl.replace(/\/+$/, ''),
      log: {
        debug: (message: string) => log.debug(message),
        info: (message: string) => log.debug(message),
        warn: (message: string) => log.warn(message),
        error: (message: string) => log.warn(message),
      },
      throttle: {
        onRateLimit: (
          retryAfter: number,
          options: { method: string; url: string },
          _o: unknown,
          count: number,
        ) => {
          log.warn(`GitHub rate limit hit by ${options.method} ${options.url}; retrying in ${retryAfter}s`);
          return count < 2;
        },
        onSecondaryRateLimit: (
          retryAfter: number,
          options: { method: string; url: string },
          _o: unknown,
          count: number,
        ) => {
          log.warn(
            `GitHub secondary rate limit hit by ${options.method} ${options.url}; retrying in ${retryAfter}s`,
          );
          return count < 1;
        },
      },
    },
    retry,
    throttling,
  );
}

/** https://github.com for api.github.com, `https://host` for a GitHub Enterprise Server `https://host/api/v3`. */
export function serverUrlFor(apiUrl: string): string {
  const url = new URL(apiUrl);
  if (url.hostname === 'api.github.com') return 'https://github.com';
  if (url.hostname.startsWith('api.') && url.hostname.endsWith('.ghe.com')) {
    return `${url.protocol}//${url.hostname.slice(4)}`;
  }
  return `${url.protocol}//${url.host}`;
}

/** HTTP status of an Octokit RequestError, or null for anything else (network failure, bug). */
export function httpStatusOf(error: unknown): number | null {
  if (error && typeof error === 'object' && 'status' in error) {
    const status = (error as { status: unknown }).status;
    if (typeof status === 'number') return status;
  }
  return null;
}
