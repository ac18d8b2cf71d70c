/**
 * A local EC2-compatible endpoint for tests: an HTTP server on 127.0.0.1 that speaks the EC2 Query
 * protocol (form-encoded `Action=…`, XML answers in EC2's namespace, EC2's error document) for exactly
 * the actions ovenproof calls, so that the real @aws-sdk/client-ec2 — serializers, retry strategy,
 * waiters — runs against it unchanged.
 *
 *   const ec2 = await startEc2Endpoint({ transitionMs: 20 });
 *   createEc2Provider({ region: 'eu-west-1', endpoint: ec2.url, credentials: ec2.credentials, … });
 *   ec2.inject({ type: 'throttle', count: 3 });          // faults on demand (see `Fault`)
 *   ec2.requests                                          // every request, for assertions
 *   ec2.live()                                            // resources that still exist
 *   await ec2.close();
 *
 * State is kept per region (taken from the SigV4 credential scope). Addresses handed out are loopback
 * only. `onRunInstances` lets a test back an instance with a real VM: the endpoint then proxies
 * `<instance address>:<sshPort>` to the port the hook returns.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTcpServer, connect, type Server as TcpServer } from 'node:net';
import { randomBytes } from 'node:crypto';
import { errorXml, list, nest, responseXml, str, sub, type Params, type XmlNode } from './xml.js';

export const ACCOUNT_ID = '123456789012';
export const DEBIAN_OWNER = '136693071363';

export type Fault =
  /** The next `count` requests (of `action`, if given) are throttled: HTTP 503 RequestLimitExceeded. */
  | { type: 'throttle'; count: number; action?: string }
  /** The next `count` requests answer HTTP 500 InternalError; `afterApply` performs the action first (a lost answer). */
  | { type: 'http-500'; count: number; action?: string; afterApply?: boolean }
  /** The next resource created by `action` is invisible (NotFound) to the first `count` requests naming it. */
  | { type: 'not-found-after-create'; action: string; count: number }
  /** RunInstances with this instance type fails with InsufficientInstanceCapacity (`count` times, default always). */
  | { type: 'insufficient-capacity'; instanceType: string; count?: number }
  /** Every `action` request (DryRun included) answers UnauthorizedOperation. */
  | { type: 'access-denied'; action: string }
  /** The next image created stays pending for `pendingMs`, then fails. */
  | { type: 'image-fails'; pendingMs?: number }
  /** State transitions of this kind of resource take `ms`. */
  | { type: 'slow'; kind: 'instance' | 'image' | 'volume' | 'snapshot'; ms: number };

export interface RecordedRequest {
  action: string;
  region: string;
  params: Record<string, string>;
  status: number;
  errorCode: string | null;
  dryRun: boolean;
}

export interface VmHookInput {
  instanceId: string;
  region: string;
  imageId: string;
  instanceType: string;
  /** Decoded user data as the instance would receive it. */
  userData: string;
}
export interface VmHookResult {
  /** 127.0.0.1 port where the instance's sshd listens. */
  port: number;
  stop(): Promise<void>;
  consoleOutput?(): Promise<string>;
  /** StopInstances: a clean power-off; the instance reports `stopped` once it resolves. */
  powerOff?(): Promise<void>;
  /**
   * CreateImage of this (stopped) instance as `imageId`: the image stays `pending` until it resolves
   * and turns `failed` if it rejects. A test maps `imageId` to the real disk image it made, so that a
   * later RunInstances of that AMI boots what the bake installed.
   */
  createImage?(imageId: string): Promise<void>;
}

export interface Ec2EndpointOptions {
  /** Default duration of state transitions (pending → running, …). */
  transitionMs?: number;
  /** Port the instance address proxies to the VM (must equal the provider's sshPort). */
  sshPort?: number;
  onRunInstances?: (input: VmHookInput) => Promise<VmHookResult>;
}

type Tags = Map<string, string>;
interface Pending {
  at: number;
  state: string;
}
interface Resource {
  id: string;
  state: string;
  pending: Pending[];
  tags: Tags;
  created: Date;
  /** Requests naming this id that still answer NotFound (eventual consistency fault). */
  hidden: number;
}
interface InstanceRes extends Resource {
  imageId: string;
  instanceType: string;
  clientToken: string;
  groups: string[];
  subnetId: string;
  privateIp: string;
  publicIp: string;
  userData: string;
  params: Record<string, string>;
  rootVolumeId: string;
  stateReason?: string;
  vm?: VmHookResult;
  proxy?: TcpServer;
  placement: string;
}
interface ImageRes extends Resource {
  name: string;
  owner: string;
  architecture: string;
  rootDeviceName: string;
  mappings: Array<{ device: string; snapshotId?: string; size?: number; volumeType?: string }>;
  enaSupport: boolean;
  bootMode?: string;
  virtualizationType: string;
  failAfter?: number;
  stateReason?: string;
}
interface SnapshotRes extends Resource {
  volumeId: string;
  owner: string;
  size: number;
}
interface VolumeRes extends Resource {
  snapshotId: string;
  az: string;
  size: number;
  attachment: { instanceId: string; device: string; state: string } | null;
  clientToken: string;
}
interface GroupRes extends Resource {
  name: string;
  description: string;
  vpcId: string;
  ingress: Array<{ protocol: string; from: number; to: number; cidr: string }>;
}

export interface RegionState {
  instances: Map<string, InstanceRes>;
  images: Map<string, ImageRes>;
  snapshots: Map<string, SnapshotRes>;
  volumes: Map<string, VolumeRes>;
  groups: Map<string, GroupRes>;
}

export interface LiveResource {
  kind: 'instance' | 'image' | 'snapshot' | 'volume' | 'security-group';
  id: string;
  region: string;
  tags: Record<string, string>;
}

export interface Ec2Endpoint {
  url: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
  state: Map<string, RegionState>;
  requests: RecordedRequest[];
  region(name: string): RegionState;
  inject(fault: Fault): void;
  /** Resources that still exist (instances not terminated, images not deregistered, …). */
  live(options?: { ovenproofOnly?: boolean }): LiveResource[];
  /** Adds resources the way other tools or the console would (no ovenproof tags unless given). */
  /** Terminates an instance from outside (a failed boot, a spot interruption) with this reason. */
  killInstance(region: string, id: string, reason: string): void;
  /**
   * Lets `ms` of time pass for every resource: creation times and the `ovenproof:created-at` /
   * `ovenproof:expires-at` tags move `ms` into the past, so a test can see `sweep` act on expired
   * resources without waiting for the expiry.
   */
  advanceClock(ms: number): void;
  seedImage(
    region: string,
    input: {
      name: string;
      /** A fixed id (e.g. the same image in several endpoints); default a random `ami-…`. */
      id?: string;
      owner?: string;
      tags?: Record<string, string>;
      architecture?: string;
      bootMode?: string;
      created?: Date;
    },
  ): string;
  seedInstance(region: string, input: { tags?: Record<string, string>; az?: string }): string;
  seedVolume(region: string, input: { tags?: Record<string, string> }): string;
  seedSnapshot(region: string, input: { tags?: Record<string, string> }): string;
  seedSecurityGroup(region: string, input: { name: string; tags?: Record<string, string> }): string;
  close(): Promise<void>;
}

class Ec2Failure extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const NOT_FOUND: Record<string, string> = {
  'i-': 'InvalidInstanceID.NotFound',
  'ami-': 'InvalidAMIID.NotFound',
  'snap-': 'InvalidSnapshot.NotFound',
  'vol-': 'InvalidVolume.NotFound',
  'sg-': 'InvalidGroup.NotFound',
};

function notFound(id: string): Ec2Failure {
  const prefix = Object.keys(NOT_FOUND).find((p) => id.startsWith(p)) ?? '';
  return new Ec2Failure(400, NOT_FOUND[prefix] ?? 'InvalidParameterValue', `The ID '${id}' does not exist`);
}

const hex = (n: number) =>
  randomBytes(n)
    .toString('hex')
    .slice(0, n * 2 - 1);

export async function startEc2Endpoint(options: Ec2EndpointOptions = {}): Promise<Ec2Endpoint> {
  const transitionMs = options.transitionMs ?? 20;
  const sshPort = options.sshPort ?? 22;
  const regions = new Map<string, RegionState>();
  const requests: RecordedRequest[] = [];
  const faults: Fault[] = [];
  const slow: Record<string, number> = {};
  let addressCounter = 1;
  const proxies = new Set<TcpServer>();

  const region = (name: string): RegionState => {
    let r = regions.get(name);
    if (!r) {
      r = {
        instances: new Map(),
        images: new Map(),
        snapshots: new Map(),
        volumes: new Map(),
        groups: new Map(),
      };
      regions.set(name, r);
    }
    return r;
  };

  const delay = (kind: string) => slow[kind] ?? transitionMs;
  const progress = (res: Resource) => {
    const now = Date.now();
    while (res.pending.length && res.pending[0]!.at <= now) res.state = res.pending.shift()!.state;
  };
  const schedule = (res: Resource, kind: string, ...states: string[]) => {
    const base = Math.max(Date.now(), res.pending.at(-1)?.at ?? 0);
    res.pending.push(...states.map((state, i) => ({ state, at: base + delay(kind) * (i + 1) })));
  };
  const newResource = (prefix: string, state: string, tags: Tags): Resource => ({
    id: `${prefix}-0${hex(8)}`,
    state,
    pending: [],
    tags,
    created: new Date(),
    hidden: 0,
  });
  const takeHidden = (action: string, res: Resource) => {
    const i = faults.findIndex((f) => f.type === 'not-found-after-create' && f.action === action);
    if (i >= 0) {
      res.hidden = (faults[i] as { count: number }).count;
      faults.splice(i, 1);
    }
  };
  const visible = (res: Resource | undefined, id: string): Resource => {
    if (!res) throw notFound(id);
    if (res.hidden > 0) {
      res.hidden -= 1;
      throw notFound(id);
    }
    return res;
  };

  // ----------------------------------------------------------------------------- parameter helpers
  const tagSpecs = (p: Params, type: string): Tags => {
    const tags: Tags = new Map();
    for (const spec of list(p.TagSpecification)) {
      const s = sub(spec);
      if (str(s.ResourceType) !== type) continue;
      for (const t of list(s.Tag)) tags.set(str(sub(t).Key) ?? '', str(sub(t).Value) ?? '');
    }
    return tags;
  };
  const tagSet = (tags: Tags) => [...tags].map(([key, value]) => ({ key, value }));
  const ids = (p: Params, name: string) => list(p[name]).map((v) => String(v));
  const filters = (p: Params) =>
    list(p.Filter).map((f) => ({ name: str(sub(f).Name) ?? '', values: list(sub(f).Value).map(String) }));
  const glob = (pattern: string, value: string) =>
    new RegExp(
      `^${pattern
        .replace(/[.+^${}()|[\]\\]/g, '\\$&')
        .replace(/\*/g, '.*')
        .replace(/\?/g, '.')}$`,
    ).test(value);
  const matches = (
    attrs: Record<string, string | string[] | undefined>,
    tags: Tags,
    fs: ReturnType<typeof filters>,
  ) =>
    fs.every(({ name, values }) => {
      if (name === 'tag-key') return values.some((v) => tags.has(v));
      if (name.startsWith('tag:')) {
        const value = tags.get(name.slice(4));
        return value !== undefined && values.some((v) => glob(v, value));
      }
      const attr = attrs[name];
      if (attr === undefined)
        throw new Ec2Failure(400, 'InvalidParameterValue', `The filter '${name}' is invalid`);
      const have = Array.isArray(attr) ? attr : [attr];
      return values.some((v) => have.some((h) => glob(v, h)));
    });

  // ------------------------------------------------------------------------------ XML of resources
  const instanceXml = (i: InstanceRes): XmlNode => ({
    instanceId: i.id,
    imageId: i.imageId,
    instanceState: {
      code:
        { pending: 0, running: 16, 'shutting-down': 32, terminated: 48, stopping: 64, stopped: 80 }[
          i.state
        ] ?? 0,
      name: i.state,
    },
    privateDnsName: '',
    dnsName: '',
    instanceType: i.instanceType,
    launchTime: i.created,
    placement: { availabilityZone: i.placement },
    subnetId: i.subnetId,
    vpcId: 'vpc-0loopback',
    privateIpAddress: i.state === 'terminated' ? undefined : i.privateIp,
    ipAddress: i.state === 'running' ? i.publicIp : undefined,
    groupSet: i.groups.map((g) => ({ groupId: g })),
    architecture: 'x86_64',
    rootDeviceType: 'ebs',
    rootDeviceName: '/dev/xvda',
    blockDeviceMapping:
      i.state === 'terminated'
        ? []
        : [
            {
              deviceName: '/dev/xvda',
              ebs: { volumeId: i.rootVolumeId, status: 'attached', deleteOnTermination: true },
            },
          ],
    clientToken: i.clientToken,
    tagSet: tagSet(i.tags),
    stateReason: i.stateReason ? { code: 'Client.UserInitiatedShutdown', message: i.stateReason } : undefined,
    metadataOptions: { httpTokens: i.params['MetadataOptions.HttpTokens'] ?? 'optional', state: 'applied' },
  });
  const imageXml = (img: ImageRes): XmlNode => ({
    imageId: img.id,
    imageLocation: `${img.owner}/${img.name}`,
    imageState: img.state,
    imageOwnerId: img.owner,
    creationDate: img.created.toISOString(),
    isPublic: img.owner !== ACCOUNT_ID,
    architecture: img.architecture,
    imageType: 'machine',
    name: img.name,
    rootDeviceType: 'ebs',
    rootDeviceName: img.rootDeviceName,
    blockDeviceMapping: img.mappings.map((m) => ({
      deviceName: m.device,
      ebs: {
        snapshotId: m.snapshotId,
        volumeSize: m.size ?? 8,
        deleteOnTermination: true,
        volumeType: m.volumeType ?? 'gp3',
      },
    })),
    virtualizationType: img.virtualizationType,
    enaSupport: img.enaSupport,
    bootMode: img.bootMode,
    tagSet: tagSet(img.tags),
    stateReason: img.stateReason ? { code: 'Client.ImageFailed', message: img.stateReason } : undefined,
  });
  const snapshotXml = (s: SnapshotRes): XmlNode => ({
    snapshotId: s.id,
    volumeId: s.volumeId,
    status: s.state,
    startTime: s.created,
    progress: s.state === 'completed' ? '100%' : '50%',
    ownerId: s.owner,
    volumeSize: s.size,
    encrypted: false,
    tagSet: tagSet(s.tags),
  });
  const volumeXml = (v: VolumeRes): XmlNode => ({
    volumeId: v.id,
    size: v.size,
    snapshotId: v.snapshotId,
    availabilityZone: v.az,
    status: v.state,
    createTime: v.created,
    volumeType: 'gp3',
    encrypted: false,
    attachmentSet: v.attachment
      ? [
          {
            volumeId: v.id,
            instanceId: v.attachment.instanceId,
            device: v.attachment.device,
            status: v.attachment.state,
            attachTime: v.created,
          },
        ]
      : [],
    tagSet: tagSet(v.tags),
  });
  const groupXml = (g: GroupRes): XmlNode => ({
    ownerId: ACCOUNT_ID,
    groupId: g.id,
    groupName: g.name,
    groupDescription: g.description,
    vpcId: g.vpcId,
    ipPermissions: g.ingress.map((r) => ({
      ipProtocol: r.protocol,
      fromPort: r.from,
      toPort: r.to,
      ipRanges: [{ cidrIp: r.cidr }],
    })),
    tagSet: tagSet(g.tags),
  });

  // -------------------------------------------------------------------------------- state changes
  const newImage = (r: RegionState, input: Omit<ImageRes, keyof Resource> & { tags: Tags }): ImageRes => {
    const base = newResource('ami', 'pending', input.tags);
    const img: ImageRes = { ...base, ...input, id: base.id };
    const fi = faults.findIndex((f) => f.type === 'image-fails');
    if (fi >= 0) {
      const fault = faults.splice(fi, 1)[0] as { pendingMs?: number };
      img.pending.push({ state: 'failed', at: Date.now() + (fault.pendingMs ?? delay('image') * 3) });
      img.stateReason = 'Image creation failed: snapshot copy error (injected)';
    } else schedule(img, 'image', 'available');
    r.images.set(img.id, img);
    return img;
  };
  const newSnapshot = (r: RegionState, volumeId: string, tags: Tags, owner = ACCOUNT_ID): SnapshotRes => {
    const snap: SnapshotRes = { ...newResource('snap', 'pending', tags), volumeId, owner, size: 8 };
    schedule(snap, 'snapshot', 'completed');
    r.snapshots.set(snap.id, snap);
    return snap;
  };
  const terminateInstance = (r: RegionState, i: InstanceRes) => {
    progress(i);
    if (i.state === 'terminated' || i.state === 'shutting-down') return;
    i.pending = [];
    i.state = 'shutting-down';
    if (!i.vm) schedule(i, 'instance', 'terminated');
    else {
      // A VM-backed instance reports `terminated` only once its VM is really gone.
      i.proxy?.close();
      if (i.proxy) proxies.delete(i.proxy);
      void i.vm
        .stop()
        .catch(() => undefined)
        .then(() => schedule(i, 'instance', 'terminated'));
    }
    // Root volume (DeleteOnTermination) goes with the instance.
    const root = r.volumes.get(i.rootVolumeId);
    if (root) {
      root.attachment = null;
      root.pending = [];
      root.state = 'deleting';
      schedule(root, 'instance', 'deleted');
    }
  };

  // ------------------------------------------------------------------------------------- actions
  type Handler = (
    r: RegionState,
    p: Params,
    flat: Record<string, string>,
    regionName: string,
  ) => Promise<XmlNode> | XmlNode;
  const handlers: Record<string, Handler> = {
    RunInstances: async (r, p, flat, regionName) => {
      const token = str(p.ClientToken) ?? '';
      if (token) {
        const existing = [...r.instances.values()].find((i) => i.clientToken === token);
        if (existing) return reservation(existing);
      }
      const type = str(p.InstanceType) ?? 'm1.small';
      const ci = faults.findIndex((f) => f.type === 'insufficient-capacity' && f.instanceType === type);
      if (ci >= 0) {
        const fault = faults[ci] as { count?: number };
        if (fault.count !== undefined && --fault.count <= 0) faults.splice(ci, 1);
        throw new Ec2Failure(
          500,
          'InsufficientInstanceCapacity',
          `We currently do not have sufficient ${type} capacity in the Availability Zone you requested.`,
        );
      }
      const imageId = str(p.ImageId) ?? '';
      const image = findImage(imageId);
      if (!image || image.img.state !== 'available')
        throw new Ec2Failure(400, 'InvalidAMIID.NotFound', `The image id '[${imageId}]' does not exist`);
      const groups = ids(p, 'SecurityGroupId');
      for (const g of groups) if (!r.groups.has(g)) throw notFound(g);
      const n = addressCounter++;
      const base = newResource('i', 'pending', tagSpecs(p, 'instance'));
      const rootVolume: VolumeRes = {
        ...newResource('vol', 'in-use', tagSpecs(p, 'volume')),
        snapshotId: image.img.mappings[0]?.snapshotId ?? '',
        az: `${regionName}a`,
        size: 8,
        attachment: null,
        clientToken: '',
      };
      const instance: InstanceRes = {
        ...base,
        imageId,
        instanceType: type,
        clientToken: token,
        groups,
        subnetId: str(p.SubnetId) ?? 'subnet-0loopback',
        privateIp: `127.0.${Math.floor(n / 250) + 10}.${(n % 250) + 2}`,
        publicIp: `127.1.${Math.floor(n / 250)}.${(n % 250) + 2}`,
        userData: Buffer.from(str(p.UserData) ?? '', 'base64').toString('utf8'),
        params: flat,
        rootVolumeId: rootVolume.id,
        placement: `${regionName}a`,
      };
      rootVolume.attachment = { instanceId: instance.id, device: '/dev/xvda', state: 'attached' };
      r.volumes.set(rootVolume.id, rootVolume);
      r.instances.set(instance.id, instance);
      takeHidden('RunInstances', instance);
      if (options.onRunInstances) {
        const vm = await options.onRunInstances({
          instanceId: instance.id,
          region: regionName,
          imageId,
          instanceType: type,
          userData: instance.userData,
        });
        instance.vm = vm;
        instance.proxy = await proxy(instance.publicIp, sshPort, vm.port);
        proxies.add(instance.proxy);
      }
      schedule(instance, 'instance', 'running');
      return reservation(instance);
    },
    DescribeInstances: (r, p) => {
      const wanted = ids(p, 'InstanceId');
      const fs = filters(p);
      const found = wanted.length
        ? wanted.map((id) => visible(r.instances.get(id), id) as InstanceRes)
        : [...r.instances.values()].filter((i) => i.hidden === 0);
      const out = found.filter((i) => {
        progress(i);
        return matches(
          {
            'instance-id': i.id,
            'instance-state-name': i.state,
            'client-token': i.clientToken,
            'image-id': i.imageId,
          },
          i.tags,
          fs,
        );
      });
      return {
        reservationSet: out.map((i) => ({
          reservationId: `r-${i.id.slice(2)}`,
          ownerId: ACCOUNT_ID,
          instancesSet: [instanceXml(i)],
        })),
      };
    },
    TerminateInstances: (r, p) => {
      const out = ids(p, 'InstanceId').map((id) => {
        const i = visible(r.instances.get(id), id) as InstanceRes;
        progress(i);
        const previous = i.state;
        terminateInstance(r, i);
        return {
          instanceId: id,
          previousState: { code: 16, name: previous },
          currentState: { code: 32, name: i.state },
        };
      });
      return { instancesSet: out };
    },
    StopInstances: (r, p) => {
      const out = ids(p, 'InstanceId').map((id) => {
        const i = visible(r.instances.get(id), id) as InstanceRes;
        progress(i);
        if (i.state !== 'running')
          throw new Ec2Failure(
            400,
            'IncorrectInstanceState',
            `The instance '${id}' is not in a state from which it can be stopped.`,
          );
        i.state = 'stopping';
        if (i.vm?.powerOff) {
          // A VM-backed instance reports `stopped` only once its VM has really powered off.
          void i.vm.powerOff().then(
            () => {
              if (i.state === 'stopping') schedule(i, 'instance', 'stopped');
            },
            (error: unknown) => {
              i.stateReason = `power-off failed: ${error instanceof Error ? error.message : String(error)}`;
              if (i.state === 'stopping') schedule(i, 'instance', 'stopped');
            },
          );
        } else schedule(i, 'instance', 'stopped');
        return {
          instanceId: id,
          previousState: { code: 16, name: 'running' },
          currentState: { code: 64, name: 'stopping' },
        };
      });
      return { instancesSet: out };
    },
    GetConsoleOutput: async (r, p) => {
      const id = str(p.InstanceId) ?? '';
      const i = visible(r.instances.get(id), id) as InstanceRes;
      const text = i.vm?.consoleOutput ? await i.vm.consoleOutput() : `fake console of ${id}\n`;
      return { instanceId: id, timestamp: new Date(), output: Buffer.from(text).toString('base64') };
    },
    DescribeSubnets: (_r, p) => ({
      subnetSet: ids(p, 'SubnetId').map((id) => ({
        subnetId: id,
        vpcId: 'vpc-0loopback',
        availabilityZone: 'zone-a',
        state: 'available',
      })),
    }),
    CreateSecurityGroup: (r, p) => {
      const name = str(p.GroupName) ?? '';
      if ([...r.groups.values()].some((g) => g.name === name))
        throw new Ec2Failure(400, 'InvalidGroup.Duplicate', `The security group '${name}' already exists`);
      const g: GroupRes = {
        ...newResource('sg', 'available', tagSpecs(p, 'security-group')),
        name,
        description: str(p.GroupDescription) ?? '',
        vpcId: str(p.VpcId) ?? 'vpc-0default',
        ingress: [],
      };
      r.groups.set(g.id, g);
      takeHidden('CreateSecurityGroup', g);
      return { return: true, groupId: g.id, tagSet: tagSet(g.tags) };
    },
    AuthorizeSecurityGroupIngress: (r, p) => {
      const id = str(p.GroupId) ?? '';
      const g = visible(r.groups.get(id), id) as GroupRes;
      for (const perm of list(p.IpPermissions)) {
        const s = sub(perm);
        for (const range of list(s.IpRanges)) {
          g.ingress.push({
            protocol: str(s.IpProtocol) ?? '',
            from: Number(str(s.FromPort)),
            to: Number(str(s.ToPort)),
            cidr: str(sub(range).CidrIp) ?? '',
          });
        }
      }
      return { return: true };
    },
    DeleteSecurityGroup: (r, p) => {
      const id = str(p.GroupId) ?? '';
      const g = visible(r.groups.get(id), id);
      const users = [...r.instances.values()].filter((i) => {
        progress(i);
        return i.groups.includes(id) && i.state !== 'terminated';
      });
      if (users.length)
        throw new Ec2Failure(400, 'DependencyViolation', `resource ${id} has a dependent object`);
      r.groups.delete(g.id);
      return { return: true, groupId: id };
    },
    DescribeSecurityGroups: (r, p) => {
      const wanted = ids(p, 'GroupId');
      const fs = filters(p);
      const found = wanted.length
        ? wanted.map((id) => visible(r.groups.get(id), id) as GroupRes)
        : [...r.groups.values()];
      return {
        securityGroupInfo: found
          .filter((g) => matches({ 'group-id': g.id, 'group-name': g.name }, g.tags, fs))
          .map(groupXml),
      };
    },
    CreateImage: (r, p) => {
      const id = str(p.InstanceId) ?? '';
      const i = visible(r.instances.get(id), id) as InstanceRes;
      const name = str(p.Name) ?? '';
      duplicateName(r, name);
      const snap = newSnapshot(r, i.rootVolumeId, tagSpecs(p, 'snapshot'));
      const img = newImage(r, {
        name,
        owner: ACCOUNT_ID,
        architecture: 'x86_64',
        rootDeviceName: '/dev/xvda',
        mappings: [{ device: '/dev/xvda', snapshotId: snap.id }],
        enaSupport: true,
        virtualizationType: 'hvm',
        tags: tagSpecs(p, 'image'),
      });
      if (i.vm?.createImage) {
        // The image of a VM-backed instance is the VM's real disk: available once the test has saved it.
        img.pending = [];
        void i.vm.createImage(img.id).then(
          () => {
            if (img.state === 'pending') schedule(img, 'image', 'available');
          },
          (error: unknown) => {
            img.pending = [];
            img.state = 'failed';
            img.stateReason = `saving the instance disk failed: ${error instanceof Error ? error.message : String(error)}`;
          },
        );
      }
      takeHidden('CreateImage', img);
      return { imageId: img.id };
    },
    RegisterImage: (r, p) => {
      const name = str(p.Name) ?? '';
      duplicateName(r, name);
      const mappings = list(p.BlockDeviceMapping).map((m) => {
        const s = sub(m);
        const ebs = sub(s.Ebs);
        const snapshotId = str(ebs.SnapshotId);
        if (snapshotId) visible(r.snapshots.get(snapshotId), snapshotId);
        return {
          device: str(s.DeviceName) ?? '',
          ...(snapshotId ? { snapshotId } : {}),
          volumeType: str(ebs.VolumeType) ?? 'gp3',
        };
      });
      const img = newImage(r, {
        name,
        owner: ACCOUNT_ID,
        architecture: str(p.Architecture) ?? 'i386',
        rootDeviceName: str(p.RootDeviceName) ?? '/dev/sda1',
        mappings,
        enaSupport: str(p.EnaSupport) === 'true',
        ...(str(p.BootMode) ? { bootMode: str(p.BootMode) } : {}),
        virtualizationType: str(p.VirtualizationType) ?? 'paravirtual',
        tags: tagSpecs(p, 'image'),
      });
      takeHidden('RegisterImage', img);
      return { imageId: img.id };
    },
    CopyImage: (r, p) => {
      const sourceRegion = str(p.SourceRegion) ?? '';
      const sourceId = str(p.SourceImageId) ?? '';
      const token = str(p.ClientToken) ?? '';
      const existing = [...r.images.values()].find((i) => token && i.tags.get('aws:copy-token') === token);
      if (existing) return { imageId: existing.id };
      const source = region(sourceRegion).images.get(sourceId);
      if (!source) throw notFound(sourceId);
      const tags: Tags = str(p.CopyImageTags) === 'true' ? new Map(source.tags) : new Map();
      for (const [k, v] of tagSpecs(p, 'image')) tags.set(k, v);
      const snapTags = new Map(tags);
      const snaps = source.mappings.map((m) => ({
        ...m,
        snapshotId: m.snapshotId ? newSnapshot(r, 'vol-ffffffff', snapTags).id : undefined,
      }));
      // The copy is a new resource: pending until its own transition (slow and failure faults apply).
      const {
        id: _id,
        state: _state,
        pending: _pending,
        created: _created,
        hidden: _hidden,
        ...shape
      } = source;
      const img = newImage(r, { ...shape, name: str(p.Name) ?? source.name, mappings: snaps, tags });
      img.tags.set('aws:copy-token', token);
      return { imageId: img.id };
    },
    DescribeImages: (r, p) => {
      const wanted = ids(p, 'ImageId');
      const owners = ids(p, 'Owner').map((o) =>
        o === 'self' ? ACCOUNT_ID : o === 'amazon' ? '137112412989' : o,
      );
      const fs = filters(p);
      const found = wanted.length
        ? wanted.map((id) => {
            const hit = r.images.get(id);
            if (!hit) {
              const other = findImage(id);
              if (other) return other.img;
            }
            return visible(hit, id) as ImageRes;
          })
        : [...r.images.values()].filter((i) => i.hidden === 0);
      const out = found.filter((img) => {
        progress(img);
        if (owners.length && !owners.includes(img.owner)) return false;
        return matches(
          {
            'image-id': img.id,
            name: img.name,
            state: img.state,
            architecture: img.architecture,
            'owner-id': img.owner,
          },
          img.tags,
          fs,
        );
      });
      return { imagesSet: out.map(imageXml) };
    },
    DeregisterImage: (r, p) => {
      const id = str(p.ImageId) ?? '';
      visible(r.images.get(id), id);
      r.images.delete(id);
      return { return: true };
    },
    CreateTags: (r, p) => {
      for (const id of ids(p, 'ResourceId')) {
        const res = anyResource(r, id);
        for (const t of list(p.Tag)) res.tags.set(str(sub(t).Key) ?? '', str(sub(t).Value) ?? '');
      }
      return { return: true };
    },
    DeleteTags: (r, p) => {
      for (const id of ids(p, 'ResourceId')) {
        const res = anyResource(r, id);
        for (const t of list(p.Tag)) res.tags.delete(str(sub(t).Key) ?? '');
      }
      return { return: true };
    },
    CreateVolume: (r, p, _flat, regionName) => {
      const token = str(p.ClientToken) ?? '';
      const existing = token ? [...r.volumes.values()].find((v) => v.clientToken === token) : undefined;
      if (existing) return volumeXml(existing);
      const snapshotId = str(p.SnapshotId) ?? '';
      const snapshot = r.snapshots.get(snapshotId);
      if (!snapshot) throw notFound(snapshotId);
      const v: VolumeRes = {
        ...newResource('vol', 'creating', tagSpecs(p, 'volume')),
        snapshotId,
        az: str(p.AvailabilityZone) ?? `${regionName}a`,
        size: snapshot.size,
        attachment: null,
        clientToken: token,
      };
      schedule(v, 'volume', 'available');
      r.volumes.set(v.id, v);
      takeHidden('CreateVolume', v);
      return volumeXml(v);
    },
    AttachVolume: (r, p) => {
      const id = str(p.VolumeId) ?? '';
      const v = visible(r.volumes.get(id), id) as VolumeRes;
      progress(v);
      if (v.state !== 'available') throw new Ec2Failure(400, 'IncorrectState', `vol ${id} is not available`);
      const instanceId = str(p.InstanceId) ?? '';
      const i = visible(r.instances.get(instanceId), instanceId) as InstanceRes;
      const device = str(p.Device) ?? '';
      const taken = [...r.volumes.values()].some(
        (o) => o.attachment?.instanceId === i.id && o.attachment.device === device,
      );
      if (taken)
        throw new Ec2Failure(
          400,
          'InvalidParameterValue',
          `Invalid value '${device}' for unixDevice. Attachment point ${device} is already in use`,
        );
      v.attachment = { instanceId, device, state: 'attached' };
      v.state = 'in-use';
      return { volumeId: id, instanceId, device, status: 'attaching', attachTime: new Date() };
    },
    DetachVolume: (r, p) => {
      const id = str(p.VolumeId) ?? '';
      const v = visible(r.volumes.get(id), id) as VolumeRes;
      if (!v.attachment)
        throw new Ec2Failure(400, 'IncorrectState', `Volume '${id}' is in the 'available' state.`);
      const att = v.attachment;
      v.attachment = null;
      v.state = 'in-use';
      schedule(v, 'volume', 'available');
      return { volumeId: id, instanceId: att.instanceId, device: att.device, status: 'detaching' };
    },
    DeleteVolume: (r, p) => {
      const id = str(p.VolumeId) ?? '';
      const v = visible(r.volumes.get(id), id) as VolumeRes;
      progress(v);
      if (v.attachment || v.state === 'in-use')
        throw new Ec2Failure(400, 'VolumeInUse', `Volume ${id} is currently attached`);
      r.volumes.delete(id);
      return { return: true };
    },
    DescribeVolumes: (r, p) => {
      const wanted = ids(p, 'VolumeId');
      const fs = filters(p);
      const found = wanted.length
        ? wanted.map((id) => visible(r.volumes.get(id), id) as VolumeRes)
        : [...r.volumes.values()].filter((v) => v.hidden === 0);
      const out = found.filter((v) => {
        progress(v);
        return (
          v.state !== 'deleted' &&
          matches(
            { 'volume-id': v.id, status: v.state, 'attachment.instance-id': v.attachment?.instanceId },
            v.tags,
            fs,
          )
        );
      });
      if (wanted.length && out.length < wanted.length)
        throw notFound(wanted.find((w) => !out.some((v) => v.id === w))!);
      return { volumeSet: out.map(volumeXml) };
    },
    CreateSnapshot: (r, p) => {
      const volumeId = str(p.VolumeId) ?? '';
      visible(r.volumes.get(volumeId), volumeId);
      const snap = newSnapshot(r, volumeId, tagSpecs(p, 'snapshot'));
      takeHidden('CreateSnapshot', snap);
      return snapshotXml(snap);
    },
    DescribeSnapshots: (r, p) => {
      const wanted = ids(p, 'SnapshotId');
      const owners = ids(p, 'Owner').map((o) => (o === 'self' ? ACCOUNT_ID : o));
      const fs = filters(p);
      const found = wanted.length
        ? wanted.map((id) => visible(r.snapshots.get(id), id) as SnapshotRes)
        : [...r.snapshots.values()].filter((s) => s.hidden === 0);
      const out = found.filter((s) => {
        progress(s);
        if (owners.length && !owners.includes(s.owner)) return false;
        return matches({ 'snapshot-id': s.id, 'volume-id': s.volumeId, status: s.state }, s.tags, fs);
      });
      return { snapshotSet: out.map(snapshotXml) };
    },
    DeleteSnapshot: (r, p) => {
      const id = str(p.SnapshotId) ?? '';
      visible(r.snapshots.get(id), id);
      const user = [...r.images.values()].find((img) => img.mappings.some((m) => m.snapshotId === id));
      if (user)
        throw new Ec2Failure(
          400,
          'InvalidSnapshot.InUse',
          `The snapshot ${id} is currently in use by ${user.id}`,
        );
      r.snapshots.delete(id);
      return { return: true };
    },
  };

  function reservation(i: InstanceRes): XmlNode {
    progress(i);
    return {
      reservationId: `r-${i.id.slice(2)}`,
      ownerId: ACCOUNT_ID,
      groupSet: [],
      instancesSet: [instanceXml(i)],
    };
  }
  function findImage(id: string): { img: ImageRes; region: string } | null {
    for (const [name, r] of regions) {
      const img = r.images.get(id);
      if (img) {
        progress(img);
        return { img, region: name };
      }
    }
    return null;
  }
  function duplicateName(r: RegionState, name: string) {
    if ([...r.images.values()].some((i) => i.name === name && i.owner === ACCOUNT_ID)) {
      throw new Ec2Failure(400, 'InvalidAMIName.Duplicate', `AMI name ${name} is already in use by AMI`);
    }
  }
  function anyResource(r: RegionState, id: string): Resource {
    const res =
      r.instances.get(id) ?? r.images.get(id) ?? r.snapshots.get(id) ?? r.volumes.get(id) ?? r.groups.get(id);
    return visible(res, id);
  }
  async function proxy(host: string, port: number, target: number): Promise<TcpServer> {
    const server = createTcpServer((socket) => {
      const upstream = connect(target, '127.0.0.1');
      socket.pipe(upstream).pipe(socket);
      const end = () => {
        socket.destroy();
        upstream.destroy();
      };
      socket.on('error', end);
      upstream.on('error', end);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
    return server;
  }

  // -------------------------------------------------------------------------------------- server
  const takeFault = (action: string, type: 'throttle' | 'http-500') => {
    const i = faults.findIndex(
      (f) => f.type === type && (!('action' in f) || !f.action || f.action === action),
    );
    if (i < 0) return null;
    const fault = faults[i] as { count: number; afterApply?: boolean };
    if (--fault.count <= 0) faults.splice(i, 1);
    return fault;
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const body = await new Promise<string>((resolve) => {
      let data = '';
      req.on('data', (c: Buffer) => (data += c.toString('utf8')));
      req.on('end', () => resolve(data));
    });
    const flat = Object.fromEntries(new URLSearchParams(body));
    const action = flat.Action ?? '';
    const regionName =
      /Credential=[^/]+\/\d{8}\/([^/]+)\/ec2\//.exec(req.headers.authorization ?? '')?.[1] ?? 'us-east-1';
    const dryRun = flat.DryRun === 'true';
    const record: RecordedRequest = {
      action,
      region: regionName,
      params: flat,
      status: 200,
      errorCode: null,
      dryRun,
    };
    requests.push(record);
    const requestId = randomBytes(16).toString('hex');
    const send = (status: number, xml: string) => {
      record.status = status;
      res.writeHead(status, { 'content-type': 'text/xml;charset=UTF-8', 'x-amzn-requestid': requestId });
      res.end(xml);
    };
    const fail = (e: Ec2Failure) => {
      record.errorCode = e.code;
      send(e.status, errorXml(e.code, e.message, requestId));
    };
    try {
      const handler = handlers[action];
      if (!handler)
        throw new Ec2Failure(400, 'InvalidAction', `The action ${action} is not valid for this web service.`);
      if (faults.some((f) => f.type === 'access-denied' && f.action === action)) {
        throw new Ec2Failure(
          403,
          'UnauthorizedOperation',
          `You are not authorized to perform this operation. User: arn:aws:iam::${ACCOUNT_ID}:user/test is not authorized to perform: ec2:${action}. Encoded authorization failure message: ${hex(40)}`,
        );
      }
      if (takeFault(action, 'throttle'))
        throw new Ec2Failure(503, 'RequestLimitExceeded', 'Request limit exceeded.');
      if (dryRun)
        throw new Ec2Failure(412, 'DryRunOperation', 'Request would have succeeded, but DryRun flag is set.');
      const lost = takeFault(action, 'http-500');
      if (lost && !lost.afterApply)
        throw new Ec2Failure(500, 'InternalError', 'An internal error has occurred');
      const result = await handler(region(regionName), nest(flat), flat, regionName);
      if (lost) throw new Ec2Failure(500, 'InternalError', 'An internal error has occurred');
      send(200, responseXml(action, requestId, result));
    } catch (error) {
      if (error instanceof Ec2Failure) fail(error);
      else fail(new Ec2Failure(500, 'InternalError', error instanceof Error ? error.message : String(error)));
    }
  };

  const server: Server = createServer((req, res) => void handle(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;

  const seedTags = (tags?: Record<string, string>): Tags => new Map(Object.entries(tags ?? {}));
  return {
    url: `http://127.0.0.1:${port}`,
    credentials: { accessKeyId: 'AKIAOVENPROOFTEST', secretAccessKey: 'ovenproof-test-secret' },
    state: regions,
    requests,
    region,
    inject(fault) {
      if (fault.type === 'slow') slow[fault.kind] = fault.ms;
      else faults.push({ ...fault });
    },
    live({ ovenproofOnly = true } = {}) {
      const out: LiveResource[] = [];
      for (const [name, r] of regions) {
        const push = (kind: LiveResource['kind'], res: Resource) => {
          progress(res);
          const tags = Object.fromEntries(res.tags);
          if (ovenproofOnly && !Object.keys(tags).some((k) => k.startsWith('ovenproof:'))) return;
          out.push({ kind, id: res.id, region: name, tags });
        };
        for (const i of r.instances.values())
          if ((progress(i), i.state !== 'terminated' && i.state !== 'shutting-down')) push('instance', i);
        for (const i of r.images.values()) push('image', i);
        for (const s of r.snapshots.values()) push('snapshot', s);
        for (const v of r.volumes.values())
          if ((progress(v), v.state !== 'deleted' && v.state !== 'deleting')) push('volume', v);
        for (const g of r.groups.values()) push('security-group', g);
      }
      return out;
    },
    killInstance(regionName, id, reason) {
      const r = region(regionName);
      const i = r.instances.get(id);
      if (!i) throw new Error(`no instance ${id} in ${regionName}`);
      terminateInstance(r, i);
      i.pending = [{ state: 'terminated', at: Date.now() }];
      i.stateReason = reason;
    },
    advanceClock(ms) {
      const shift = (value: string) => {
        const at = Date.parse(value);
        return Number.isNaN(at) ? value : new Date(at - ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
      };
      for (const r of regions.values()) {
        const all: Resource[] = [
          ...r.instances.values(),
          ...r.images.values(),
          ...r.snapshots.values(),
          ...r.volumes.values(),
          ...r.groups.values(),
        ];
        for (const res of all) {
          res.created = new Date(res.created.getTime() - ms);
          for (const key of ['ovenproof:created-at', 'ovenproof:expires-at']) {
            const value = res.tags.get(key);
            if (value !== undefined) res.tags.set(key, shift(value));
          }
        }
      }
    },
    seedImage(regionName, input) {
      const r = region(regionName);
      const owner = input.owner ?? DEBIAN_OWNER;
      const snap = newSnapshot(r, 'vol-ffffffff', new Map(), owner);
      snap.state = 'completed';
      snap.pending = [];
      const img: ImageRes = {
        ...newResource('ami', 'available', seedTags(input.tags)),
        name: input.name,
        owner,
        architecture: input.architecture ?? 'x86_64',
        rootDeviceName: '/dev/xvda',
        mappings: [{ device: '/dev/xvda', snapshotId: snap.id, size: 8 }],
        enaSupport: true,
        ...(input.bootMode ? { bootMode: input.bootMode } : {}),
        virtualizationType: 'hvm',
      };
      if (input.id) img.id = input.id;
      if (input.created) img.created = input.created;
      r.images.set(img.id, img);
      return img.id;
    },
    seedInstance(regionName, input) {
      const r = region(regionName);
      const n = addressCounter++;
      const i: InstanceRes = {
        ...newResource('i', 'running', seedTags(input.tags)),
        imageId: 'ami-0seed',
        instanceType: 't3.small',
        clientToken: '',
        groups: [],
        subnetId: 'subnet-0loopback',
        privateIp: `127.0.${Math.floor(n / 250) + 10}.${(n % 250) + 2}`,
        publicIp: `127.1.${Math.floor(n / 250)}.${(n % 250) + 2}`,
        userData: '',
        params: {},
        rootVolumeId: '',
        placement: input.az ?? `${regionName}a`,
      };
      r.instances.set(i.id, i);
      return i.id;
    },
    seedVolume(regionName, input) {
      const v: VolumeRes = {
        ...newResource('vol', 'available', seedTags(input.tags)),
        snapshotId: '',
        az: `${regionName}a`,
        size: 8,
        attachment: null,
        clientToken: '',
      };
      region(regionName).volumes.set(v.id, v);
      return v.id;
    },
    seedSnapshot(regionName, input) {
      const s = newSnapshot(region(regionName), 'vol-ffffffff', seedTags(input.tags));
      return s.id;
    },
    seedSecurityGroup(regionName, input) {
      const g: GroupRes = {
        ...newResource('sg', 'available', seedTags(input.tags)),
        name: input.name,
        description: 'seeded',
        vpcId: 'vpc-0default',
        ingress: [],
      };
      region(regionName).groups.set(g.id, g);
      return g.id;
    },
    async close() {
      for (const r of regions.values())
        for (const i of r.instances.values()) await i.vm?.stop().catch(() => undefined);
      for (const p of proxies) p.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
