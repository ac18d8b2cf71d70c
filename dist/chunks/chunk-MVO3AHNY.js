import { createRequire as __opCreateRequire } from 'node:module'; import { fileURLToPath as __opFileURLToPath } from 'node:url'; import { dirname as __opDirname } from 'node:path'; const require = __opCreateRequire(import.meta.url); var __filename = __opFileURLToPath(import.meta.url); var __dirname = __opDirname(__filename);
import {
  writeFileAtomic
} from "./chunk-XKDOAQPN.js";
import {
  identityInitFiles,
  installIdentityInit,
  isProcessAlive,
  procStatField
} from "./chunk-FIUEXO6L.js";
import {
  CancelledError,
  ConfigError,
  PipelineError,
  errorMessage
} from "./chunk-PCLL46HG.js";

// src/providers/local/paths.ts
import { join } from "node:path";
function localPaths(home) {
  return {
    home,
    images: join(home, "images"),
    storeLock: join(home, "images", ".lock"),
    volumes: join(home, "volumes"),
    snapshots: join(home, "snapshots"),
    instances: join(home, "instances"),
    work: join(home, "work"),
    hostCache: join(home, "host.json")
  };
}
function imageFiles(paths, id) {
  const dir = join(paths.images, id);
  return {
    dir,
    manifest: join(dir, "manifest.json"),
    disk: join(dir, "disk.raw"),
    kernel: join(dir, "vmlinuz"),
    initrd: join(dir, "initrd.img")
  };
}
function assertSafeId(kind, id) {
  if (!/^[a-z][a-z0-9-]{2,80}$/.test(id)) throw new Error(`invalid local ${kind} id: ${JSON.stringify(id)}`);
}

// src/providers/local/store.ts
import { chmod, copyFile, link, mkdir as mkdir2, readdir as readdir2, readFile as readFile2, rename as rename2, rm, stat as stat2 } from "node:fs/promises";
import { join as join3 } from "node:path";
import { randomBytes } from "node:crypto";

// src/common/host/lock.ts
import { spawn } from "node:child_process";
import { open, readFile, readdir, rename, unlink, mkdir, stat } from "node:fs/promises";
import { hostname } from "node:os";
import { dirname, join as join2 } from "node:path";
async function processStart(pid) {
  try {
    const stat3 = await readFile(`/proc/${pid}/stat`, "utf8");
    return stat3.slice(stat3.lastIndexOf(")") + 2).split(" ")[19] ?? null;
  } catch {
    return null;
  }
}
async function ownerAlive(owner) {
  if (owner.host !== hostname()) return true;
  return await processStart(owner.pid) === owner.start;
}
var sleep = (ms, signal) => new Promise((resolve, reject) => {
  const timer = setTimeout(resolve, ms);
  signal?.addEventListener(
    "abort",
    () => {
      clearTimeout(timer);
      reject(new CancelledError("cancelled while waiting for a lock"));
    },
    { once: true }
  );
});
async function acquireKeyLock(dir, name, options = {}) {
  if (!/^[A-Za-z0-9._-]+$/.test(name))
    throw new Error(`lock name "${name}" has characters not allowed in a file name`);
  await mkdir(dir, { recursive: true });
  const path = join2(dir, `${name}.lock`);
  const me = { pid: process.pid, host: hostname(), start: await processStart(process.pid) ?? "" };
  await pruneStaleLocks(dir, path);
  let reportedWait = false;
  for (; ; ) {
    if (options.signal?.aborted) throw new CancelledError("cancelled while waiting for a lock");
    try {
      const handle = await open(path, "wx", 420);
      try {
        await handle.writeFile(JSON.stringify(me));
      } finally {
        await handle.close();
      }
      return { path, release: () => releaseIfOwned(path, me) };
    } catch (error) {
      if (error.code !== "EEXIST") throw error;
    }
    const owner = await readOwner(path);
    if (owner ? !await ownerAlive(owner) : await abandonedEmpty(path)) {
      await removeStaleLock(path);
      continue;
    }
    if (!reportedWait && owner) {
      reportedWait = true;
      options.onWait?.(owner.pid);
    }
    await sleep(options.pollMs ?? 200, options.signal);
  }
}
async function pruneStaleLocks(dir, except) {
  for (const name of await readdir(dir).catch(() => [])) {
    const path = join2(dir, name);
    if (!name.endsWith(".lock") || path === except) continue;
    const owner = await readOwner(path);
    if (owner ? await ownerAlive(owner) : !await abandonedEmpty(path)) continue;
    await removeStaleLock(path);
  }
}
async function removeStaleLock(path) {
  const stale = `${path}.stale-${process.pid}`;
  const renamed = await rename(path, stale).then(
    () => true,
    () => false
  );
  if (renamed) await unlink(stale).catch(() => void 0);
}
async function abandonedEmpty(path) {
  const info = await stat(path).catch(() => null);
  return info !== null && info.size === 0 && Date.now() - info.mtimeMs > 1e4;
}
async function readOwner(path) {
  try {
    const parsed = JSON.parse(await readFile(path, "utf8"));
    if (typeof parsed.pid === "number" && typeof parsed.host === "string" && typeof parsed.start === "string") {
      return parsed;
    }
  } catch {
  }
  return null;
}
async function releaseIfOwned(path, me) {
  const owner = await readOwner(path);
  if (owner && owner.pid === me.pid && owner.host === me.host && owner.start === me.start) {
    await unlink(path).catch(() => void 0);
  }
}
async function acquireFileLock(path, timeoutMs = 12e4) {
  await mkdir(dirname(path), { recursive: true });
  const child = spawn(
    "flock",
    [
      "--exclusive",
      "--timeout",
      String(Math.ceil(timeoutMs / 1e3)),
      path,
      "sh",
      "-c",
      "echo locked; exec cat"
    ],
    { stdio: ["pipe", "pipe", "pipe"] }
  );
  const exited = new Promise((resolve) => child.on("close", () => resolve()));
  await new Promise((resolve, reject) => {
    let err = "";
    child.stderr.on("data", (c) => err += c.toString());
    child.stdout.once("data", () => resolve());
    child.on(
      "error",
      (error) => reject(new PipelineError("bake", `cannot run flock for ${path}: ${error.message}`))
    );
    child.on(
      "close",
      (code) => reject(
        new PipelineError(
          "bake",
          `could not lock ${path} within ${timeoutMs} ms (flock exit ${code}) ${err}`
        )
      )
    );
  });
  let released = false;
  return {
    async release() {
      if (released) return;
      released = true;
      child.stdin.end();
      await exited;
    }
  };
}
async function withFileLock(path, fn, timeoutMs) {
  const lock = await acquireFileLock(path, timeoutMs);
  try {
    return await fn();
  } finally {
    await lock.release();
  }
}

// src/providers/local/store.ts
var KEPT_TAG = "ovenproof:kept";
var EXPIRES_TAG = "ovenproof:expires-at";
function newImageId() {
  return `img-${randomBytes(6).toString("hex")}`;
}
var ImageStore = class {
  constructor(paths) {
    this.paths = paths;
  }
  paths;
  async list(query = {}) {
    const names = await readdir2(this.paths.images).catch(() => []);
    const images = [];
    for (const name of names) {
      if (name.startsWith(".")) continue;
      const manifest = await this.read(name);
      if (manifest && matches(manifest, query)) images.push(manifest);
    }
    return images.sort((a, b) => b.createdAt.localeCompare(a.createdAt) || a.id.localeCompare(b.id));
  }
  async describe(id) {
    if (!/^[a-z][a-z0-9-]{2,80}$/.test(id)) return null;
    return this.read(id);
  }
  /** Describes an image or fails with a message naming the id. */
  async require(id) {
    const manifest = await this.describe(id);
    if (!manifest) throw new Error(`local image ${id} does not exist in ${this.paths.images}`);
    return manifest;
  }
  files(id) {
    assertSafeId("image", id);
    return imageFiles(this.paths, id);
  }
  async register(manifest, files, id = newImageId()) {
    assertSafeId("image", id);
    const full = { id, createdAt: (/* @__PURE__ */ new Date()).toISOString(), ...manifest };
    const staging = join3(this.paths.images, `.staging-${id}`);
    await rm(staging, { recursive: true, force: true });
    await mkdir2(staging, { recursive: true });
    try {
      const target = imageFiles(this.paths, id);
      const disk = join3(staging, "disk.raw");
      await rename2(files.disk, disk);
      await linkOrCopy(files.kernel, join3(staging, "vmlinuz"));
      await linkOrCopy(files.initrd, join3(staging, "initrd.img"));
      const st = await stat2(disk);
      full.sizes = { diskBytes: st.size, allocatedBytes: st.blocks * 512 };
      for (const f of ["disk.raw", "vmlinuz", "initrd.img"]) await chmod(join3(staging, f), 292);
      await writeFileAtomic(join3(staging, "manifest.json"), JSON.stringify(full, null, 2) + "\n", 420);
      await withFileLock(this.paths.storeLock, async () => {
        if (await this.read(id)) throw new Error(`local image ${id} already exists`);
        await rename2(staging, target.dir);
      });
      return full;
    } catch (error) {
      await rm(staging, { recursive: true, force: true });
      throw error;
    }
  }
  /** Adds or replaces tags, and removes the `remove` keys. */
  async tag(id, tags, remove = []) {
    return withFileLock(this.paths.storeLock, async () => {
      const manifest = await this.require(id);
      manifest.tags = { ...manifest.tags, ...tags };
      for (const key of remove) delete manifest.tags[key];
      await writeFileAtomic(this.files(id).manifest, JSON.stringify(manifest, null, 2) + "\n", 420);
      return manifest;
    });
  }
  /** Changes an image's manifest in place (e.g. the size of its warm snapshot). */
  async updateManifest(id, change) {
    return withFileLock(this.paths.storeLock, async () => {
      const manifest = await this.require(id);
      change(manifest);
      await writeFileAtomic(this.files(id).manifest, JSON.stringify(manifest, null, 2) + "\n", 420);
      return manifest;
    });
  }
  /** Removes an image; a missing one is not an error (deregistering is idempotent). */
  async deregister(id) {
    assertSafeId("image", id);
    return withFileLock(this.paths.storeLock, async () => {
      const dir = this.files(id).dir;
      const existed = await this.read(id) !== null;
      const doomed = join3(this.paths.images, `.deleting-${id}-${randomBytes(3).toString("hex")}`);
      await rename2(dir, doomed).catch((error) => {
        if (error.code !== "ENOENT") throw error;
      });
      await rm(doomed, { recursive: true, force: true });
      return existed;
    });
  }
  async read(id) {
    try {
      const text = await readFile2(imageFiles(this.paths, id).manifest, "utf8");
      return JSON.parse(text);
    } catch (error) {
      if (error.code === "ENOENT") return null;
      throw new Error(`cannot read the manifest of local image ${id}: ${errorMessage(error)}`, {
        cause: error
      });
    }
  }
};
async function linkOrCopy(from, to) {
  await link(from, to).catch(() => copyFile(from, to));
}
function matches(image, query) {
  if (query.idOrName !== void 0 && image.id !== query.idOrName && image.name !== query.idOrName)
    return false;
  if (query.bakeKey !== void 0 && image.bakeKey !== query.bakeKey) return false;
  for (const [key, want] of Object.entries(query.filters ?? {})) {
    const have = fieldValue(image, key);
    if (have === void 0) return false;
    if (want !== "*" && have !== want) return false;
  }
  return true;
}
function fieldValue(image, key) {
  if (key.startsWith("package:")) return image.packages[key.slice("package:".length)];
  const top = image[key];
  if (typeof top === "string") return top;
  if (top === null && key in image) return "null";
  return image.tags[key];
}
function parseImageQuery(text) {
  const words = text.split(/[\s,]+/).filter(Boolean);
  const filters = {};
  let idOrName;
  for (const word of words) {
    const eq = word.indexOf("=");
    if (eq > 0) filters[word.slice(0, eq)] = word.slice(eq + 1);
    else if (idOrName === void 0) idOrName = word;
    else throw new Error(`image query "${text}": more than one id or name (${idOrName}, ${word})`);
  }
  return {
    ...idOrName !== void 0 ? { idOrName } : {},
    ...Object.keys(filters).length ? { filters } : {}
  };
}

// src/providers/local/base-image.ts
import { createHash } from "node:crypto";
import { mkdir as mkdir4, readFile as readFile7, writeFile } from "node:fs/promises";
import { join as join7 } from "node:path";
import { performance } from "node:perf_hooks";

// src/common/host/command.ts
import { spawn as spawn2 } from "node:child_process";
function spawnCommand(argv, options) {
  const [file, ...args] = argv;
  if (!file) return Promise.reject(new Error("cannot run an empty command"));
  return new Promise((resolve, reject) => {
    const child = spawn2(file, args, {
      cwd: options.cwd,
      env: options.env,
      stdio: ["pipe", "pipe", "pipe"],
      signal: options.signal,
      timeout: options.timeoutMs,
      killSignal: options.killSignal
    });
    const out = [];
    const err = [];
    child.stdout.on("data", (chunk) => {
      out.push(chunk);
      options.onOutput?.(chunk.toString());
    });
    child.stderr.on("data", (chunk) => {
      err.push(chunk);
      options.onOutput?.(chunk.toString());
    });
    child.on("error", reject);
    child.on(
      "close",
      (code, signal) => resolve({
        code,
        signal,
        stdout: Buffer.concat(out).toString("utf8"),
        stderr: Buffer.concat(err).toString("utf8")
      })
    );
    child.stdin.on("error", () => void 0);
    child.stdin.end(options.input ?? "");
  });
}
var isRoot = () => process.getuid?.() === 0;
function privilegedArgv(argv, root = isRoot()) {
  return root ? [...argv] : ["sudo", "-n", "--", ...argv];
}
function describeArgv(argv) {
  return argv.map((arg) => {
    const first = arg.split("\n", 1)[0] ?? "";
    return first.length > 80 || first !== arg ? `${first.slice(0, 80)}\u2026` : arg;
  }).join(" ");
}
var CommandError = class extends Error {
  constructor(argv, code, stderr) {
    const tail = stderr.trim().split("\n").slice(-6).join("\n");
    super(
      `${describeArgv(argv)} failed (${code === null ? "killed" : `exit ${code}`})${tail ? `: ${tail}` : ""}`
    );
    this.argv = argv;
    this.code = code;
    this.stderr = stderr;
    this.name = "CommandError";
  }
  argv;
  code;
  stderr;
};
var SUDO_REFUSED = /a password is required|may not run sudo|not in the sudoers|sudo: command not found/i;
var runCommand = async (argv, options = {}) => {
  const full = options.privileged ? privilegedArgv(argv) : [...argv];
  if (options.signal?.aborted) throw new CancelledError(`cancelled before ${argv[0]}`);
  const result = await spawnCommand(full, {
    cwd: options.cwd,
    env: { ...process.env, LC_ALL: "C", ...options.env },
    input: options.input,
    signal: options.signal
  }).catch((error) => {
    if (error.name === "AbortError") throw new CancelledError(`cancelled while running ${argv[0]}`);
    if (error.code === "ENOENT")
      throw new Error(`${full[0]} is not installed or not on PATH (needed to run ${argv.join(" ")})`);
    throw error;
  });
  const { code, stdout, stderr } = result;
  if (code === 0 || code !== null && options.okCodes?.includes(code)) return { code, stdout, stderr };
  if (options.privileged && !isRoot() && SUDO_REFUSED.test(stderr)) {
    throw new Error(
      `${argv[0]} needs root: run ovenproof as root or give this user passwordless sudo (sudo -n refused: ${stderr.trim().split("\n")[0]})`
    );
  }
  throw new CommandError(argv, code, stderr);
};
async function captureCommand(cmd, args, options = {}) {
  const { code, signal, stdout, stderr } = await spawnCommand([cmd, ...args], {
    ...options,
    env: options.env ?? process.env,
    killSignal: "SIGKILL"
  });
  return {
    code: code ?? (signal ? 128 : 1),
    stdout,
    stderr: stderr + (signal ? `
(killed by ${signal})` : "")
  };
}
function failureOf(stage, cmd, args, result) {
  const detail = (result.stderr.trim() || result.stdout.trim()).split("\n").slice(-15).join("\n");
  return new PipelineError(stage, `${cmd} ${args.join(" ")} failed (exit ${result.code}): ${detail}`);
}
async function mustRun(stage, cmd, args, options = {}) {
  const result = await captureCommand(cmd, args, options);
  if (result.code !== 0) throw failureOf(stage, cmd, args, result);
  return result.stdout;
}
var Privileged = class {
  mode = null;
  /** Resolves to null when privileged commands can run here, else to the reason they cannot. */
  async unavailable() {
    const mode = await this.detect();
    return mode === "root" || mode === "sudo" ? null : mode;
  }
  async run(cmd, args, options = {}) {
    const mode = await this.detect();
    if (mode !== "root" && mode !== "sudo") throw new PipelineError("bake", mode);
    const [file, ...rest] = privilegedArgv([cmd, ...args], mode === "root");
    return captureCommand(file ?? cmd, rest, options);
  }
  async mustRun(stage, cmd, args, options = {}) {
    const result = await this.run(cmd, args, options);
    if (result.code !== 0) throw failureOf(stage, cmd, args, result);
    return result.stdout;
  }
  detect() {
    this.mode ??= (async () => {
      if (isRoot()) return "root";
      const probe = await captureCommand("sudo", ["-n", "true"], { timeoutMs: 1e4 }).catch(() => null);
      if (probe?.code === 0) return "sudo";
      return "loop devices, mounts and chroot need root: run ovenproof as root, or allow passwordless sudo for this user (sudo -n true must succeed), or use bake-strategy: instance";
    })();
    return this.mode;
  }
};

// src/providers/local/host.ts
import { access, readFile as readFile3, readdir as readdir3 } from "node:fs/promises";
import { constants } from "node:fs";
import { delimiter, join as join4 } from "node:path";
var BASE_BUILD_TOOLS = {
  mmdebstrap: "mmdebstrap",
  mke2fs: "e2fsprogs",
  busybox: "busybox-static",
  "dpkg-query": "dpkg",
  "qemu-img": "qemu-utils"
};
var INSTANCE_TOOLS = {
  "qemu-system-x86_64": "qemu-system-x86",
  "qemu-img": "qemu-utils",
  timeout: "coreutils",
  tar: "tar",
  flock: "util-linux"
};
var VOLUME_TOOLS = {
  losetup: "mount",
  mount: "mount",
  umount: "mount",
  fsck: "util-linux",
  cp: "coreutils"
};
async function findOnPath(tool, env = process.env) {
  const dirs = (env.PATH ?? "").split(delimiter).concat(["/usr/sbin", "/sbin"]);
  for (const dir of dirs) {
    const candidate = join4(dir, tool);
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
    }
  }
  return null;
}
async function requireTools(purpose, ...groups) {
  const missing = /* @__PURE__ */ new Map();
  for (const group of groups) {
    for (const [tool, pkg] of Object.entries(group)) {
      if (!await findOnPath(tool)) missing.set(tool, pkg);
    }
  }
  if (missing.has("busybox") === false && groups.includes(BASE_BUILD_TOOLS)) {
    const busybox = await findOnPath("busybox");
    if (busybox && !await isStatic(busybox)) missing.set("busybox (static)", "busybox-static");
  }
  if (missing.size === 0) return;
  const packages = [...new Set(missing.values())].sort();
  throw new Error(
    `${purpose} needs host tools that are missing: ${[...missing.keys()].join(", ")}. Install them with: apt-get install -y ${packages.join(" ")}`
  );
}
async function isStatic(path) {
  const head = (await readFile3(path)).subarray(0, 64 * 1024).toString("latin1");
  return !/\/lib(64)?\/ld-linux|ld-musl/.test(head);
}
async function readOsRelease(path = "/etc/os-release") {
  const text = await readFile3(path, "utf8").catch(() => "");
  const values = {};
  for (const line of text.split("\n")) {
    const m = /^([A-Z_]+)=(.*)$/.exec(line.trim());
    if (m) values[m[1]] = m[2].replace(/^["']|["']$/g, "");
  }
  return {
    id: values.ID ?? "linux",
    versionId: values.VERSION_ID ?? null,
    codename: values.VERSION_CODENAME ?? values.UBUNTU_CODENAME ?? null
  };
}
var KNOWN_SUITES = {
  buster: "debian-10",
  bullseye: "debian-11",
  bookworm: "debian-12",
  trixie: "debian-13",
  focal: "ubuntu-20.04",
  jammy: "ubuntu-22.04",
  noble: "ubuntu-24.04"
};
function osNameFor(host, suite) {
  if (host.codename === suite && host.versionId) return `${host.id}-${host.versionId}`;
  return KNOWN_SUITES[suite] ?? `${host.id}-${suite}`;
}
async function hostAptSources(codename, etc = "/etc/apt") {
  const files = [join4(etc, "sources.list")];
  const dir = join4(etc, "sources.list.d");
  for (const name of (await readdir3(dir).catch(() => [])).sort()) {
    if (name.endsWith(".list") || name.endsWith(".sources")) files.push(join4(dir, name));
  }
  const sources = [];
  for (const file of files) {
    const text = await readFile3(file, "utf8").catch(() => "");
    sources.push(...file.endsWith(".sources") ? parseDeb822(text) : parseOneLine(text));
  }
  return sources.map((s) => ({ ...s, suites: s.suites.filter((x) => x === codename || x.startsWith(`${codename}-`)) })).filter((s) => s.suites.length > 0 && isDistroKeyring(s.signedBy));
}
function isDistroKeyring(signedBy) {
  return signedBy === null || /\/usr\/share\/keyrings\/(debian|ubuntu)-archive-keyring\.gpg$/.test(signedBy);
}
function parseOneLine(text) {
  const out = [];
  for (const raw of text.split("\n")) {
    const line = raw.replace(/#.*/, "").trim();
    const m = /^deb\s+(?:\[([^\]]*)\]\s+)?(\S+)\s+(\S+)\s*(.*)$/.exec(line);
    if (!m) continue;
    const signed = /signed-by=(\S+)/.exec(m[1] ?? "");
    out.push({
      uri: m[2],
      suites: [m[3]],
      components: (m[4] ?? "").split(/\s+/).filter(Boolean),
      signedBy: signed ? signed[1] : null
    });
  }
  return out;
}
function parseDeb822(text) {
  const out = [];
  for (const stanza of text.split(/\n\s*\n/)) {
    const fields = {};
    for (const line of stanza.split("\n")) {
      if (line.startsWith("#")) continue;
      const m = /^([A-Za-z-]+):\s*(.*)$/.exec(line);
      if (m) fields[m[1].toLowerCase()] = m[2].trim();
    }
    if (!(fields.types ?? "").split(/\s+/).includes("deb")) continue;
    if ((fields.enabled ?? "yes").toLowerCase() === "no") continue;
    for (const uri of (fields.uris ?? "").split(/\s+/).filter(Boolean)) {
      out.push({
        uri,
        suites: (fields.suites ?? "").split(/\s+/).filter(Boolean),
        components: (fields.components ?? "main").split(/\s+/).filter(Boolean),
        signedBy: fields["signed-by"] ?? null
      });
    }
  }
  return out;
}
function formatSources(sources) {
  return sources.flatMap((s) => s.suites.map((suite) => `deb ${s.uri} ${suite} ${s.components.join(" ") || "main"}`)).join("\n") + "\n";
}

// src/providers/local/initrd.ts
import { readFile as readFile4 } from "node:fs/promises";
import { basename, join as join5 } from "node:path";
var INITRD_MODULES = ["virtio_pci", "virtio_blk", "ext4"];
var INIT = `#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
for m in $(cat /modules); do insmod "/lib/modules/$m" || echo "initrd: insmod $m failed"; done
root=/dev/vda
for word in $(cat /proc/cmdline); do
  case "$word" in root=/dev/*) root=\${word#root=} ;; esac
done
i=0
while [ ! -b "$root" ] && [ "$i" -lt 400 ]; do usleep 25000; i=$((i + 1)); done
if ! mount -t ext4 -o rw "$root" /newroot; then
  echo "initrd: cannot mount $root; powering off"
  poweroff -f
fi
mount --move /dev /newroot/dev
mount --move /proc /newroot/proc
mount --move /sys /newroot/sys
exec switch_root /newroot /sbin/init
`;
function cpioEntry(entry, ino) {
  const data = entry.data ?? Buffer.alloc(0);
  const name = Buffer.from(entry.name + "\0");
  const fields = [
    ino,
    entry.mode,
    0,
    0,
    1,
    0,
    data.length,
    0,
    0,
    entry.rdev?.[0] ?? 0,
    entry.rdev?.[1] ?? 0,
    name.length,
    0
  ];
  const header = Buffer.from("070701" + fields.map((f) => f.toString(16).padStart(8, "0")).join(""), "ascii");
  const pad = (n) => Buffer.alloc((4 - n % 4) % 4);
  return Buffer.concat([header, name, pad(header.length + name.length), data, pad(data.length)]);
}
function cpioArchive(entries) {
  const parts = entries.map((e, i) => cpioEntry(e, i + 1));
  parts.push(cpioEntry({ name: "TRAILER!!!", mode: 0 }, 0));
  return Buffer.concat(parts);
}
var moduleName = (path) => basename(path).replace(/\.ko(\.(xz|zst|gz))?$/, "").replace(/-/g, "_");
async function readModuleIndex(modulesDir) {
  const deps = /* @__PURE__ */ new Map();
  for (const line of (await readFile4(join5(modulesDir, "modules.dep"), "utf8")).split("\n")) {
    const [path, rest] = line.split(":");
    if (!path || rest === void 0) continue;
    deps.set(moduleName(path), { path, deps: rest.trim().split(/\s+/).filter(Boolean).map(moduleName) });
  }
  const builtinText = await readFile4(join5(modulesDir, "modules.builtin"), "utf8").catch(() => "");
  const builtin = new Set(builtinText.split("\n").filter(Boolean).map(moduleName));
  return { deps, builtin };
}
async function modulesInLoadOrder(modulesDir, wanted) {
  const index = await readModuleIndex(modulesDir);
  const order = [];
  const seen = /* @__PURE__ */ new Set();
  const visit = (name) => {
    if (seen.has(name) || index.builtin.has(name)) return;
    seen.add(name);
    const mod = index.deps.get(name);
    if (!mod) throw new Error(`kernel module ${name} is neither built in nor in ${modulesDir}/modules.dep`);
    for (const dep of mod.deps) visit(dep);
    order.push(mod.path);
  };
  for (const name of wanted) visit(name);
  return order;
}
async function moduleBytes(file) {
  if (file.endsWith(".ko")) return readFile4(file);
  const tool = file.endsWith(".xz") ? "xz" : file.endsWith(".zst") ? "zstd" : "gzip";
  const result = await captureCommand("sh", ["-c", `${tool} -dc < "$1" | base64 -w0`, "sh", file]);
  if (result.code !== 0) throw new Error(`cannot decompress kernel module ${file}: ${result.stderr.trim()}`);
  return Buffer.from(result.stdout, "base64");
}
async function buildTinyInitrd(modulesDir, busyboxPath) {
  const modules = await modulesInLoadOrder(modulesDir, INITRD_MODULES);
  const entries = [
    { name: "bin", mode: 16877 },
    { name: "dev", mode: 16877 },
    { name: "dev/console", mode: 8576, rdev: [5, 1] },
    { name: "lib", mode: 16877 },
    { name: "lib/modules", mode: 16877 },
    { name: "newroot", mode: 16877 },
    { name: "proc", mode: 16877 },
    { name: "sys", mode: 16877 },
    { name: "bin/busybox", mode: 33261, data: await readFile4(busyboxPath) },
    { name: "bin/sh", mode: 41471, data: Buffer.from("busybox") },
    { name: "init", mode: 33261, data: Buffer.from(INIT) }
  ];
  const names = [];
  for (const rel of modules) {
    const name = `${moduleName(rel)}.ko`;
    names.push(name);
    entries.push({
      name: `lib/modules/${name}`,
      mode: 33188,
      data: await moduleBytes(join5(modulesDir, rel))
    });
  }
  entries.push({ name: "modules", mode: 33188, data: Buffer.from(names.join("\n") + "\n") });
  return cpioArchive(entries);
}

// src/providers/local/workdir.ts
import { mkdir as mkdir3, rm as rm2 } from "node:fs/promises";
import { join as join6 } from "node:path";
import { randomBytes as randomBytes2 } from "node:crypto";

// src/common/host/mountinfo.ts
import { readFile as readFile5 } from "node:fs/promises";
var unescapeMount = (field) => field.replace(/\\([0-7]{3})/g, (_, oct) => String.fromCharCode(parseInt(oct, 8)));
function parseMountinfo(text) {
  const entries = [];
  for (const line of text.split("\n")) {
    const fields = line.split(" ");
    if (fields[4] === void 0) continue;
    const dash = fields.indexOf("-");
    entries.push({
      point: unescapeMount(fields[4]),
      source: dash < 0 ? "" : fields[dash + 2] ?? "",
      shared: fields.slice(6, dash < 0 ? void 0 : dash).some((f) => f.startsWith("shared:"))
    });
  }
  return entries;
}
async function readMounts() {
  return parseMountinfo(await readFile5("/proc/self/mountinfo", "utf8").catch(() => ""));
}
async function mountsUnder(root) {
  const prefix = root.endsWith("/") ? root : `${root}/`;
  return (await readMounts()).map((m) => m.point).filter((p) => p === root || p.startsWith(prefix)).reverse();
}

// src/providers/local/owner.ts
import { readFile as readFile6 } from "node:fs/promises";
function procStart(pid) {
  return procStatField(pid, 22);
}
function currentOwner(runId) {
  return { pid: process.pid, start: procStart(process.pid), ...runId ? { runId } : {} };
}
function ownerAlive2(owner) {
  if (!owner || !Number.isInteger(owner.pid) || owner.pid <= 0) return false;
  if (!isProcessAlive(owner.pid)) return false;
  if (owner.start === null) return true;
  return procStart(owner.pid) === owner.start;
}
async function readJson(path) {
  try {
    return JSON.parse(await readFile6(path, "utf8"));
  } catch {
    return null;
  }
}
async function mountsBelow(dir) {
  const points = await mountsUnder(dir);
  return [...new Set(points)].sort((a, b) => b.length - a.length);
}

// src/providers/local/workdir.ts
var WORK_OWNER_FILE = "owner.json";
async function createWorkDir(paths, purpose, runId) {
  const dir = join6(paths.work, `${purpose}-${randomBytes2(5).toString("hex")}`);
  await mkdir3(dir, { recursive: true, mode: 448 });
  await writeFileAtomic(
    join6(dir, WORK_OWNER_FILE),
    JSON.stringify({ ...currentOwner(runId), purpose, createdAt: (/* @__PURE__ */ new Date()).toISOString() })
  );
  return dir;
}
async function removeWorkDir(dir, privileged) {
  const mounts = await mountsBelow(dir);
  for (const point of mounts) {
    const result = await privileged.run("umount", [point]);
    if (result.code !== 0) await privileged.run("umount", ["-l", point]);
  }
  const removed = await rm2(dir, { recursive: true, force: true }).then(
    () => true,
    () => false
  );
  if (!removed) await privileged.mustRun("sweep", "rm", ["-rf", "--one-file-system", dir]);
}

// src/providers/local/base-image.ts
var KERNEL_CMDLINE = "console=ttyS0 root=/dev/vda rw loglevel=4 systemd.show_status=1";
var MASKED_UNITS = [
  "systemd-networkd-wait-online.service",
  "apt-daily.timer",
  "apt-daily-upgrade.timer",
  "e2scrub_all.timer",
  "e2scrub_reap.service",
  "fstrim.timer",
  "getty@tty1.service",
  "serial-getty@ttyS0.service",
  "systemd-pstore.service",
  "man-db.timer"
];
function kernelPackage(osId) {
  return osId === "ubuntu" ? "linux-image-kvm" : "linux-image-cloud-amd64";
}
function basePackages(osId) {
  return [
    "systemd-sysv",
    "dbus",
    "udev",
    "openssh-server",
    kernelPackage(osId),
    "mount",
    "iproute2",
    "procps",
    "kmod",
    "netbase",
    "sudo"
  ];
}
function baseConfigFiles() {
  return {
    "etc/systemd/network/80-ovenproof-dhcp.network": "[Match]\nName=en* eth*\n\n[Network]\nDHCP=ipv4\nLinkLocalAddressing=no\nIPv6AcceptRA=no\n",
    // QEMU user-mode networking's DNS forwarder; no resolver daemon is needed in a test VM.
    "etc/resolv.conf": "nameserver 10.0.2.3\n",
    "etc/hostname": "ovenproof\n",
    "etc/hosts": "127.0.0.1	localhost\n127.0.1.1	ovenproof\n::1	localhost ip6-localhost ip6-loopback\n",
    // The initrd mounts the root read-write; an fstab line for it would only make boot wait for udev.
    "etc/fstab": "# root is mounted by the ovenproof initrd (see the kernel command line)\n",
    // `sshd -t` before every start costs a second of emulated CPU; the config is fixed at bake time.
    "etc/systemd/system/ssh.service.d/50-ovenproof.conf": "[Service]\nExecStartPre=\n",
    "etc/ssh/sshd_config.d/50-ovenproof.conf": "HostKey /etc/ssh/ssh_host_ed25519_key\nPasswordAuthentication no\nKbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\nUseDNS no\n"
  };
}
var BASE_RECIPE_VERSION = 1;
async function baseRecipeDigest(name) {
  const host = await readOsRelease();
  const codename = host.codename ?? "";
  const sources = codename ? formatSources(await hostAptSources(codename)) : "";
  const osId = host.id;
  return createHash("sha256").update(
    JSON.stringify({
      version: BASE_RECIPE_VERSION,
      name,
      os: `${host.id}-${host.versionId ?? ""}`,
      codename,
      sources,
      arch: process.arch,
      packages: basePackages(osId),
      files: baseConfigFiles(),
      identity: identityInitFiles().map((f) => [f.path, f.mode, f.symlinkTo ?? "", f.content]),
      masked: MASKED_UNITS,
      cmdline: KERNEL_CMDLINE
    })
  ).digest("hex");
}
async function buildBaseImage(paths, store, options) {
  const host = await readOsRelease();
  const suite = options.suite ?? host.codename;
  if (!suite) throw new ConfigError("base build: cannot tell the host distribution suite; pass --suite");
  if (!/^[a-z][a-z0-9-]*$/.test(suite))
    throw new ConfigError(`base build: --suite "${suite}" is not a suite name`);
  const os = osNameFor(host, suite);
  const name = options.name ?? os;
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/.test(name)) {
    throw new ConfigError(`base build: --name "${name}" must be letters, digits, '.', '_' or '-'`);
  }
  const sizeGiB = options.sizeGiB ?? 4;
  if (!(sizeGiB >= 1 && sizeGiB <= 1024))
    throw new ConfigError(`base build: --size ${sizeGiB} GiB is out of range 1-1024`);
  const cached = async () => (await store.list({ idOrName: name })).find((i) => i.parent === null) ?? null;
  if (!options.rebuild) {
    const hit = await cached();
    if (hit) return { image: hit, cacheHit: true };
  }
  await requireTools("base build", BASE_BUILD_TOOLS);
  const privileged = new Privileged();
  const why = await privileged.unavailable();
  if (why) throw new PipelineError("bake", `base build: ${why}`);
  return withFileLock(
    join7(paths.images, `.base-${name}.lock`),
    async () => {
      const previous = await cached();
      if (previous && !options.rebuild) return { image: previous, cacheHit: true };
      const image = await build(
        paths,
        store,
        privileged,
        { ...options, name, suite, os, sizeGiB },
        host.codename
      );
      if (previous) await store.deregister(previous.id);
      return { image, cacheHit: false };
    },
    60 * 6e4
  );
}
async function build(paths, store, privileged, o, hostCodename) {
  const { log } = o;
  const step = (label, fraction) => {
    log.info(`base build: ${label}`);
    o.progress?.({ label, fraction });
  };
  const work = await createWorkDir(paths, "base-build");
  try {
    const rootfs = join7(work, "rootfs");
    const out = join7(work, "out");
    const stage = join7(work, "stage");
    await mkdir4(out, { recursive: true });
    const mirror = await aptSourceFor(o, work, hostCodename);
    const osId = o.os.split("-")[0];
    step(`Bootstrapping ${o.suite} with mmdebstrap`, 0.05);
    const started = performance.now();
    await privileged.mustRun(
      "bake",
      "mmdebstrap",
      [
        "--mode=root",
        "--variant=apt",
        "--format=directory",
        `--include=${basePackages(osId).join(",")}`,
        '--aptopt=Acquire::Languages "none"',
        "--dpkgopt=path-exclude=/usr/share/doc/*",
        "--dpkgopt=path-exclude=/usr/share/man/*",
        "--dpkgopt=path-exclude=/usr/share/locale/*",
        "--dpkgopt=path-include=/usr/share/doc/*/copyright",
        o.suite,
        rootfs,
        mirror
      ],
      { onOutput: (t) => log.debug(t.trimEnd()) }
    );
    log.debug(`mmdebstrap took ${Math.round(performance.now() - started)} ms`);
    step("Configuring the root filesystem", 0.6);
    for (const [rel, content] of Object.entries(baseConfigFiles())) {
      await mkdir4(join7(stage, rel, ".."), { recursive: true });
      await writeFile(join7(stage, rel), content);
    }
    await installIdentityInit(stage);
    const { uid, gid } = await finishRootfs(privileged, rootfs, stage, out);
    step("Building the boot initrd", 0.7);
    const busybox = await findOnPath("busybox");
    await writeFile(join7(out, "initrd.img"), await buildTinyInitrd(join7(out, "modules"), busybox));
    step("Writing the ext4 disk image", 0.8);
    const disk = join7(out, "disk.raw");
    await privileged.mustRun("bake", "mke2fs", [
      "-q",
      "-F",
      "-t",
      "ext4",
      "-L",
      "ovenproof-root",
      "-d",
      rootfs,
      disk,
      `${o.sizeGiB}G`
    ]);
    await privileged.mustRun("bake", "chown", [`${uid}:${gid}`, disk]);
    const packages = await readPackageList(join7(out, "packages.txt"));
    const kernelVersion = (await readFile7(join7(out, "kernel-version"), "utf8")).trim();
    step("Registering the base image", 0.95);
    const image = await store.register(
      {
        name: o.name,
        os: o.os,
        arch: "x86_64",
        parent: null,
        packages,
        bakeKey: null,
        tags: {
          [KEPT_TAG]: "true",
          "ovenproof:base": "true",
          "ovenproof:suite": o.suite,
          "ovenproof:kernel": kernelVersion,
          "ovenproof:cmdline": KERNEL_CMDLINE
        }
      },
      { disk, kernel: join7(out, "vmlinuz"), initrd: join7(out, "initrd.img") }
    );
    step(`Base image ${image.id} (${o.name}) ready`, 1);
    return image;
  } finally {
    await removeWorkDir(work, privileged);
  }
}
async function aptSourceFor(o, work, hostCodename) {
  if (o.mirror) {
    if (!/^(https?|file):\/\/\S+$/.test(o.mirror)) {
      throw new ConfigError(`base build: --mirror "${o.mirror}" must be an http(s):// or file:// URL`);
    }
    return `deb ${o.mirror} ${o.suite} main`;
  } else {
    const codename = hostCodename ?? o.suite;
    const sources = await hostAptSources(codename);
    if (sources.length === 0) {
      throw new ConfigError(
        `base build: no apt source for ${codename} is configured on this host; pass --mirror URL`
      );
    }
    const text = o.suite === codename ? formatSources(sources) : formatSources(
      sources.map((s) => ({
        ...s,
        suites: s.suites.map((x) => x.replace(codename, o.suite))
      }))
    );
    const list = join7(work, "sources.list");
    await writeFile(list, text);
    return list;
  }
}
async function finishRootfs(privileged, rootfs, stage, out) {
  const uid = String(process.getuid?.() ?? 0);
  const gid = String(process.getgid?.() ?? 0);
  const script = `set -eu
root=$1; stage=$2; out=$3; uid=$4; gid=$5; shift 5
cp -a --no-preserve=ownership "$stage/." "$root/"
chroot "$root" systemctl enable systemd-networkd.service >/dev/null 2>&1
chroot "$root" systemctl mask "$@" >/dev/null 2>&1
rm -f "$root"/etc/ssh/ssh_host_*
: > "$root/etc/machine-id"
rm -f "$root/var/lib/dbus/machine-id"
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/log/apt/* "$root"/root/.bash_history
dpkg-query --admindir="$root/var/lib/dpkg" -W -f='\${Package}=\${Version}\\n' > "$out/packages.txt"
kernel=$(ls "$root"/boot/vmlinuz-* | sort -V | tail -n 1)
version=\${kernel##*/vmlinuz-}
cp "$kernel" "$out/vmlinuz"
cp -a "$root/lib/modules/$version" "$out/modules"
echo "$version" > "$out/kernel-version"
chown -R "$uid:$gid" "$out"
`;
  await privileged.mustRun("bake", "sh", ["-c", script, "sh", rootfs, stage, out, uid, gid, ...MASKED_UNITS]);
  return { uid, gid };
}
async function readPackageList(path) {
  const packages = {};
  for (const line of (await readFile7(path, "utf8")).split("\n")) {
    const eq = line.indexOf("=");
    if (eq > 0) packages[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return packages;
}

export {
  runCommand,
  captureCommand,
  mustRun,
  Privileged,
  readMounts,
  mountsUnder,
  acquireKeyLock,
  withFileLock,
  INSTANCE_TOOLS,
  VOLUME_TOOLS,
  requireTools,
  readOsRelease,
  osNameFor,
  localPaths,
  assertSafeId,
  KEPT_TAG,
  EXPIRES_TAG,
  newImageId,
  ImageStore,
  parseImageQuery,
  currentOwner,
  ownerAlive2 as ownerAlive,
  readJson,
  mountsBelow,
  WORK_OWNER_FILE,
  createWorkDir,
  removeWorkDir,
  KERNEL_CMDLINE,
  baseRecipeDigest,
  buildBaseImage
};
//# sourceMappingURL=chunk-MVO3AHNY.js.map
