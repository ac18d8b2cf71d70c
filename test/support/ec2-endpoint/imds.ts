/**
 * A minimal IMDSv2 on 127.0.0.1 for tests of the volume bake's host detection: PUT /latest/api/token
 * issues a token, GETs of meta-data require it (401 without, like a real instance with
 * HttpTokens=required).
 */
import { createServer } from 'node:http';
import { randomBytes } from 'node:crypto';

export interface FakeImds {
  url: string;
  close(): Promise<void>;
}

export async function startImds(host: {
  instanceId: string;
  region: string;
  availabilityZone: string;
}): Promise<FakeImds> {
  const token = randomBytes(16).toString('hex');
  const paths: Record<string, string> = {
    '/latest/meta-data/instance-id': host.instanceId,
    '/latest/meta-data/placement/availability-zone': host.availabilityZone,
    '/latest/meta-data/placement/region': host.region,
  };
  const server = createServer((req, res) => {
    if (req.method === 'PUT' && req.url === '/latest/api/token') {
      res.writeHead(req.headers['x-aws-ec2-metadata-token-ttl-seconds'] ? 200 : 400).end(token);
      return;
    }
    if (req.headers['x-aws-ec2-metadata-token'] !== token) return void res.writeHead(401).end();
    const body = paths[req.url ?? ''];
    if (body === undefined) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': 'text/plain' }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
