/**
 * A fake GitHub REST API on 127.0.0.1 for tests of the check-run reporting (and end-to-end tests of the
 * Action). Every request is matched against GitHub's published OpenAPI description (@octokit/openapi):
 * the method and path must name an operation, path parameters and the JSON body must validate against
 * that operation's schemas, and the limits GitHub enforces beyond the schema (bytes of summary and
 * annotation text, title length, SHA format) are checked too. An invalid request is answered like GitHub
 * would (404/422) and recorded; `close()` then rejects, so a test that sent one fails even if the code
 * under test swallowed the error.
 *
 *   const gh = await startFakeGitHub();
 *   process.env.GITHUB_API_URL = gh.url;            // or gh.ghesUrl for a GHES-style /api/v3 prefix
 *   gh.failWith(403);                               // every later request → 403 until gh.clearFailures()
 *   … run the code under test …
 *   expect(gh.checkRuns[0].annotations).toHaveLength(120);
 *   await gh.close();                               // throws if any request was invalid
 *
 * Implemented: POST /repos/{o}/{r}/check-runs, PATCH and GET /repos/{o}/{r}/check-runs/{id},
 * GET /repos/{o}/{r}/check-runs/{id}/annotations. Other operations of the spec get 501 and count as
 * invalid (the code under test used an endpoint this fake does not model).
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { Ajv, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';

export interface RecordedRequest {
  method: string;
  /** Path without the /api/v3 prefix and query string, e.g. /repos/o/r/check-runs/1. */
  path: string;
  /** Path as received, with any prefix and query. */
  url: string;
  /** operationId from the OpenAPI description ('checks/create'), null when no operation matched. */
  operation: string | null;
  body: unknown;
  status: number;
  /** Why the request was rejected as invalid; empty for valid requests. */
  errors: string[];
}

export interface FakeAnnotation {
  path: string;
  start_line: number;
  end_line: number;
  annotation_level: string;
  message: string;
  title?: string;
  raw_details?: string;
  start_column?: number;
  end_column?: number;
}

export interface FakeCheckRun {
  id: number;
  owner: string;
  repo: string;
  name: string;
  head_sha: string;
  status: 'queued' | 'in_progress' | 'completed';
  conclusion: string | null;
  started_at: string | null;
  completed_at: string | null;
  details_url: string | null;
  output: { title: string | null; summary: string | null; text: string | null };
  /** All annotations, appended request by request as GitHub does. */
  annotations: FakeAnnotation[];
  /** Every output.summary sent, in order (live progress updates). */
  summaries: string[];
  html_url: string;
}

export interface FailureRule {
  /** Number of requests to fail; default: all until clearFailures(). */
  times?: number;
  method?: string;
  /** Matches the prefix-less path. */
  path?: string | RegExp;
  message?: string;
}

export interface FakeGitHub {
  /** Base URL in the api.github.com shape: pass as GITHUB_API_URL / baseUrl. */
  url: string;
  /** Base URL in the GitHub Enterprise Server shape (`…/api/v3`). */
  ghesUrl: string;
  requests: RecordedRequest[];
  checkRuns: FakeCheckRun[];
  /** Requests rejected because they do not match GitHub's description or limits. */
  invalid: RecordedRequest[];
  /** Requests to the check-run endpoints that carried annotations, with how many each. */
  annotationRequests(): Array<{ request: RecordedRequest; count: number }>;
  /** Answer matching requests with `status` (after validation, so invalid bodies are still caught). */
  failWith(status: number, rule?: FailureRule): void;
  clearFailures(): void;
  /** Stops the server; rejects if any request was invalid unless `allowInvalid`. */
  close(options?: { allowInvalid?: boolean }): Promise<void>;
}

const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;

type Json = Record<string, unknown>;

interface Operation {
  method: string;
  template: string;
  regex: RegExp;
  paramNames: string[];
  operationId: string;
  params: Array<{ name: string; schema: Json }>;
  bodySchema: Json | null;
  bodyRequired: boolean;
}

let specCache: { operations: Operation[]; ajv: Ajv } | null = null;
const validators = new Map<string, ValidateFunction>();

/** Replaces `$ref`s with their targets; a reference back into its own chain becomes `{}` (any). */
function resolveRefs(node: unknown, root: Json, chain: string[] = []): unknown {
  if (Array.isArray(node)) return node.map((item) => resolveRefs(item, root, chain));
  if (!node || typeof node !== 'object') return node;
  const obj = node as Json;
  if (typeof obj.$ref === 'string') {
    const ref = obj.$ref;
    if (chain.includes(ref)) return {};
    const target = ref
      .replace(/^#\//, '')
      .split('/')
      .reduce<unknown>(
        (value, key) => (value as Json | undefined)?.[key.replace(/~1/g, '/').replace(/~0/g, '~')],
        root,
      );
    return resolveRefs(target, root, [...chain, ref]);
  }
  const out: Json = {};
  for (const [key, value] of Object.entries(obj)) out[key] = resolveRefs(value, root, chain);
  return out;
}

function loadSpec(): { operations: Operation[]; ajv: Ajv } {
  if (specCache) return specCache;
  const require = createRequire(import.meta.url);
  const file = require.resolve('@octokit/openapi/generated/api.github.com.json');
  const spec = JSON.parse(readFileSync(file, 'utf8')) as Json;
  const operations: Operation[] = [];
  for (const [template, item] of Object.entries(spec.paths as Record<string, Json>)) {
    for (const method of ['get', 'post', 'patch', 'put', 'delete']) {
      const op = item[method] as Json | undefined;
      if (!op) continue;
      const paramNames: string[] = [];
      const pattern = template
        .replace(/[.*+?^$()|[\]\\]/g, '\\$&')
        .replace(/\{([^}]+)\}/g, (_m, name: string) => {
          paramNames.push(name);
          return '([^/]+)';
        });
      const params = ((op.parameters as unknown[] | undefined) ?? [])
        .map((p) => resolveRefs(p, spec) as Json)
        .filter((p) => p.in === 'path')
        .map((p) => ({ name: p.name as string, schema: (p.schema as Json) ?? {} }));
      const requestBody = op.requestBody ? (resolveRefs(op.requestBody, spec) as Json) : null;
      const content = requestBody?.content as Record<string, Json> | undefined;
      operations.push({
        method: method.toUpperCase(),
        template,
        regex: new RegExp(`^${pattern}$`),
        paramNames,
        operationId: op.operationId as string,
        params,
        bodySchema: (content?.['application/json']?.schema as Json | undefined) ?? null,
        bodyRequired: Boolean(requestBody?.required),
      });
    }
  }
  // OpenAPI 3.0 schemas: `nullable` is understood by Ajv; descriptive keywords (example, x-*) are ignored.
  const ajv = new Ajv({ strict: false, allErrors: true });
  addFormats(ajv);
  specCache = { operations, ajv };
  return specCache;
}

function validatorFor(key: string, schema: Json): ValidateFunction {
  let validate = validators.get(key);
  if (!validate) {
    validate = loadSpec().ajv.compile(schema);
    validators.set(key, validate);
  }
  return validate;
}

function schemaErrors(validate: ValidateFunction, where: string): string[] {
  return (validate.errors ?? []).map((e) => `${where}${e.instancePath || ''} ${e.message ?? 'is invalid'}`);
}

/** Limits GitHub enforces on check runs that the OpenAPI schema does not express (it counts characters). */
function checkRunLimits(body: Json): string[] {
  const errors: string[] = [];
  if ('head_sha' in body && !/^[0-9a-f]{40}([0-9a-f]{24})?$/.test(String(body.head_sha))) {
    errors.push(`head_sha "${String(body.head_sha)}": No commit found for SHA`);
  }
  const output = body.output as Json | undefined;
  if (!output) return errors;
  for (const field of ['summary', 'text'] as const) {
    const value = output[field];
    if (typeof value === 'string' && Buffer.byteLength(value) > 65_535) {
      errors.push(`output.${field} is ${Buffer.byteLength(value)} bytes, more than 65535`);
    }
  }
  if (typeof output.title === 'string' && Array.from(output.title).length > 255) {
    errors.push('output.title is longer than 255 characters');
  }
  const annotations = (output.annotations as Json[] | undefined) ?? [];
  annotations.forEach((a, i) => {
    if (typeof a.title === 'string' && Array.from(a.title).length > 255) {
      errors.push(`output.annotations/${i}/title is longer than 255 characters`);
    }
    for (const field of ['message', 'raw_details'] as const) {
      const value = a[field];
      if (typeof value === 'string' && Buffer.byteLength(value) > 65_535) {
        errors.push(`output.annotations/${i}/${field} is more than 64 KB`);
      }
    }
    if (typeof a.start_line === 'number' && a.start_line < 1)
      errors.push(`output.annotations/${i}/start_line < 1`);
  });
  return errors;
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = body === undefined ? '' : JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'x-github-media-type': 'github.v3',
  });
  res.end(text);
}

const DOCS = 'https://docs.github.com/rest/checks/runs';

export async function startFakeGitHub(): Promise<FakeGitHub> {
  const { operations } = loadSpec();
  const requests: RecordedRequest[] = [];
  const invalid: RecordedRequest[] = [];
  const checkRuns: FakeCheckRun[] = [];
  const failures: Array<FailureRule & { status: number; remaining: number }> = [];
  let baseUrl = '';

  function publicRun(run: FakeCheckRun): Json {
    return {
      id: run.id,
      node_id: `CR_${run.id}`,
      head_sha: run.head_sha,
      external_id: '',
      url: `${baseUrl}/repos/${run.owner}/${run.repo}/check-runs/${run.id}`,
      html_url: run.html_url,
      details_url: run.details_url,
      status: run.status,
      conclusion: run.conclusion,
      started_at: run.started_at,
      completed_at: run.completed_at,
      output: {
        title: run.output.title,
        summary: run.output.summary,
        text: run.output.text,
        annotations_count: run.annotations.length,
        annotations_url: `${baseUrl}/repos/${run.owner}/${run.repo}/check-runs/${run.id}/annotations`,
      },
      name: run.name,
      check_suite: { id: 1 },
      app: null,
      pull_requests: [],
    };
  }

  function applyUpdate(run: FakeCheckRun, body: Json): void {
    if (typeof body.name === 'string') run.name = body.name;
    if (typeof body.details_url === 'string') run.details_url = body.details_url;
    if (typeof body.started_at === 'string') run.started_at = body.started_at;
    if (typeof body.conclusion === 'string') {
      run.conclusion = body.conclusion;
      run.status = 'completed';
      run.completed_at = typeof body.completed_at === 'string' ? body.completed_at : new Date().toISOString();
    } else if (typeof body.status === 'string') run.status = body.status as FakeCheckRun['status'];
    const output = body.output as Json | undefined;
    if (output) {
      if (typeof output.title === 'string') run.output.title = output.title;
      if (typeof output.summary === 'string') {
        run.output.summary = output.summary;
        run.summaries.push(output.summary);
      }
      if (typeof output.text === 'string') run.output.text = output.text;
      run.annotations.push(...((output.annotations as FakeAnnotation[] | undefined) ?? []));
    }
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = req.url ?? '/';
    const method = req.method ?? 'GET';
    const path = url.split('?')[0]!.replace(/^\/api\/v3(?=\/)/, '');
    const raw = await readBody(req);
    const record: RecordedRequest = { method, path, url, operation: null, body: null, status: 0, errors: [] };
    requests.push(record);
    const reply = (status: number, body: unknown) => {
      record.status = status;
      send(res, status, body);
    };
    const reject = (status: number, errors: string[]) => {
      record.errors = errors;
      invalid.push(record);
      reply(status, { message: errors.join('; '), documentation_url: DOCS, status: String(status) });
    };

    if (raw.length) {
      let text: string;
      try {
        text = new TextDecoder('utf-8', { fatal: true }).decode(raw);
      } catch {
        return reject(400, ['request body is not valid UTF-8']);
      }
      try {
        record.body = JSON.parse(text);
      } catch {
        return reject(400, ['Problems parsing JSON']);
      }
    }
    if (!/^(token|bearer) \S+/i.test(req.headers.authorization ?? '')) {
      return reject(401, ['Requires authentication: no Authorization header']);
    }
    let match: RegExpExecArray | null = null;
    const op = operations.find((o) => o.method === method && (match = o.regex.exec(path)) !== null);
    if (!op || !match) {
      const known = operations.some((o) => o.regex.test(path));
      return reject(known ? 405 : 404, [`${method} ${path} is not an operation of GitHub's REST API`]);
    }
    record.operation = op.operationId;
    const found: RegExpExecArray = match;
    const params: Record<string, string | number> = {};
    const errors: string[] = [];
    op.paramNames.forEach((name, i) => {
      const raw = decodeURIComponent(found[i + 1]!);
      const schema = op.params.find((p) => p.name === name)?.schema ?? {};
      const value = schema.type === 'integer' && /^-?\d+$/.test(raw) ? Number(raw) : raw;
      params[name] = value;
      const validate = validatorFor(`${op.operationId}#${name}`, schema);
      if (!validate(value)) errors.push(...schemaErrors(validate, `path parameter ${name}`));
    });
    if (op.bodySchema) {
      if (record.body === null && op.bodyRequired) errors.push('request body is required');
      else if (record.body !== null) {
        const validate = validatorFor(op.operationId, op.bodySchema);
        if (!validate(record.body)) errors.push(...schemaErrors(validate, 'body'));
      }
    }
    if (op.operationId.startsWith('checks/') && record.body && typeof record.body === 'object') {
      errors.push(...checkRunLimits(record.body as Json));
    }
    if (errors.length) return reject(422, errors);

    const rule = failures.find(
      (f) =>
        f.remaining > 0 &&
        (!f.method || f.method.toUpperCase() === method) &&
        (!f.path || (typeof f.path === 'string' ? f.path === path : f.path.test(path))),
    );
    if (rule) {
      rule.remaining--;
      const message =
        rule.message ??
        (rule.status === 403 ? 'Resource not accessible by integration' : `Injected failure ${rule.status}`);
      return reply(rule.status, { message, documentation_url: DOCS, status: String(rule.status) });
    }

    const owner = String(params.owner);
    const repo = String(params.repo);
    const body = (record.body ?? {}) as Json;
    const findRun = () =>
      checkRuns.find((r) => r.id === params.check_run_id && r.owner === owner && r.repo === repo) ?? null;
    switch (op.operationId) {
      case 'checks/create': {
        const id = checkRuns.length + 1;
        const run: FakeCheckRun = {
          id,
          owner,
          repo,
          name: String(body.name),
          head_sha: String(body.head_sha),
          status: 'queued',
          conclusion: null,
          started_at: null,
          completed_at: null,
          details_url: null,
          output: { title: null, summary: null, text: null },
          annotations: [],
          summaries: [],
          html_url: `${baseUrl}/${owner}/${repo}/runs/${id}`,
        };
        checkRuns.push(run);
        applyUpdate(run, body);
        if (run.status !== 'completed' && run.started_at === null) run.started_at = new Date().toISOString();
        return reply(201, publicRun(run));
      }
      case 'checks/update': {
        const run = findRun();
        if (!run) return reply(404, { message: 'Not Found', documentation_url: DOCS, status: '404' });
        applyUpdate(run, body);
        return reply(200, publicRun(run));
      }
      case 'checks/get': {
        const run = findRun();
        if (!run) return reply(404, { message: 'Not Found', documentation_url: DOCS, status: '404' });
        return reply(200, publicRun(run));
      }
      case 'checks/list-annotations': {
        const run = findRun();
        if (!run) return reply(404, { message: 'Not Found', documentation_url: DOCS, status: '404' });
        const query = new URLSearchParams(url.split('?')[1] ?? '');
        const perPage = Math.min(100, Number(query.get('per_page') ?? 30));
        const page = Math.max(1, Number(query.get('page') ?? 1));
        return reply(200, run.annotations.slice((page - 1) * perPage, page * perPage));
      }
      default:
        return reject(501, [
          `${op.operationId} (${method} ${op.template}) is not implemented by the fake GitHub API`,
        ]);
    }
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) send(res, 500, { message: String(error) });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  baseUrl = `http://127.0.0.1:${port}`;

  return {
    url: baseUrl,
    ghesUrl: `${baseUrl}/api/v3`,
    requests,
    checkRuns,
    invalid,
    annotationRequests() {
      return requests
        .filter((r) => r.operation === 'checks/create' || r.operation === 'checks/update')
        .map((request) => ({
          request,
          count:
            (
              ((request.body as Json | null)?.output as Json | undefined)?.annotations as
                unknown[] | undefined
            )?.length ?? 0,
        }))
        .filter((r) => r.count > 0);
    },
    failWith(status, rule = {}) {
      failures.push({ ...rule, status, remaining: rule.times ?? Number.POSITIVE_INFINITY });
    },
    clearFailures() {
      failures.length = 0;
    },
    async close(options = {}) {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      if (invalid.length && !options.allowInvalid) {
        const lines = invalid.map((r) => `${r.method} ${r.path} → ${r.status}: ${r.errors.join('; ')}`);
        throw new Error(
          `fake GitHub API received ${invalid.length} invalid request(s):\n${lines.join('\n')}`,
        );
      }
    },
  };
}

/** Short alias: `const gh = await start()`. */
export const start = startFakeGitHub;
