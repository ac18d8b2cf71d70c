/**
 * moto's EC2 in server mode (an AWS implementation nobody here wrote), started on a free 127.0.0.1
 * port, with an optional pass-through proxy in front of it that sees every request's action and can
 * lose an answer after moto has acted on the request (a killed process or a dropped connection).
 *
 * moto's known gaps are worked around here, not in the provider: instances in a default subnet get
 * public 54.x addresses, so `network()` makes a VPC on a loopback CIDR whose instances get 127.0.0.x
 * private addresses and no public ones (nothing a test does then leaves 127.0.0.0/8).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import {
  CreateImageCommand,
  CreateSubnetCommand,
  RunInstancesCommand,
  TerminateInstancesCommand,
  CreateVpcCommand,
  DescribeImagesCommand,
  DescribeInstancesCommand,
  DescribeSecurityGroupsCommand,
  DescribeSnapshotsCommand,
  DescribeVolumesCommand,
  EC2Client,
} from '@aws-sdk/client-ec2';
import { testDeadlines } from './timeouts.js';

export const MOTO_REGION = 'eu-west-1';
export const MOTO_CREDENTIALS = { accessKeyId: 'AKIAMOTOTESTING00000', secretAccessKey: 'moto-secret' };
/** An x86_64 HVM image moto ships in every region (Amazon Linux 2017.09). */
export const MOTO_AMI = 'ami-760aaa0f';
/** How long moto's server may take to answer after it was started. */
const MOTO_START_MS = testDeadlines.motoStart;

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createNetServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export interface Moto {
  url: string;
  client(region?: string): EC2Client;
  /**
   * An image named like Debian's own AMIs (moto ships none): imaged from an instance of `MOTO_AMI`,
   * which is terminated afterwards. Returns its id.
   */
  debianImage(region?: string): Promise<string>;
  /** A VPC on 127.0.0.0/16 and a subnet without public addresses; returns the subnet id. */
  network(region?: string): Promise<string>;
  /**
   * Every resource of the run still alive (terminated instances and deleted volumes excluded); the
   * primary network interfaces moto keeps after TerminateInstances are not counted.
   */
  leftoversOf(runId: string, region?: string): Promise<string[]>;
  stop(): Promise<void>;
}

export async function startMoto(): Promise<Moto> {
  const port = await freePort();
  const child: ChildProcess = spawn('python3', ['-m', 'moto.server', '-H', '127.0.0.1', '-p', String(port)], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + MOTO_START_MS;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`moto server exited ${child.exitCode}: ${stderr}`);
    const up = await fetch(`${url}/moto-api/`).then(
      (r) => r.ok,
      () => false,
    );
    if (up) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`moto server did not answer on ${url} within ${MOTO_START_MS / 1000} s: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  const clients = new Map<string, EC2Client>();
  const client = (region = MOTO_REGION) => {
    let c = clients.get(region);
    if (!c) {
      c = new EC2Client({ region, endpoint: url, credentials: MOTO_CREDENTIALS, maxAttempts: 1 });
      clients.set(region, c);
    }
    return c;
  };
  return {
    url,
    client,
    async debianImage(region = MOTO_REGION) {
      const c = client(region);
      const res = await c.send(new RunInstancesCommand({ ImageId: MOTO_AMI, MinCount: 1, MaxCount: 1 }));
      const instanceId = res.Instances![0]!.InstanceId!;
      const image = await c.send(
        new CreateImageCommand({ InstanceId: instanceId, Name: 'debian-12-amd64-20260101-1' }),
      );
      await c.send(new TerminateInstancesCommand({ InstanceIds: [instanceId] }));
      return image.ImageId!;
    },
    async network(region = MOTO_REGION) {
      const c = client(region);
      const vpc = await c.send(new CreateVpcCommand({ CidrBlock: '127.0.0.0/16' }));
      const subnet = await c.send(
        new CreateSubnetCommand({
          VpcId: vpc.Vpc!.VpcId!,
          CidrBlock: '127.0.0.0/24',
          AvailabilityZone: `${region}a`,
        }),
      );
      return subnet.Subnet!.SubnetId!;
    },
    async leftoversOf(runId, region = MOTO_REGION) {
      const c = client(region);
      const tagged = { Filters: [{ Name: 'tag:ovenproof:run-id', Values: [runId] }] };
      const out: string[] = [];
      const reservations = (await c.send(new DescribeInstancesCommand(tagged))).Reservations ?? [];
      for (const i of reservations.flatMap((r) => r.Instances ?? []))
        if (i.State?.Name !== 'terminated') out.push(`instance ${i.InstanceId} ${i.State?.Name}`);
      for (const g of (await c.send(new DescribeSecurityGroupsCommand(tagged))).SecurityGroups ?? [])
        out.push(`security-group ${g.GroupId}`);
      for (const v of (await c.send(new DescribeVolumesCommand(tagged))).Volumes ?? [])
        if (v.State !== 'deleted') out.push(`volume ${v.VolumeId} ${v.State}`);
      for (const s of (await c.send(new DescribeSnapshotsCommand({ OwnerIds: ['self'], ...tagged })))
        .Snapshots ?? [])
        out.push(`snapshot ${s.SnapshotId}`);
      for (const img of (await c.send(new DescribeImagesCommand({ Owners: ['self'], ...tagged }))).Images ??
        [])
        out.push(`image ${img.ImageId}`);
      return out;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

/** What the proxy does with one request: pass it on, or let moto act on it and lose the answer. */
export type ProxyVerdict = 'forward' | 'lose-answer';

export interface ProxiedRequest {
  action: string;
  params: URLSearchParams;
}

export interface MotoProxy {
  url: string;
  /** Every request seen, in order. */
  requests: ProxiedRequest[];
  close(): Promise<void>;
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/**
 * A pass-through proxy to `target`. `onRequest` sees each EC2 query request (its action and form
 * parameters) before it is forwarded and decides whether its answer reaches the client.
 */
export async function startMotoProxy(
  target: string,
  onRequest: (request: ProxiedRequest) => ProxyVerdict | void = () => 'forward',
): Promise<MotoProxy> {
  const requests: ProxiedRequest[] = [];
  const upstream = new URL(target);
  const server: Server = createServer((req, res) => {
    void (async () => {
      const body = await readBody(req);
      const params = new URLSearchParams(body.toString('utf8'));
      const seen = { action: params.get('Action') ?? '', params };
      requests.push(seen);
      const verdict = onRequest(seen) ?? 'forward';
      const forwarded = httpRequest(
        {
          host: upstream.hostname,
          port: upstream.port,
          method: req.method,
          path: req.url,
          headers: req.headers,
        },
        (answer) => {
          if (verdict === 'lose-answer') {
            // moto has acted on the request; the client never learns what it answered.
            answer.resume();
            answer.on('end', () => req.socket.destroy());
            return;
          }
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        },
      );
      forwarded.on('error', () => req.socket.destroy());
      forwarded.end(body);
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
