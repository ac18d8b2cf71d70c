// Bundles the three entry points (Action main, Action post, CLI) into dist/.
// Code splitting keeps the shared pipeline and the AWS SDK in one chunk instead of three copies.
import { build } from 'esbuild';
import { rm } from 'node:fs/promises';

await rm('dist', { recursive: true, force: true });
await build({
  entryPoints: {
    index: 'src/action/main.ts',
    post: 'src/action/post.ts',
    cli: 'src/cli/main.ts',
  },
  outdir: 'dist',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  sourcemap: true,
  legalComments: 'none',
  chunkNames: 'chunks/[name]-[hash]',
  // CommonJS dependencies (ssh2, the AWS SDK) call require() for Node built-ins.
  banner: {
    js: "import { createRequire as __ovenproofCreateRequire } from 'node:module'; const require = __ovenproofCreateRequire(import.meta.url);",
  },
  // ssh2 and cpu-features try optional native add-ons inside try/catch; the pure-JS paths are used.
  external: ['*.node', 'cpu-features'],
  logLevel: 'warning',
});
