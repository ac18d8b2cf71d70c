// Bundles the three entry points (Action main, Action post, CLI) into dist/.
// `node script/bundle.mjs` writes dist/; the check-dist test imports bundleFiles() and compares the
// in-memory result with what is committed.
import { build } from 'esbuild';
import { chmod, mkdir, rm, writeFile } from 'node:fs/promises';
import { dirname, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** Returns dist/ as { 'dist/index.js': Uint8Array, … } without touching the disk. */
export async function bundleFiles() {
  const result = await build({
    absWorkingDir: root,
    entryPoints: {
      index: 'src/action/main.ts',
      post: 'src/action/post.ts',
      cli: 'src/cli/main.ts',
    },
    outdir: 'dist',
    write: false,
    bundle: true,
    // One shared chunk keeps the pipeline and the AWS SDK out of three separate copies.
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    sourcemap: true,
    legalComments: 'none',
    chunkNames: 'chunks/[name]-[hash]',
    // CommonJS dependencies (ssh2, the AWS SDK) call require() for Node built-ins and use __dirname.
    banner: {
      js: [
        "import { createRequire as __opCreateRequire } from 'node:module';",
        "import { fileURLToPath as __opFileURLToPath } from 'node:url';",
        "import { dirname as __opDirname } from 'node:path';",
        'const require = __opCreateRequire(import.meta.url);',
        // var, not const: some ESM dependencies (@azure/storage-common) declare their own top-level
        // `var __filename`, which may repeat a var but not a const in the same module scope.
        'var __filename = __opFileURLToPath(import.meta.url);',
        'var __dirname = __opDirname(__filename);',
      ].join(' '),
    },
    // ssh2 tries optional native add-ons inside try/catch; its pure-JS code paths are used instead.
    // better-sqlite3 (the bakery's job store) loads its native add-on from its own package folder, so
    // it stays an installed dependency instead of being bundled.
    external: ['*.node', 'cpu-features', 'better-sqlite3'],
    logLevel: 'warning',
  });
  return new Map(result.outputFiles.map((file) => [relative(root, file.path), file.contents]));
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const files = await bundleFiles();
  await rm(resolve(root, 'dist'), { recursive: true, force: true });
  for (const [path, contents] of files) {
    const target = resolve(root, path);
    await mkdir(dirname(target), { recursive: true });
    await writeFile(target, contents);
  }
  await chmod(resolve(root, 'dist/cli.js'), 0o755);
  console.error(`bundled ${files.size} files into dist/`);
}
