/**
 * One place formats every EC2 failure: operation, resource, EC2's code and message, HTTP status and
 * request id; an answer that is not EC2's XML (a proxy's HTML page) as "HTTP N from ENDPOINT" with
 * the first bytes of the body. No message ends in a bare "Error" (the name of the error class).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:http';
import { DetachVolumeCommand } from '@aws-sdk/client-ec2';
import { call, createClient, describeFailure } from '../../src/providers/ec2/aws.js';
import { parseEc2Settings } from '../../src/providers/ec2/settings.js';

let server: Server;
let url: string;

beforeAll(async () => {
  server = createServer((_req, res) => {
    res.writeHead(500, { 'content-type': 'text/html' });
    res.end(
      '<!doctype html>\n<html><title>500 Internal Server Error</title><p>upstream went away<br></html>',
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});

afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

describe('EC2 error messages', () => {
  it('reports an HTML answer as the HTTP status from the endpoint with the start of the body', async () => {
    const settings = parseEc2Settings({ region: 'eu-west-1', endpoint: url, maxAttempts: 1 });
    const client = createClient(settings, 'eu-west-1', { accessKeyId: 'AKIA0', secretAccessKey: 's' });
    const error = await call(
      'DetachVolume',
      () => client.send(new DetachVolumeCommand({ VolumeId: 'vol-0123', InstanceId: 'i-0456' })),
      'vol-0123 from i-0456',
    ).then(
      () => new Error('DetachVolume succeeded against an HTML page'),
      (e: unknown) => e as Error,
    );
    expect(error.message).toBe(
      `ec2:DetachVolume vol-0123 from i-0456 failed: HTTP 500 from ${url}/, not an EC2 answer: ` +
        '<!doctype html> <html><title>500 Internal Server Error</title><p>upstream went away<br></html>',
    );
    expect(error.message).not.toMatch(/XML parse error/);
  });

  it('keeps the code, message, status and request id of an EC2 error', () => {
    const sdkError = Object.assign(new Error('The volume is not attached.'), {
      name: 'IncorrectState',
      Code: 'IncorrectState',
      $fault: 'client',
      $metadata: { httpStatusCode: 400, requestId: 'req-42' },
    });
    expect(describeFailure('DetachVolume', sdkError, 'vol-1').message).toBe(
      'ec2:DetachVolume vol-1 failed: IncorrectState: The volume is not attached. (HTTP 400, request id req-42)',
    );
  });

  it('never ends a message in the bare name of an error class', () => {
    const shapes: unknown[] = [
      new Error(''),
      new TypeError(''),
      Object.assign(new Error(''), { $metadata: { httpStatusCode: 500 } }),
      Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }),
      Object.assign(new Error(''), { name: 'Error', $fault: 'server', $metadata: { httpStatusCode: 503 } }),
      'a string',
      undefined,
    ];
    for (const shape of shapes) {
      const message = describeFailure('DescribeInstances', shape, 'i-1').message;
      expect(message, message).not.toMatch(/\bError\)?$/);
      expect(message).toMatch(/^ec2:DescribeInstances i-1 failed: \S/);
    }
  });
});
