/**
 * User data of every instance ovenproof launches: a MIME multipart document with
 * 1. a cloud-config part that installs the run's generated ed25519 host key before sshd starts
 *    (`ssh_keys`, other host keys removed) so the very first connection is checked strictly,
 *    authorizes the run's client key for the login user, and schedules the dead-man switch
 *    `shutdown -P +<ttl>` at boot (with shutdown behaviour `terminate` this deletes the instance even
 *    if every other cleanup layer is lost);
 * 2. the same identity as ovenproof's identity document (src/providers/identity), which the identity
 *    init baked into ovenproof images reads from IMDSv2 when cloud-init is absent. cloud-init skips
 *    the part (unknown content type); the init extracts it by its marker lines.
 * Everything in it is per-run and ephemeral: user data stays readable through IMDS and
 * DescribeInstanceAttribute for the life of the instance.
 */
import { randomBytes } from 'node:crypto';
import { parse, stringify } from 'yaml';
import { formatIdentityDocument } from '../identity/index.js';
import type { InstanceIdentity } from '../provider.js';

/** Login users that cloud-init images create themselves as their default user. */
const DEFAULT_USERS = new Set(['admin', 'ec2-user', 'ubuntu', 'debian', 'fedora', 'centos', 'rocky']);

export function ttlMinutes(ttlMs: number): number {
  return Math.max(1, Math.ceil(ttlMs / 60_000));
}

export interface UserDataInput {
  identity: InstanceIdentity;
  ttlMs: number;
  sshUser: string;
  /** Stands in for the instance id in the identity document (unknown before launch): the ClientToken. */
  launchRef: string;
}

export function cloudConfig(input: UserDataInput): string {
  const { identity } = input;
  const config: Record<string, unknown> = {
    hostname: identity.hostname,
    ssh_deletekeys: true,
    ssh_genkeytypes: [],
    ssh_keys: {
      ed25519_private: identity.hostKeyPrivate.trimEnd() + '\n',
      ed25519_public: identity.hostKeyPublic.trim(),
    },
    ssh_authorized_keys: [identity.authorizedKey.trim()],
    bootcmd: [['shutdown', '-P', `+${ttlMinutes(input.ttlMs)}`]],
  };
  if (input.sshUser === 'root') {
    config.disable_root = false;
  } else if (!DEFAULT_USERS.has(input.sshUser)) {
    config.users = [
      'default',
      {
        name: input.sshUser,
        sudo: 'ALL=(ALL) NOPASSWD:ALL',
        shell: '/bin/bash',
        ssh_authorized_keys: [identity.authorizedKey.trim()],
      },
    ];
  }
  return '#cloud-config\n' + stringify(config, { lineWidth: 0 });
}

export function buildUserData(input: UserDataInput): string {
  const boundary = `==ovenproof-${randomBytes(8).toString('hex')}==`;
  const document = formatIdentityDocument({
    instanceId: input.launchRef.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 63),
    identity: input.identity,
    sshUser: input.sshUser,
    ttlMs: input.ttlMs,
  });
  return [
    `Content-Type: multipart/mixed; boundary="${boundary}"`,
    'MIME-Version: 1.0',
    '',
    `--${boundary}`,
    'Content-Type: text/cloud-config; charset="us-ascii"',
    'MIME-Version: 1.0',
    'Content-Transfer-Encoding: 7bit',
    '',
    cloudConfig(input).trimEnd(),
    `--${boundary}`,
    'Content-Type: text/x-ovenproof-identity; charset="us-ascii"',
    'MIME-Version: 1.0',
    'Content-Transfer-Encoding: 7bit',
    '',
    document.trimEnd(),
    `--${boundary}--`,
    '',
  ].join('\n');
}

export interface ParsedUserData {
  hostname: string | null;
  authorizedKeys: string[];
  hostKeyPrivate: string | null;
  hostKeyPublic: string | null;
  shutdownMinutes: number | null;
  /** The embedded identity document (for the identity init), or null. */
  identityDocument: string | null;
}

/** The body of the part of a multipart document whose content type is `type`. */
function part(text: string, type: string): string | null {
  const boundary = /boundary="([^"]+)"/.exec(text)?.[1];
  if (!boundary) return null;
  for (const chunk of text.split(`--${boundary}`)) {
    const split = chunk.indexOf('\n\n');
    if (split < 0) continue;
    if (new RegExp(`^Content-Type: ${type}\\b`, 'mi').test(chunk.slice(0, split)))
      return chunk.slice(split + 2);
  }
  return null;
}

/** Reads the identity back out of user data (what cloud-init and the identity init will see). */
export function parseUserData(text: string): ParsedUserData {
  const config = text.startsWith('#cloud-config') ? text : part(text, 'text/cloud-config');
  if (!config) throw new Error('user data has no #cloud-config part');
  const doc = (parse(config) ?? {}) as {
    hostname?: unknown;
    ssh_keys?: { ed25519_private?: unknown; ed25519_public?: unknown };
    ssh_authorized_keys?: unknown;
    bootcmd?: unknown;
  };
  const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);
  let shutdownMinutes: number | null = null;
  for (const cmd of Array.isArray(doc.bootcmd) ? doc.bootcmd : []) {
    const words = Array.isArray(cmd) ? cmd.map(String) : String(cmd).split(/\s+/);
    const m = words[0] === 'shutdown' ? /^\+(\d+)$/.exec(words[words.length - 1] ?? '') : null;
    if (m) shutdownMinutes = Number(m[1]);
  }
  const identity = /^#ovenproof-identity [\s\S]*?^#end-ovenproof-identity$/m.exec(text);
  return {
    hostname: str(doc.hostname),
    authorizedKeys: Array.isArray(doc.ssh_authorized_keys) ? doc.ssh_authorized_keys.map(String) : [],
    hostKeyPrivate: str(doc.ssh_keys?.ed25519_private),
    hostKeyPublic: str(doc.ssh_keys?.ed25519_public),
    shutdownMinutes,
    identityDocument: identity ? identity[0] + '\n' : null,
  };
}
