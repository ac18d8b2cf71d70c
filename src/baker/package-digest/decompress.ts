/**
 * Streaming decompressors for the compressions package archives use, chosen by the member's suffix.
 * gzip comes from node:zlib; xz and zstd from pure JavaScript/WebAssembly libraries (Node 20's zlib has
 * no zstd, and native bindings would not survive bundling into the Action).
 */
import { Readable, Transform } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { createGunzip } from 'node:zlib';
import { Decompress as ZstdDecompress } from 'fzstd';
// A CommonJS (webpack) bundle: Node's ESM loader cannot see its named exports, so take the default.
import xzDecompress from 'xz-decompress';

const { XzReadableStream } = xzDecompress;

export type Compression = 'none' | 'gzip' | 'xz' | 'zstd';

const SUFFIXES: Record<string, Compression> = { '': 'none', '.gz': 'gzip', '.xz': 'xz', '.zst': 'zstd' };

/** The compression named by a suffix such as `.xz`, or null when ovenproof cannot read it. */
export function compressionOfSuffix(suffix: string): Compression | null {
  return SUFFIXES[suffix] ?? null;
}

export const SUPPORTED_SUFFIXES = Object.keys(SUFFIXES).filter(Boolean);

function zstdTransform(): Transform {
  // Decoded data is pushed from inside push(), which only ever runs after `transform` exists.
  const decoder = new ZstdDecompress((data) => {
    transform.push(Buffer.from(data));
  });
  const transform = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      try {
        decoder.push(chunk);
        done();
      } catch (error) {
        done(error as Error);
      }
    },
    flush(done) {
      try {
        decoder.push(new Uint8Array(0), true);
        done();
      } catch (error) {
        done(error as Error);
      }
    },
  });
  return transform;
}

export function decompressed(input: Readable, compression: Compression): Readable {
  switch (compression) {
    case 'none':
      return input;
    case 'gzip':
      return pipeErrors(input, createGunzip());
    case 'zstd':
      return pipeErrors(input, zstdTransform());
    case 'xz': {
      const web = Readable.toWeb(input) as unknown as ReadableStream<Uint8Array>;
      return Readable.fromWeb(new XzReadableStream(web) as unknown as WebReadableStream<Uint8Array>);
    }
  }
}

/** Pipes into a transform and forwards the source's errors, so one error handler sees both. */
function pipeErrors(input: Readable, transform: Transform): Readable {
  input.on('error', (error) => transform.destroy(error));
  return input.pipe(transform);
}
