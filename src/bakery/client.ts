/**
 * The HTTP client of a bakery, used by the pipeline's bake stage when `baker-url` is set: uploads the
 * package files the bakery lacks, asks for the bake, follows its events (reconnecting with
 * Last-Event-ID), and cancels it. Failures map to the CLI's exit codes: a bakery that is down or
 * answers 5xx is a pipeline error naming the URL; 401/403 and 400 are configuration mistakes.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { ConfigError, PipelineError, errorMessage } from '../common/errors.js';
import type { BakeJob, BakeRequestBody } from './model.js';

/** A bake as the API shows it (`GET /v1/bakes/:id`). */
export type RemoteBake = Pick<
  BakeJob,
  | 'id'
  | 'state'
  | 'bakeKey'
  | 'step'
  | 'progress'
  | 'image'
  | 'error'
  | 'cacheHit'
  | 'requestedBy'
  | 'durationsMs'
> & { createdAt: string; startedAt: string | null; finishedAt: string | null };

export interface RemoteEvent {
  type: string;
  data: Record<string, unknown>;
}

export interface BakeryClientOptions {
  url: string;
  /** A static bakery token or an OIDC JWT. */
  token: string;
  /** Where to tell the user how to fix a refused credential. */
  credentialHint: string;
}

function sha256File(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    createReadStream(path)
      .on('error', reject)
      .on('data', (chunk) => hash.update(chunk))
      .on('end', () => resolve(hash.digest('hex')));
  });
}

export class BakeryClient {
  readonly url: string;

  constructor(private readonly options: BakeryClientOptions) {
    this.url = options.url.replace(/\/+$/, '');
  }

  private async send(path: string, init: RequestInit & { duplex?: 'half' } = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    headers.set('authorization', `Bearer ${this.options.token}`);
    let response: Response;
    try {
      response = await fetch(`${this.url}${path}`, { ...init, headers });
    } catch (error) {
      if ((init.signal as AbortSignal | undefined)?.aborted) throw error;
      const cause = (error as { cause?: unknown }).cause;
      throw new PipelineError('bake', `bakery ${this.url} is unreachable: ${errorMessage(cause ?? error)}`);
    }
    if (response.ok || response.status === 404) return response;
    const text = await response.text().catch(() => '');
    let message = text.slice(0, 500);
    try {
      message = (JSON.parse(text) as { error?: { message?: string } }).error?.message ?? message;
    } catch {
      // not JSON: keep the text
    }
    const what = `bakery ${this.url} answered ${response.status} to ${init.method ?? 'GET'} ${path}: ${message}`;
    if (response.status === 401 || response.status === 403)
      throw new ConfigError(`${what} (${this.options.credentialHint})`);
    if (response.status >= 400 && response.status < 500 && response.status !== 429)
      throw new ConfigError(what);
    throw new PipelineError('bake', what);
  }

  /** Uploads the file unless the bakery already has these bytes; returns its digest. */
  async ensureFile(path: string, signal?: AbortSignal): Promise<{ sha256: string; uploaded: boolean }> {
    const digest = await sha256File(path);
    const head = await this.send(`/v1/files/${digest}`, { method: 'HEAD', ...(signal ? { signal } : {}) });
    if (head.status === 200) return { sha256: digest, uploaded: false };
    const { size } = await stat(path);
    const response = await this.send('/v1/files', {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(size) },
      body: Readable.toWeb(createReadStream(path)) as ReadableStream,
      duplex: 'half',
      ...(signal ? { signal } : {}),
    });
    const stored = (await response.json()) as { sha256: string };
    if (stored.sha256 !== digest)
      throw new PipelineError(
        'bake',
        `bakery ${this.url} stored ${path} as ${stored.sha256}, expected ${digest}`,
      );
    return { sha256: digest, uploaded: true };
  }

  async requestBake(
    body: BakeRequestBody,
    signal?: AbortSignal,
  ): Promise<{ bake: RemoteBake; created: boolean }> {
    const response = await this.send('/v1/bakes', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
      ...(signal ? { signal } : {}),
    });
    return { bake: (await response.json()) as RemoteBake, created: response.status === 202 };
  }

  /** Promotes the bake's image at its home bakery and copies it to `regions`. */
  async promoteBake(
    id: string,
    options: { tested: 'passed' | 'failed' | null; regions: string[] },
    signal?: AbortSignal,
  ): Promise<{ bake: RemoteBake; copies: Array<{ region: string; id: string }> }> {
    const response = await this.send(`/v1/bakes/${encodeURIComponent(id)}/promote`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        ...(options.tested ? { tested: options.tested } : {}),
        regions: options.regions,
      }),
      ...(signal ? { signal } : {}),
    });
    if (response.status === 404) throw new PipelineError('bake', `bakery ${this.url} has no bake ${id}`);
    // A long promotion answers 200 at once and reports a later failure in the body.
    const answer = (await response.json()) as {
      bake: RemoteBake;
      copies: Array<{ region: string; id: string }>;
      error?: { message: string };
    };
    if (answer.error)
      throw new PipelineError(
        'bake',
        `bakery ${this.url} could not promote bake ${id}: ${answer.error.message}`,
      );
    return { bake: answer.bake, copies: answer.copies };
  }

  async getBake(id: string): Promise<RemoteBake> {
    const response = await this.send(`/v1/bakes/${encodeURIComponent(id)}`);
    if (response.status === 404) throw new PipelineError('bake', `bakery ${this.url} has no bake ${id}`);
    return (await response.json()) as RemoteBake;
  }

  async cancelBake(id: string): Promise<RemoteBake> {
    const response = await this.send(`/v1/bakes/${encodeURIComponent(id)}`, {
      method: 'DELETE',
      signal: AbortSignal.timeout(120_000),
    });
    return (await response.json()) as RemoteBake;
  }

  /**
   * Follows a bake's events until `done` and returns the finished bake. A dropped stream is resumed
   * after the last event seen (the bakery replays from there), a few times before giving up.
   */
  async follow(id: string, onEvent: (event: RemoteEvent) => void, signal: AbortSignal): Promise<RemoteBake> {
    let lastId = 0;
    let drops = 0;
    for (;;) {
      const response = await this.send(`/v1/bakes/${encodeURIComponent(id)}/events`, {
        headers: { accept: 'text/event-stream', ...(lastId ? { 'last-event-id': String(lastId) } : {}) },
        signal,
      });
      if (response.status === 404) throw new PipelineError('bake', `bakery ${this.url} has no bake ${id}`);
      try {
        const done = await this.readStream(response, signal, (event, eventId) => {
          lastId = eventId;
          onEvent(event);
        });
        if (done) return done;
      } catch (error) {
        if (signal.aborted) throw error;
        if (++drops > 5)
          throw new PipelineError(
            'bake',
            `lost the event stream of bake ${id} at ${this.url}: ${errorMessage(error)}`,
          );
      }
      if (signal.aborted) throw signal.reason;
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }

  private async readStream(
    response: Response,
    signal: AbortSignal,
    onEvent: (event: RemoteEvent, id: number) => void,
  ): Promise<RemoteBake | null> {
    const decoder = new TextDecoder();
    let buffer = '';
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
      if (signal.aborted) return null;
      buffer += decoder.decode(chunk, { stream: true });
      let cut: number;
      while ((cut = buffer.indexOf('\n\n')) >= 0) {
        const frame = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        let type = 'message';
        let id = 0;
        let data = '';
        for (const line of frame.split('\n')) {
          if (line.startsWith('event: ')) type = line.slice(7);
          else if (line.startsWith('id: ')) id = Number(line.slice(4));
          else if (line.startsWith('data: ')) data += line.slice(6);
        }
        if (!data) continue;
        const payload = JSON.parse(data) as Record<string, unknown>;
        onEvent({ type, data: payload }, id);
        if (type === 'done') return payload.bake as RemoteBake;
      }
    }
    return null;
  }
}
