/**
 * SSH transport: pinned host keys, a readiness loop, exec with live output, SFTP.
 *
 * Typical test stage:
 *   const session = await waitForSsh(target, { timeoutMs, signal, log });
 *   const { exec, files } = await runAndCollect(target, testCommand, resultGlobs,
 *     { session, localDir, maxBytes, exec: { onStdout, onStderr, timeoutMs, signal }, log });
 *   await session.close();
 * runAndCollect survives one dropped connection: it reconnects, waits for the command's exit status on
 * the instance, and still fetches the results.
 */
export { generateEd25519KeyPair, publicKeyBlob, fingerprint, type KeyPair } from './keys.js';
export { waitForSsh, connectOnce, probeNetwork, type SshTarget, type WaitOptions } from './connect.js';
export {
  SshConnectionLostError,
  type SshSession,
  type ExecOptions,
  type ExecResult,
  type DownloadedFile,
} from './session.js';
export { runAndCollect, type CollectOptions, type CollectResult } from './collect.js';
export { shQuote } from './shell.js';
