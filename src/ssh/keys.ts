import { createHash } from 'node:crypto';
import ssh2 from 'ssh2';
import { ConfigError } from '../common/errors.js';

const { utils } = ssh2;

export interface KeyPair {
  /** OpenSSH private key format ("-----BEGIN OPENSSH PRIVATE KEY-----"). Never log it. */
  privateKey: string;
  /** One authorized_keys line: "ssh-ed25519 AAAA… comment". */
  publicKey: string;
}

/**
 * A fresh ed25519 key pair, used for both the run's client key and the instance's pinned host key.
 * ssh2's generator writes a malformed private key about once in 200 calls (ssh2 and OpenSSH both
 * refuse it: "error in libcrypto"); as a host key that would keep sshd from starting. Each pair is
 * therefore parsed back and regenerated if it does not parse.
 */
export function generateEd25519KeyPair(comment: string): KeyPair {
  for (let attempt = 0; attempt < 20; attempt++) {
    const pair = utils.generateKeyPairSync('ed25519', { comment });
    const parsed = utils.parseKey(pair.private);
    if (!(parsed instanceof Error) && parsed.isPrivateKey()) {
      return { privateKey: pair.private, publicKey: pair.public.trim() };
    }
  }
  throw new Error('could not generate a well-formed ed25519 key pair');
}

/**
 * The SSH wire-format blob of a public key line ("ssh-ed25519 AAAA… comment"): what a server sends
 * during key exchange, so comparing blobs is an exact host-key pin.
 */
export function publicKeyBlob(publicKey: string): Buffer {
  const parts = publicKey.trim().split(/\s+/);
  const [type, base64] = parts;
  if (!type || !base64 || !/^[A-Za-z0-9+/]+={0,2}$/.test(base64)) {
    throw new ConfigError(
      `host key "${publicKey.slice(0, 40)}" is not an OpenSSH public key line (type AAAA…)`,
    );
  }
  const blob = Buffer.from(base64, 'base64');
  const typeLength = blob.length >= 4 ? blob.readUInt32BE(0) : -1;
  if (typeLength !== type.length || blob.subarray(4, 4 + typeLength).toString('latin1') !== type) {
    throw new ConfigError(`host key of type ${type}: its base64 blob does not encode a ${type} key`);
  }
  return blob;
}

/** OpenSSH-style fingerprint ("SHA256:…") of a public key blob, safe to print. */
export function fingerprint(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

/** Validates a client private key without ever echoing any part of it into the error. */
export function checkPrivateKey(privateKey: string): void {
  const parsed = utils.parseKey(privateKey);
  if (parsed instanceof Error || !parsed.isPrivateKey()) {
    throw new ConfigError('the SSH client key is not a readable unencrypted OpenSSH private key');
  }
}
