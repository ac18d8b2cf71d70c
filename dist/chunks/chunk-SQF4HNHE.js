import { createRequire as __opCreateRequire } from 'node:module'; import { fileURLToPath as __opFileURLToPath } from 'node:url'; import { dirname as __opDirname } from 'node:path'; const require = __opCreateRequire(import.meta.url); const __filename = __opFileURLToPath(import.meta.url); const __dirname = __opDirname(__filename);
import {
  silentLogger,
  writeFileAtomic
} from "./chunk-VLLWPT5D.js";
import {
  IDENTITY_DOCUMENT_NAME,
  formatIdentityDocument,
  installIdentityInit
} from "./chunk-D6AMY7HW.js";
import {
  ConfigError,
  PipelineError
} from "./chunk-DDK2HIRZ.js";

// src/providers/local/index.ts
import { readFile as readFile9, rm as rm6 } from "node:fs/promises";
import { join as join10 } from "node:path";

// src/providers/local/base-image.ts
import { mkdir as mkdir4, readFile as readFile5, writeFile } from "node:fs/promises";
import { join as join6 } from "node:path";
import { performance } from "node:perf_hooks";

// src/providers/local/exec.ts
import { spawn } from "node:child_process";
function runCommand(cmd, args, options = {}) {
  return new Promise((resolve2, reject) => {
    const child = spawn(cmd, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ["pipe", "pipe", "pipe"],
      signal: options.signal,
      timeout: options.timeoutMs,
      killSignal: "SIGKILL"
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
    child.on("close", (code, signal) => {
      resolve2({
        code: code ?? (signal ? 128 : 1),
        stdout: Buffer.concat(out).toString(),
        stderr: Buffer.concat(err).toString() + (signal ? `
(killed by ${signal})` : "")
      });
    });
    child.stdin.on("error", () => void 0);
    child.stdin.end(options.input ?? "");
  });
}
async function mustRun(stage, cmd, args, options = {}) {
  const result = await runCommand(cmd, args, options);
  if (result.code !== 0) {
    const detail = (result.stderr.trim() || result.stdout.trim()).split("\n").slice(-15).join("\n");
    throw new PipelineError(stage, `${cmd} ${args.join(" ")} failed (exit ${result.code}): ${detail}`);
  }
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
    if (mode === "root") return runCommand(cmd, args, options);
    if (mode === "sudo") return runCommand("sudo", ["-n", "--", cmd, ...args], options);
    throw new PipelineError("bake", mode);
  }
  async mustRun(stage, cmd, args, options = {}) {
    const result = await this.run(cmd, args, options);
    if (result.code !== 0) {
      const detail = (result.stderr.trim() || result.stdout.trim()).split("\n").slice(-15).join("\n");
      throw new PipelineError(stage, `${cmd} ${args.join(" ")} failed (exit ${result.code}): ${detail}`);
    }
    return result.stdout;
  }
  detect() {
    this.mode ??= (async () => {
      if (process.getuid?.() === 0) return "root";
      const probe = await runCommand("sudo", ["-n", "true"], { timeoutMs: 1e4 }).catch(() => null);
      if (probe?.code === 0) return "sudo";
      return "loop devices, mounts and chroot need root: run ovenproof as root, or allow passwordless sudo for this user (sudo -n true must succeed), or use bake-strategy: instance";
    })();
    return this.mode;
  }
};

// src/providers/local/host.ts
import { access, readFile, readdir } from "node:fs/promises";
import { constants } from "node:fs";
import { delimiter, join } from "node:path";
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
    const candidate = join(dir, tool);
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
  throw new PipelineError(
    "bake",
    `${purpose} needs host tools that are missing: ${[...missing.keys()].join(", ")}. Install them with: apt-get install -y ${packages.join(" ")}`
  );
}
async function isStatic(path) {
  const head = (await readFile(path)).subarray(0, 64 * 1024).toString("latin1");
  return !/\/lib(64)?\/ld-linux|ld-musl/.test(head);
}
async function readOsRelease(path = "/etc/os-release") {
  const text = await readFile(path, "utf8").catch(() => "");
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
  const files = [join(etc, "sources.list")];
  const dir = join(etc, "sources.list.d");
  for (const name of (await readdir(dir).catch(() => [])).sort()) {
    if (name.endsWith(".list") || name.endsWith(".sources")) files.push(join(dir, name));
  }
  const sources = [];
  for (const file of files) {
    const text = await readFile(file, "utf8").catch(() => "");
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
import { readFile as readFile2 } from "node:fs/promises";
import { basename, join as join2 } from "node:path";
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
function cpioArchive(entries2) {
  const parts = entries2.map((e, i) => cpioEntry(e, i + 1));
  parts.push(cpioEntry({ name: "TRAILER!!!", mode: 0 }, 0));
  return Buffer.concat(parts);
}
var moduleName = (path) => basename(path).replace(/\.ko(\.(xz|zst|gz))?$/, "").replace(/-/g, "_");
async function readModuleIndex(modulesDir) {
  const deps = /* @__PURE__ */ new Map();
  for (const line of (await readFile2(join2(modulesDir, "modules.dep"), "utf8")).split("\n")) {
    const [path, rest] = line.split(":");
    if (!path || rest === void 0) continue;
    deps.set(moduleName(path), { path, deps: rest.trim().split(/\s+/).filter(Boolean).map(moduleName) });
  }
  const builtinText = await readFile2(join2(modulesDir, "modules.builtin"), "utf8").catch(() => "");
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
  if (file.endsWith(".ko")) return readFile2(file);
  const tool = file.endsWith(".xz") ? "xz" : file.endsWith(".zst") ? "zstd" : "gzip";
  const result = await runCommand("sh", ["-c", `${tool} -dc < "$1" | base64 -w0`, "sh", file]);
  if (result.code !== 0) throw new Error(`cannot decompress kernel module ${file}: ${result.stderr.trim()}`);
  return Buffer.from(result.stdout, "base64");
}
async function buildTinyInitrd(modulesDir, busyboxPath) {
  const modules = await modulesInLoadOrder(modulesDir, INITRD_MODULES);
  const entries2 = [
    { name: "bin", mode: 16877 },
    { name: "dev", mode: 16877 },
    { name: "dev/console", mode: 8576, rdev: [5, 1] },
    { name: "lib", mode: 16877 },
    { name: "lib/modules", mode: 16877 },
    { name: "newroot", mode: 16877 },
    { name: "proc", mode: 16877 },
    { name: "sys", mode: 16877 },
    { name: "bin/busybox", mode: 33261, data: await readFile2(busyboxPath) },
    { name: "bin/sh", mode: 41471, data: Buffer.from("busybox") },
    { name: "init", mode: 33261, data: Buffer.from(INIT) }
  ];
  const names = [];
  for (const rel of modules) {
    const name = `${moduleName(rel)}.ko`;
    names.push(name);
    entries2.push({
      name: `lib/modules/${name}`,
      mode: 33188,
      data: await moduleBytes(join2(modulesDir, rel))
    });
  }
  entries2.push({ name: "modules", mode: 33188, data: Buffer.from(names.join("\n") + "\n") });
  return cpioArchive(entries2);
}

// src/providers/local/lock.ts
import { spawn as spawn2 } from "node:child_process";
import { mkdir } from "node:fs/promises";
import { dirname } from "node:path";
async function acquireLock(path, timeoutMs = 12e4) {
  await mkdir(dirname(path), { recursive: true });
  const child = spawn2(
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
  const exited = new Promise((resolve2) => child.on("close", () => resolve2()));
  await new Promise((resolve2, reject) => {
    let err = "";
    child.stderr.on("data", (c) => err += c.toString());
    child.stdout.once("data", () => resolve2());
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
async function withLock(path, fn, timeoutMs) {
  const lock = await acquireLock(path, timeoutMs);
  try {
    return await fn();
  } finally {
    await lock.release();
  }
}

// src/providers/local/store.ts
import { chmod, copyFile, link, mkdir as mkdir2, readdir as readdir2, readFile as readFile3, rename, rm, stat } from "node:fs/promises";
import { join as join4 } from "node:path";
import { randomBytes } from "node:crypto";

// src/providers/local/paths.ts
import { homedir } from "node:os";
import { join as join3, resolve } from "node:path";
function defaultHome(env = process.env) {
  return env.OVENPROOF_HOME ? resolve(env.OVENPROOF_HOME) : join3(homedir(), ".cache", "ovenproof");
}
function localPaths(home) {
  return {
    home,
    images: join3(home, "images"),
    storeLock: join3(home, "images", ".lock"),
    volumes: join3(home, "volumes"),
    snapshots: join3(home, "snapshots"),
    instances: join3(home, "instances"),
    work: join3(home, "work"),
    hostCache: join3(home, "host.json")
  };
}
function imageFiles(paths, id) {
  const dir = join3(paths.images, id);
  return {
    dir,
    manifest: join3(dir, "manifest.json"),
    disk: join3(dir, "disk.raw"),
    kernel: join3(dir, "vmlinuz"),
    initrd: join3(dir, "initrd.img")
  };
}
function assertSafeId(kind, id) {
  if (!/^[a-z][a-z0-9-]{2,80}$/.test(id)) throw new Error(`invalid local ${kind} id: ${JSON.stringify(id)}`);
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
    const staging = join4(this.paths.images, `.staging-${id}`);
    await rm(staging, { recursive: true, force: true });
    await mkdir2(staging, { recursive: true });
    try {
      const target = imageFiles(this.paths, id);
      const disk = join4(staging, "disk.raw");
      await rename(files.disk, disk);
      await linkOrCopy(files.kernel, join4(staging, "vmlinuz"));
      await linkOrCopy(files.initrd, join4(staging, "initrd.img"));
      const st = await stat(disk);
      full.sizes = { diskBytes: st.size, allocatedBytes: st.blocks * 512 };
      for (const f of ["disk.raw", "vmlinuz", "initrd.img"]) await chmod(join4(staging, f), 292);
      await writeFileAtomic(join4(staging, "manifest.json"), JSON.stringify(full, null, 2) + "\n", 420);
      await withLock(this.paths.storeLock, async () => {
        if (await this.read(id)) throw new Error(`local image ${id} already exists`);
        await rename(staging, target.dir);
      });
      return full;
    } catch (error) {
      await rm(staging, { recursive: true, force: true });
      throw error;
    }
  }
  /** Adds or replaces tags, and removes the `remove` keys. */
  async tag(id, tags, remove = []) {
    return withLock(this.paths.storeLock, async () => {
      const manifest = await this.require(id);
      manifest.tags = { ...manifest.tags, ...tags };
      for (const key of remove) delete manifest.tags[key];
      await writeFileAtomic(this.files(id).manifest, JSON.stringify(manifest, null, 2) + "\n", 420);
      return manifest;
    });
  }
  /** Removes an image; a missing one is not an error (deregistering is idempotent). */
  async deregister(id) {
    assertSafeId("image", id);
    return withLock(this.paths.storeLock, async () => {
      const dir = this.files(id).dir;
      const existed = await this.read(id) !== null;
      const doomed = join4(this.paths.images, `.deleting-${id}-${randomBytes(3).toString("hex")}`);
      await rename(dir, doomed).catch((error) => {
        if (error.code !== "ENOENT") throw error;
      });
      await rm(doomed, { recursive: true, force: true });
      return existed;
    });
  }
  async read(id) {
    try {
      const text = await readFile3(imageFiles(this.paths, id).manifest, "utf8");
      return JSON.parse(text);
    } catch (error) {
      if (error.code === "ENOENT") return null;
      throw new Error(`cannot read the manifest of local image ${id}: ${error.message}`, {
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

// src/providers/local/workdir.ts
import { mkdir as mkdir3, rm as rm2 } from "node:fs/promises";
import { join as join5 } from "node:path";
import { randomBytes as randomBytes2 } from "node:crypto";

// src/providers/local/owner.ts
import { readFileSync } from "node:fs";
import { readFile as readFile4 } from "node:fs/promises";
function procStart(pid) {
  try {
    const stat3 = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat3.slice(stat3.lastIndexOf(")") + 2).split(" ")[19] ?? null;
  } catch {
    return null;
  }
}
function currentOwner(runId) {
  return { pid: process.pid, start: procStart(process.pid), ...runId ? { runId } : {} };
}
function isAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return error.code === "EPERM";
  }
}
function ownerAlive(owner) {
  if (!owner || !Number.isInteger(owner.pid) || owner.pid <= 0) return false;
  if (!isAlive(owner.pid)) return false;
  if (owner.start === null) return true;
  return procStart(owner.pid) === owner.start;
}
async function readJson(path) {
  try {
    return JSON.parse(await readFile4(path, "utf8"));
  } catch {
    return null;
  }
}
async function mountsBelow(dir) {
  const text = await readFile4("/proc/self/mountinfo", "utf8").catch(() => "");
  const prefix = dir.endsWith("/") ? dir : `${dir}/`;
  const points = text.split("\n").map((line) => line.split(" ")[4]).filter((p) => !!p).map((p) => p.replace(/\\([0-7]{3})/g, (_, oct) => String.fromCharCode(parseInt(oct, 8)))).filter((p) => p === dir || p.startsWith(prefix));
  return [...new Set(points)].sort((a, b) => b.length - a.length);
}

// src/providers/local/workdir.ts
var WORK_OWNER_FILE = "owner.json";
async function createWorkDir(paths, purpose, runId) {
  const dir = join5(paths.work, `${purpose}-${randomBytes2(5).toString("hex")}`);
  await mkdir3(dir, { recursive: true, mode: 448 });
  await writeFileAtomic(
    join5(dir, WORK_OWNER_FILE),
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
  return withLock(
    join6(paths.images, `.base-${name}.lock`),
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
    const rootfs = join6(work, "rootfs");
    const out = join6(work, "out");
    const stage = join6(work, "stage");
    await mkdir4(out, { recursive: true });
    let mirror;
    if (o.mirror) {
      if (!/^(https?|file):\/\/\S+$/.test(o.mirror)) {
        throw new ConfigError(`base build: --mirror "${o.mirror}" must be an http(s):// or file:// URL`);
      }
      mirror = `deb ${o.mirror} ${o.suite} main`;
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
      mirror = join6(work, "sources.list");
      await writeFile(mirror, text);
    }
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
      await mkdir4(join6(stage, rel, ".."), { recursive: true });
      await writeFile(join6(stage, rel), content);
    }
    await installIdentityInit(stage);
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
    await privileged.mustRun("bake", "sh", [
      "-c",
      script,
      "sh",
      rootfs,
      stage,
      out,
      uid,
      gid,
      ...MASKED_UNITS
    ]);
    step("Building the boot initrd", 0.7);
    const busybox = await findOnPath("busybox");
    await writeFile(join6(out, "initrd.img"), await buildTinyInitrd(join6(out, "modules"), busybox));
    step("Writing the ext4 disk image", 0.8);
    const disk = join6(out, "disk.raw");
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
    const packages = {};
    for (const line of (await readFile5(join6(out, "packages.txt"), "utf8")).split("\n")) {
      const eq = line.indexOf("=");
      if (eq > 0) packages[line.slice(0, eq)] = line.slice(eq + 1);
    }
    const kernelVersion = (await readFile5(join6(out, "kernel-version"), "utf8")).trim();
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
      { disk, kernel: join6(out, "vmlinuz"), initrd: join6(out, "initrd.img") }
    );
    step(`Base image ${image.id} (${o.name}) ready`, 1);
    return image;
  } finally {
    await removeWorkDir(work, privileged);
  }
}

// src/providers/local/instances.ts
import { spawn as spawn4 } from "node:child_process";
import { chmod as chmod2, mkdir as mkdir5, open, readFile as readFile7, rm as rm3, unlink, writeFile as writeFile2 } from "node:fs/promises";
import { join as join7 } from "node:path";
import { randomBytes as randomBytes3 } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";

// src/providers/local/qemu.ts
import { spawn as spawn3 } from "node:child_process";
import { access as access2, readFile as readFile6 } from "node:fs/promises";
import { constants as constants2 } from "node:fs";
import { createConnection, createServer } from "node:net";
var KVM_PROBE_TIMEOUT_MS = 6e3;
var KVM_PROBE_RUN_MS = 1500;
async function kvmWorks() {
  try {
    await access2("/dev/kvm", constants2.R_OK | constants2.W_OK);
  } catch {
    return false;
  }
  return new Promise((resolve2) => {
    const child = spawn3(
      "qemu-system-x86_64",
      ["-accel", "kvm", "-cpu", "host", "-machine", "pc", "-nodefaults", "-display", "none", "-qmp", "stdio"],
      { stdio: ["pipe", "pipe", "ignore"] }
    );
    let out = "";
    child.stdout.on("data", (chunk) => out += chunk.toString());
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      resolve2(false);
    }, KVM_PROBE_TIMEOUT_MS);
    const ask = setTimeout(() => {
      child.stdin.end('{"execute":"qmp_capabilities"}\n{"execute":"query-status"}\n{"execute":"quit"}\n');
    }, KVM_PROBE_RUN_MS);
    child.on("error", () => {
      clearTimeout(timer);
      clearTimeout(ask);
      resolve2(false);
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      clearTimeout(ask);
      resolve2(code === 0 && /"status":\s*"running"/.test(out));
    });
    child.stdin.on("error", () => void 0);
  });
}
async function chooseAccel(cacheFile, env = process.env) {
  const forced = env.OVENPROOF_ACCEL;
  if (forced === "kvm" || forced === "tcg") return forced;
  if (forced) throw new Error(`OVENPROOF_ACCEL="${forced}" must be kvm or tcg`);
  const bootId = (await readFile6("/proc/sys/kernel/random/boot_id", "utf8").catch(() => "")).trim();
  const cached = await readJson(cacheFile);
  if (bootId && cached?.bootId === bootId) return cached.accel;
  const accel = await kvmWorks() ? "kvm" : "tcg";
  if (bootId)
    await writeFileAtomic(cacheFile, JSON.stringify({ bootId, accel }), 420).catch(() => void 0);
  return accel;
}
function freePort() {
  return new Promise((resolve2, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(
        () => typeof address === "object" && address ? resolve2(address.port) : reject(new Error("no port"))
      );
    });
  });
}
function qmpCommand(socketPath, execute, timeoutMs = 5e3) {
  return new Promise((resolve2, reject) => {
    const socket = createConnection(socketPath);
    let buffer = "";
    let step = 0;
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`QMP ${execute} timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    const finish = (error, value) => {
      clearTimeout(timer);
      socket.end();
      if (error) reject(error);
      else resolve2(value);
    };
    socket.on("error", (error) => finish(error));
    socket.on("data", (chunk) => {
      buffer += chunk.toString();
      let nl;
      while ((nl = buffer.indexOf("\n")) >= 0) {
        const line = buffer.slice(0, nl).trim();
        buffer = buffer.slice(nl + 1);
        if (!line) continue;
        const message = JSON.parse(line);
        if (message.error) return finish(new Error(`QMP ${execute}: ${message.error.desc ?? "error"}`));
        if (step === 0 && message.QMP) {
          step = 1;
          socket.write('{"execute":"qmp_capabilities"}\n');
        } else if (step === 1 && "return" in message) {
          step = 2;
          socket.write(JSON.stringify({ execute }) + "\n");
        } else if (step === 2 && "return" in message) {
          return finish(null, message.return);
        }
      }
    });
  });
}

// src/providers/local/instances.ts
var CLOSED_GUEST_PORT = 9;
var instanceKey = (id) => `instance:${id}`;
function instanceDir(paths, id) {
  assertSafeId("instance", id);
  return join7(paths.instances, id);
}
function instanceFiles(paths, id) {
  const dir = instanceDir(paths, id);
  return {
    dir,
    record: join7(dir, "instance.json"),
    overlay: join7(dir, "overlay.qcow2"),
    seed: join7(dir, "seed.tar"),
    console: join7(dir, "console.log"),
    qemuLog: join7(dir, "qemu.log"),
    qmp: join7(dir, "qmp.sock"),
    pidfile: join7(dir, "qemu.pid")
  };
}
async function readInstance(paths, id) {
  return readJson(instanceFiles(paths, id).record);
}
async function writeInstance(paths, record) {
  await writeFileAtomic(instanceFiles(paths, record.id).record, JSON.stringify(record, null, 2));
}
async function writeSeed(dir, document) {
  const seedDir = join7(dir, "seed");
  await mkdir5(seedDir, { mode: 448 });
  const doc = join7(seedDir, IDENTITY_DOCUMENT_NAME);
  await writeFile2(doc, document, { mode: 384 });
  const tar = join7(dir, "seed.tar");
  try {
    await mustRun("launch", "tar", [
      "-cf",
      tar,
      "-C",
      seedDir,
      "--owner=0",
      "--group=0",
      IDENTITY_DOCUMENT_NAME
    ]);
    await chmod2(tar, 384);
  } finally {
    await rm3(seedDir, { recursive: true, force: true });
  }
  return tar;
}
async function launchInstance(paths, store, options, ctx, spec) {
  await store.require(spec.imageId);
  const id = `i-${randomBytes3(6).toString("hex")}`;
  const files = instanceFiles(paths, id);
  const ttlMs = Math.max(6e4, spec.ttlMs);
  const expiresAt = new Date(
    Math.min(Date.now() + ttlMs, Math.max(ctx.expiresAt.getTime(), Date.now() + 6e4))
  );
  ctx.log.mask(spec.identity.hostKeyPrivate);
  await ctx.journal.intend({
    key: instanceKey(id),
    provider: "local",
    kind: "instance",
    data: { id, dir: files.dir, home: paths.home }
  });
  try {
    return await start(paths, store, options, ctx, spec, id, ttlMs, expiresAt);
  } catch (error) {
    await destroyInstance(paths, id, 0, ctx.log).catch(() => void 0);
    await ctx.journal.deleted(instanceKey(id)).catch(() => void 0);
    throw error;
  }
}
async function start(paths, store, options, ctx, spec, id, ttlMs, expiresAt) {
  const image = await store.require(spec.imageId);
  const imageFiles2 = store.files(image.id);
  const files = instanceFiles(paths, id);
  await mkdir5(files.dir, { recursive: true, mode: 448 });
  const record = {
    id,
    imageId: image.id,
    purpose: spec.purpose,
    runId: ctx.runId,
    owner: currentOwner(ctx.runId),
    state: "launching",
    createdAt: (/* @__PURE__ */ new Date()).toISOString(),
    expiresAt: expiresAt.toISOString(),
    user: spec.sshUser,
    hostKeyPublic: spec.identity.hostKeyPublic.trim()
  };
  await writeInstance(paths, record);
  ctx.progress({ label: "Creating instance disk" });
  await mustRun("launch", "qemu-img", [
    "create",
    "-q",
    "-f",
    "qcow2",
    "-F",
    "raw",
    "-b",
    imageFiles2.disk,
    files.overlay
  ]);
  await writeSeed(
    files.dir,
    formatIdentityDocument({ instanceId: id, identity: spec.identity, sshUser: spec.sshUser, ttlMs })
  );
  const accel = await chooseAccel(paths.hostCache);
  const cmdline = image.tags["ovenproof:cmdline"] ?? KERNEL_CMDLINE;
  ctx.progress({ label: `Booting instance ${id} (${accel})` });
  for (let attempt = 1; ; attempt++) {
    const sshPort = await freePort();
    let probePort = await freePort();
    while (probePort === sshPort) probePort = await freePort();
    const args = [
      "-name",
      `ovenproof-${id}`,
      "-accel",
      accel,
      "-cpu",
      accel === "kvm" ? "host" : "qemu64,+rdrand",
      "-smp",
      String(options.cpus),
      "-m",
      String(options.memoryMiB),
      "-nodefaults",
      "-no-user-config",
      "-display",
      "none",
      "-chardev",
      `file,id=console,path=${files.console}`,
      "-serial",
      "chardev:console",
      "-kernel",
      imageFiles2.kernel,
      "-initrd",
      imageFiles2.initrd,
      "-append",
      `${cmdline} ovenproof.seed=/dev/vdb`,
      "-drive",
      `file=${files.overlay},if=virtio,format=qcow2,discard=unmap`,
      "-drive",
      `file=${files.seed},if=virtio,format=raw,readonly=on`,
      "-netdev",
      `user,id=net0,hostfwd=tcp:127.0.0.1:${sshPort}-:22,hostfwd=tcp:127.0.0.1:${probePort}-:${CLOSED_GUEST_PORT}`,
      "-device",
      "virtio-net-pci,netdev=net0",
      "-device",
      "virtio-rng-pci",
      "-qmp",
      `unix:${files.qmp},server=on,wait=off`,
      "-pidfile",
      files.pidfile
    ];
    const logHandle = await open(files.qemuLog, "w");
    const watchdog = spawn4(
      "timeout",
      ["--kill-after=10", `${Math.ceil(ttlMs / 1e3)}s`, "qemu-system-x86_64", ...args],
      { detached: true, stdio: ["ignore", logHandle.fd, logHandle.fd] }
    );
    await logHandle.close();
    const exited = new Promise((resolve2) => watchdog.on("exit", (code) => resolve2(code ?? 1)));
    watchdog.unref();
    record.watchdogPid = watchdog.pid;
    record.sshPort = sshPort;
    record.probePort = probePort;
    record.accel = accel;
    await writeInstance(paths, record);
    await ctx.journal.created(instanceKey(id), id, { watchdogPid: String(watchdog.pid ?? "") });
    let gone = false;
    const started = await Promise.race([
      waitForQmp(files.qmp, ctx.signal, () => gone),
      exited.then(() => {
        gone = true;
        return false;
      })
    ]);
    if (started) {
      const qemuPid = Number((await readFile7(files.pidfile, "utf8")).trim());
      record.qemuPid = qemuPid;
      record.state = "running";
      await writeInstance(paths, record);
      await ctx.journal.created(instanceKey(id), id, { qemuPid: String(qemuPid) });
      ctx.log.info(`instance ${id}: QEMU ${accel} pid ${qemuPid}, ssh 127.0.0.1:${sshPort}`);
      return {
        id,
        host: "127.0.0.1",
        port: sshPort,
        user: spec.sshUser,
        hostKeyPublic: record.hostKeyPublic,
        networkProbe: { host: "127.0.0.1", port: probePort }
      };
    }
    const log = await readFile7(files.qemuLog, "utf8").catch(() => "");
    if (/host forwarding rule|Address already in use/i.test(log) && attempt < 4) {
      ctx.log.debug(`instance ${id}: port clash, retrying (${log.trim()})`);
      continue;
    }
    throw new PipelineError("launch", `QEMU for instance ${id} exited at start: ${log.trim().slice(-2e3)}`);
  }
}
async function waitForQmp(socket, signal, exited) {
  for (; ; ) {
    if (exited()) return false;
    signal.throwIfAborted();
    try {
      await qmpCommand(socket, "query-status", 2e3);
      return true;
    } catch {
      await sleep(20);
    }
  }
}
async function waitForExit(pid, timeoutMs) {
  if (!pid) return true;
  const deadline = Date.now() + timeoutMs;
  while (isAlive(pid)) {
    if (Date.now() > deadline) return false;
    await sleep(50);
  }
  return true;
}
async function liveQemuPid(paths, record) {
  const fromFile = async () => Number((await readFile7(instanceFiles(paths, record.id).pidfile, "utf8").catch(() => "")).trim());
  const pid = record.qemuPid ?? await fromFile();
  if (!pid || !isAlive(pid)) return null;
  const cmdline = await readFile7(`/proc/${pid}/cmdline`, "utf8").catch(() => "");
  return cmdline.includes(instanceDir(paths, record.id)) ? pid : null;
}
async function powerOff(paths, record, timeoutMs, log) {
  const pid = await liveQemuPid(paths, record);
  if (!pid) return true;
  try {
    await qmpCommand(instanceFiles(paths, record.id).qmp, "system_powerdown", 3e3);
  } catch (error) {
    log.debug(`instance ${record.id}: QMP power-off failed: ${error.message}`);
    return false;
  }
  return waitForExit(pid, timeoutMs);
}
async function destroyInstance(paths, id, graceMs, log) {
  const files = instanceFiles(paths, id);
  const record = await readInstance(paths, id);
  if (record) {
    if (!await powerOff(paths, record, graceMs, log)) {
      const pid = await liveQemuPid(paths, record);
      if (pid) {
        log.debug(`instance ${id}: no clean power-off within ${graceMs} ms, killing QEMU ${pid}`);
        process.kill(pid, "SIGKILL");
        await waitForExit(pid, 1e4);
      }
    }
    if (record.watchdogPid && isAlive(record.watchdogPid)) {
      const cmd = await readFile7(`/proc/${record.watchdogPid}/cmdline`, "utf8").catch(() => "");
      if (cmd.includes(files.dir)) process.kill(record.watchdogPid, "SIGKILL");
    }
  }
  await unlink(files.seed).catch(() => void 0);
  await rm3(files.dir, { recursive: true, force: true });
}
async function stopInstance(paths, id, timeoutMs, log) {
  const record = await readInstance(paths, id);
  if (!record) throw new PipelineError("bake", `local instance ${id} does not exist`);
  if (!await powerOff(paths, record, timeoutMs, log)) {
    throw new PipelineError(
      "bake",
      `instance ${id} did not power off within ${Math.round(timeoutMs / 1e3)} s`
    );
  }
  record.state = "stopped";
  await writeInstance(paths, record);
}

// src/providers/local/sweep.ts
import { readdir as readdir3, readFile as readFile8, rm as rm5, stat as stat2 } from "node:fs/promises";
import { join as join9 } from "node:path";

// src/providers/local/volumes.ts
import { chmod as chmod3, mkdir as mkdir6, rename as rename2, rm as rm4 } from "node:fs/promises";
import { join as join8 } from "node:path";
import { randomBytes as randomBytes4 } from "node:crypto";
var volumeKey = (id) => `volume:${id}`;
var attachmentKey = (id) => `attachment:${id}`;
var snapshotKey = (id) => `snapshot:${id}`;
function volumeFiles(paths, id) {
  assertSafeId("volume", id);
  const dir = join8(paths.volumes, id);
  return { dir, record: join8(dir, "volume.json"), disk: join8(dir, "disk.raw") };
}
function snapshotFiles(paths, id) {
  assertSafeId("snapshot", id);
  const dir = join8(paths.snapshots, id);
  return { dir, record: join8(dir, "snapshot.json"), disk: join8(dir, "disk.raw") };
}
async function readVolume(paths, id) {
  const record = await readJson(volumeFiles(paths, id).record);
  if (!record) throw new PipelineError("bake", `local volume ${id} does not exist`);
  return record;
}
async function readSnapshot(paths, id) {
  const record = await readJson(snapshotFiles(paths, id).record);
  if (!record) throw new PipelineError("bake", `local snapshot ${id} does not exist`);
  return record;
}
async function createVolume(paths, ctx, imageId, imageDisk) {
  const id = `vol-${randomBytes4(6).toString("hex")}`;
  const files = volumeFiles(paths, id);
  await ctx.journal.intend({
    key: volumeKey(id),
    provider: "local",
    kind: "volume",
    data: { id, dir: files.dir }
  });
  await mkdir6(files.dir, { recursive: true, mode: 448 });
  const record = {
    id,
    imageId,
    runId: ctx.runId,
    owner: currentOwner(ctx.runId),
    createdAt: (/* @__PURE__ */ new Date()).toISOString(),
    expiresAt: ctx.expiresAt.toISOString()
  };
  await writeFileAtomic(files.record, JSON.stringify(record, null, 2));
  await mustRun("bake", "cp", ["--sparse=always", "--reflink=auto", imageDisk, files.disk]);
  await chmod3(files.disk, 384);
  await ctx.journal.created(volumeKey(id), id);
  return { id };
}
async function loopDevicesOf(privileged, file) {
  const result = await privileged.run("losetup", ["-j", file]);
  if (result.code !== 0) return [];
  return result.stdout.split("\n").map((line) => line.split(":")[0].trim()).filter((dev) => dev.startsWith("/dev/loop"));
}
async function attachVolume(paths, privileged, ctx, id) {
  const files = volumeFiles(paths, id);
  await readVolume(paths, id);
  await ctx.journal.intend({
    key: attachmentKey(id),
    provider: "local",
    kind: "attachment",
    data: { volumeId: id, backingFile: files.disk }
  });
  const device = (await privileged.mustRun("bake", "losetup", ["--find", "--show", files.disk])).trim();
  await ctx.journal.created(attachmentKey(id), device, { device });
  return { device };
}
async function detachFile(privileged, file) {
  for (let attempt = 0; attempt < 5; attempt++) {
    const devices = await loopDevicesOf(privileged, file);
    if (devices.length === 0) return;
    for (const device of devices) await privileged.run("losetup", ["-d", device]);
    await new Promise((r) => setTimeout(r, 100 * attempt));
  }
  const left = await loopDevicesOf(privileged, file);
  if (left.length) throw new PipelineError("bake", `cannot detach ${left.join(", ")} (backed by ${file})`);
}
async function detachVolume(paths, privileged, ctx, id) {
  await detachFile(privileged, volumeFiles(paths, id).disk);
  await ctx.journal.deleted(attachmentKey(id)).catch(() => void 0);
}
async function snapshotVolume(paths, privileged, ctx, id) {
  const volume = volumeFiles(paths, id);
  const record = await readVolume(paths, id);
  const attached = await loopDevicesOf(privileged, volume.disk);
  if (attached.length) {
    throw new PipelineError(
      "bake",
      `volume ${id} is still attached (${attached.join(", ")}): detach it first`
    );
  }
  const snapId = `snap-${randomBytes4(6).toString("hex")}`;
  const snap = snapshotFiles(paths, snapId);
  await ctx.journal.intend({
    key: snapshotKey(snapId),
    provider: "local",
    kind: "snapshot",
    data: { id: snapId, dir: snap.dir }
  });
  await mkdir6(snap.dir, { recursive: true, mode: 448 });
  await writeFileAtomic(snap.record, JSON.stringify({ ...record, id: snapId, volumeId: id }, null, 2));
  await rename2(volume.disk, snap.disk);
  await chmod3(snap.disk, 292);
  await ctx.journal.created(snapshotKey(snapId), snapId);
  return { id: snapId };
}
async function deleteVolumeFiles(paths, privileged, id) {
  const files = volumeFiles(paths, id);
  await detachFile(privileged, files.disk);
  await rm4(files.dir, { recursive: true, force: true });
}

// src/providers/local/sweep.ts
var ORPHAN_GRACE_MS = 10 * 6e4;
async function entries(dir) {
  return (await readdir3(dir).catch(() => [])).filter((n) => !n.startsWith("."));
}
async function ageMs(path, now) {
  const st = await stat2(path).catch(() => null);
  return st ? now - st.mtimeMs : 0;
}
function oldEnough(s, createdAt) {
  if (!s.options.olderThanMs) return true;
  const created = createdAt ? Date.parse(createdAt) : NaN;
  return Number.isFinite(created) && s.now - created >= s.options.olderThanMs;
}
function staleReason(s, record) {
  if (!record) return "no owner record";
  if (!oldEnough(s, record.createdAt)) return null;
  if (record.expiresAt && Date.parse(record.expiresAt) < s.now) return `expired at ${record.expiresAt}`;
  if (!record.kept && !ownerAlive(record.owner)) return `owning process ${record.owner?.pid ?? "?"} is gone`;
  return null;
}
async function act(s, resource, remove) {
  let deleted = false;
  if (!s.options.dryRun) {
    try {
      await remove();
      deleted = true;
    } catch (error) {
      s.log.warn(`sweep: could not remove ${resource.kind} ${resource.id}: ${error.message}`);
    }
  }
  s.log.info(
    `sweep: ${s.options.dryRun ? "would remove" : deleted ? "removed" : "failed"} ${resource.kind} ${resource.id} (${resource.reason})`
  );
  s.found.push({ ...resource, deleted });
}
async function sweepLocal(paths, store, privileged, options, log) {
  const s = { paths, store, privileged, options, log, now: Date.now(), found: [] };
  await sweepInstances(s);
  await sweepOrphanQemu(s);
  await sweepVolumes(s);
  await sweepLoopDevices(s);
  await sweepWorkDirs(s);
  await sweepImages(s);
  await sweepTempFiles(s);
  return s.found;
}
async function sweepInstances(s) {
  for (const id of await entries(s.paths.instances)) {
    const dir = join9(s.paths.instances, id);
    const record = await readInstance(s.paths, id);
    let reason = staleReason(s, record);
    if (!record && await ageMs(dir, s.now) < ORPHAN_GRACE_MS) reason = null;
    if (reason)
      await act(s, { kind: "instance", id, reason }, () => destroyInstance(s.paths, id, 3e3, s.log));
  }
}
async function sweepOrphanQemu(s) {
  const prefix = `${s.paths.instances}/`;
  for (const pidText of (await readdir3("/proc").catch(() => [])).filter((p) => /^\d+$/.test(p))) {
    const cmdline = await readFile8(`/proc/${pidText}/cmdline`, "utf8").catch(() => "");
    const args = cmdline.split("\0");
    if (!args.some((a) => a.includes("qemu-system"))) continue;
    const ref = args.map((a) => /(?:path|file)=([^,]+)/.exec(a)?.[1] ?? a).find((a) => a.startsWith(prefix));
    if (!ref) continue;
    const id = ref.slice(prefix.length).split("/")[0];
    const record = await readInstance(s.paths, id).catch(() => null);
    if (record && await liveQemuPid(s.paths, record) === Number(pidText)) continue;
    const pid = Number(pidText);
    await act(s, { kind: "process", id: `${pid}`, reason: `QEMU of vanished instance ${id}` }, async () => {
      if (isAlive(pid)) process.kill(pid, "SIGKILL");
    });
  }
}
async function sweepVolumes(s) {
  for (const id of await entries(s.paths.volumes)) {
    const files = volumeFiles(s.paths, id);
    const record = await readJson(files.record);
    let reason = staleReason(s, record);
    if (!record && await ageMs(files.dir, s.now) < ORPHAN_GRACE_MS) reason = null;
    if (reason) {
      await act(s, { kind: "volume", id, reason }, async () => {
        await unmountDevicesOf(s, files.disk);
        await detachFile(s.privileged, files.disk);
        await rm5(files.dir, { recursive: true, force: true });
      });
    }
  }
  for (const id of await entries(s.paths.snapshots)) {
    const files = snapshotFiles(s.paths, id);
    const record = await readJson(files.record);
    let reason = staleReason(s, record);
    if (!record && await ageMs(files.dir, s.now) < ORPHAN_GRACE_MS) reason = null;
    if (reason)
      await act(s, { kind: "snapshot", id, reason }, () => rm5(files.dir, { recursive: true, force: true }));
  }
}
async function loopDevices(s) {
  const result = await s.privileged.run("losetup", ["--list", "--json", "--output", "NAME,BACK-FILE"]);
  if (result.code !== 0 || !result.stdout.trim()) return [];
  return JSON.parse(result.stdout).loopdevices ?? [];
}
async function mountsOfDevices(devices) {
  const text = await readFile8("/proc/self/mountinfo", "utf8").catch(() => "");
  const points = [];
  for (const line of text.split("\n")) {
    const parts = line.split(" ");
    const dash = parts.indexOf("-");
    if (dash < 0) continue;
    const source = parts[dash + 2];
    if (source && devices.some((d) => source === d || source.startsWith(`${d}p`))) {
      points.push(parts[4].replace(/\\([0-7]{3})/g, (_, o) => String.fromCharCode(parseInt(o, 8))));
    }
  }
  const all = [];
  for (const point of points) all.push(...await mountsBelow(point));
  return [...new Set(all)].sort((a, b) => b.length - a.length);
}
async function unmount(s, point) {
  if ((await s.privileged.run("umount", [point])).code !== 0) {
    await s.privileged.mustRun("sweep", "umount", ["-l", point]);
  }
}
async function unmountDevicesOf(s, backingFile) {
  const devices = (await loopDevices(s)).filter((d) => d["back-file"]?.replace(/ \(deleted\)$/, "") === backingFile).map((d) => d.name);
  for (const point of await mountsOfDevices(devices)) await unmount(s, point);
}
async function sweepLoopDevices(s) {
  const home = `${s.paths.home}/`;
  for (const device of await loopDevices(s)) {
    const file = device["back-file"]?.replace(/ \(deleted\)$/, "");
    if (!file?.startsWith(home)) continue;
    let owned = false;
    const rel = file.slice(home.length).split("/");
    if (rel[0] === "volumes" && rel[1]) {
      const record = await readJson(volumeFiles(s.paths, rel[1]).record).catch(() => null);
      owned = record !== null && staleReason(s, record) === null;
    }
    if (owned) continue;
    await act(
      s,
      { kind: "attachment", id: device.name, reason: `backed by ${file}, no live volume` },
      async () => {
        for (const point of await mountsOfDevices([device.name])) await unmount(s, point);
        await s.privileged.mustRun("sweep", "losetup", ["-d", device.name]);
      }
    );
  }
}
async function sweepWorkDirs(s) {
  for (const name of await entries(s.paths.work)) {
    const dir = join9(s.paths.work, name);
    const owner = await readJson(join9(dir, WORK_OWNER_FILE));
    let reason = owner ? staleReason(s, { owner, createdAt: owner.createdAt }) : "no owner record";
    if (!owner && await ageMs(dir, s.now) < ORPHAN_GRACE_MS) reason = null;
    if (!reason) continue;
    for (const point of await mountsBelow(dir)) {
      await act(s, { kind: "mount", id: point, reason }, () => unmount(s, point));
    }
    await act(s, { kind: "file", id: dir, reason }, async () => {
      if ((await mountsBelow(dir)).length) throw new Error(`${dir} still has mounts`);
      const removed = await rm5(dir, { recursive: true, force: true }).then(
        () => true,
        () => false
      );
      if (!removed) await s.privileged.mustRun("sweep", "rm", ["-rf", "--one-file-system", dir]);
    });
  }
}
async function sweepImages(s) {
  for (const image of await s.store.list()) {
    const expires = image.tags[EXPIRES_TAG];
    if (image.tags[KEPT_TAG] === "true" || !expires || !(Date.parse(expires) < s.now)) continue;
    if (!oldEnough(s, image.createdAt)) continue;
    await act(s, { kind: "image", id: image.id, reason: `expired at ${expires}, not kept` }, async () => {
      await s.store.deregister(image.id);
    });
  }
  for (const name of await readdir3(s.paths.images).catch(() => [])) {
    if (!/^\.(staging|deleting)-/.test(name)) continue;
    const dir = join9(s.paths.images, name);
    if (await ageMs(dir, s.now) < ORPHAN_GRACE_MS) continue;
    await act(
      s,
      { kind: "file", id: dir, reason: "interrupted image registration" },
      () => rm5(dir, { recursive: true, force: true })
    );
  }
}
async function sweepTempFiles(s) {
  const dirs = [
    s.paths.home,
    s.paths.images,
    s.paths.instances,
    s.paths.volumes,
    s.paths.snapshots,
    s.paths.work
  ];
  for (const top of [s.paths.images, s.paths.instances, s.paths.volumes, s.paths.snapshots]) {
    for (const name of await entries(top)) dirs.push(join9(top, name));
  }
  for (const dir of dirs) {
    for (const name of await readdir3(dir).catch(() => [])) {
      const m = /^\..+\.(\d+)\.[0-9a-f]{8}\.tmp$/.exec(name);
      if (!m || isAlive(Number(m[1]))) continue;
      const path = join9(dir, name);
      await act(
        s,
        { kind: "file", id: path, reason: `temp file of dead process ${m[1]}` },
        () => rm5(path, { force: true })
      );
    }
  }
}

// src/providers/local/index.ts
var LocalProvider = class {
  name = "local";
  paths;
  store;
  /** Runs root-only commands directly as root or via `sudo -n`; the baker uses it for its chroot steps. */
  privileged = new Privileged();
  log;
  instanceOptions;
  constructor(options = {}) {
    this.paths = localPaths(options.home ?? defaultHome());
    this.store = new ImageStore(this.paths);
    this.log = options.log ?? silentLogger;
    this.instanceOptions = {
      memoryMiB: options.memoryMiB ?? 1024,
      cpus: options.cpus ?? 2,
      terminateGraceMs: 5e3,
      stopTimeoutMs: 12e4
    };
  }
  /** Builds (or finds in the cache) the base image; see `ovenproof base build`. */
  /**
   * First-run convenience: when the base image is this host's own distribution by name (`debian-12` on
   * Debian 12) and the store has none yet, build it, so `ovenproof run` works on a fresh machine without
   * a separate `ovenproof base build`. Any other missing base is left to the baker's clear error.
   */
  async prepareBaseImage(ctx, baseImage) {
    if ((await this.store.list({ idOrName: baseImage })).length > 0) return;
    const host = await readOsRelease();
    if (!host.codename || osNameFor(host, host.codename) !== baseImage) return;
    ctx.log.info(`no ${baseImage} base image yet: building it once (cached under ${this.paths.home})`);
    await this.buildBaseImage({ name: baseImage, log: ctx.log, progress: ctx.progress });
  }
  buildBaseImage(options) {
    return buildBaseImage(this.paths, this.store, { ...options, log: options.log ?? this.log });
  }
  // --- images
  listImages(query) {
    return this.store.list(query);
  }
  describeImage(id) {
    return this.store.describe(id);
  }
  async tagImage(_ctx, id, tags) {
    await this.store.tag(id, tags, tags[KEPT_TAG] === "true" ? [EXPIRES_TAG] : []);
  }
  async deregisterImage(ctx, id) {
    await this.store.deregister(id);
    await ctx.journal.deleted(`image:${id}`).catch(() => void 0);
  }
  // --- volumes
  async volumeBakeUnsupported() {
    try {
      await requireTools("the volume bake", VOLUME_TOOLS);
    } catch (error) {
      return error.message;
    }
    return this.privileged.unavailable();
  }
  async createVolume(ctx, imageId) {
    await this.store.require(imageId);
    return createVolume(this.paths, ctx, imageId, this.store.files(imageId).disk);
  }
  attachVolume(ctx, volumeId) {
    return attachVolume(this.paths, this.privileged, ctx, volumeId);
  }
  detachVolume(ctx, volumeId) {
    return detachVolume(this.paths, this.privileged, ctx, volumeId);
  }
  snapshotVolume(ctx, volumeId) {
    return snapshotVolume(this.paths, this.privileged, ctx, volumeId);
  }
  async deleteVolume(ctx, volumeId) {
    await deleteVolumeFiles(this.paths, this.privileged, volumeId);
    await ctx.journal.deleted(`attachment:${volumeId}`).catch(() => void 0);
    await ctx.journal.deleted(volumeKey(volumeId)).catch(() => void 0);
  }
  async createWorkDir(ctx, purpose) {
    if (!/^[a-z][a-z0-9-]{0,30}$/.test(purpose)) throw new Error(`invalid work dir purpose "${purpose}"`);
    return createWorkDir(this.paths, purpose, ctx.runId);
  }
  async registerImage(ctx, from) {
    const snapshot = await readSnapshot(this.paths, from.snapshotId);
    const image = await this.registerDisk(
      ctx,
      snapshotFiles(this.paths, from.snapshotId).disk,
      snapshot.imageId,
      from.manifest
    );
    await rm6(snapshotFiles(this.paths, from.snapshotId).dir, { recursive: true, force: true });
    await ctx.journal.deleted(snapshotKey(from.snapshotId)).catch(() => void 0);
    return image;
  }
  /** Registers a raw disk file (moved into the store) with the kernel and initrd of `bootFrom`. */
  async registerDisk(ctx, disk, bootFrom, manifest) {
    const boot = await this.store.describe(bootFrom);
    if (!boot) {
      throw new PipelineError(
        "bake",
        `image ${bootFrom} (kernel and initrd of the new image) no longer exists`
      );
    }
    const id = newImageId();
    const kept = manifest.tags[KEPT_TAG] === "true";
    await ctx.journal.intend({ key: `image:${id}`, provider: "local", kind: "image", data: { id } });
    const files = this.store.files(bootFrom);
    const image = await this.store.register(
      {
        ...manifest,
        tags: {
          ...boot.tags["ovenproof:cmdline"] ? { "ovenproof:cmdline": boot.tags["ovenproof:cmdline"] } : {},
          ...boot.tags["ovenproof:kernel"] ? { "ovenproof:kernel": boot.tags["ovenproof:kernel"] } : {},
          "ovenproof:run-id": ctx.runId,
          ...kept ? {} : { [EXPIRES_TAG]: ctx.expiresAt.toISOString() },
          ...manifest.tags
        }
      },
      { disk, kernel: files.kernel, initrd: files.initrd },
      id
    );
    await ctx.journal.created(`image:${id}`, id);
    return image;
  }
  // --- instances
  async launch(ctx, spec) {
    await requireTools("launching a local instance", INSTANCE_TOOLS);
    return launchInstance(this.paths, this.store, this.instanceOptions, ctx, spec);
  }
  async stopInstance(ctx, id) {
    ctx.progress({ label: `Stopping instance ${id}` });
    await stopInstance(this.paths, id, this.instanceOptions.stopTimeoutMs, ctx.log);
  }
  async createImageFromInstance(ctx, instanceId, manifest) {
    const record = await readInstance(this.paths, instanceId);
    if (!record) throw new PipelineError("bake", `local instance ${instanceId} does not exist`);
    if (record.qemuPid && isAlive(record.qemuPid) && record.state !== "stopped") {
      throw new PipelineError("bake", `instance ${instanceId} is still running: stop it before imaging it`);
    }
    const work = await this.createWorkDir(ctx, "image-from-instance");
    const key = `file:${work}`;
    await ctx.journal.intend({ key, provider: "local", kind: "file", data: { path: work } });
    try {
      const disk = join10(work, "disk.raw");
      ctx.progress({ label: "Flattening the instance disk" });
      await mustRun("bake", "qemu-img", [
        "convert",
        "-O",
        "raw",
        instanceFiles(this.paths, instanceId).overlay,
        disk
      ]);
      return await this.registerDisk(ctx, disk, record.imageId, manifest);
    } finally {
      await removeWorkDir(work, this.privileged);
      await ctx.journal.deleted(key).catch(() => void 0);
    }
  }
  async terminate(ctx, id) {
    await destroyInstance(this.paths, id, this.instanceOptions.terminateGraceMs, ctx.log);
    await ctx.journal.deleted(instanceKey(id)).catch(() => void 0);
  }
  /** Marks an instance kept (keep-instance): sweep then removes it only after its expiry. */
  async keepInstance(id) {
    const record = await readInstance(this.paths, id);
    if (!record) throw new PipelineError("teardown", `local instance ${id} does not exist`);
    await writeInstance(this.paths, { ...record, kept: true });
  }
  async consoleOutput(id) {
    return readFile9(instanceFiles(this.paths, id).console, "utf8").catch(() => "");
  }
  // --- cleanup
  async deleteResource(entry, log) {
    const data = entry.data;
    const id = data.id ?? entry.id ?? entry.key.slice(entry.key.indexOf(":") + 1);
    switch (entry.kind) {
      case "instance":
        return destroyInstance(this.paths, id, 3e3, log);
      case "volume":
        return deleteVolumeFiles(this.paths, this.privileged, id);
      case "attachment": {
        const backing = data.backingFile;
        if (backing) return detachFile(this.privileged, backing);
        return;
      }
      case "snapshot":
        return rm6(snapshotFiles(this.paths, id).dir, { recursive: true, force: true });
      case "image":
        await this.store.deregister(id);
        return;
      case "mount": {
        const path = data.path ?? entry.id;
        if (!path || !(await mountsBelow(path)).includes(path)) return;
        for (const point of await mountsBelow(path)) {
          if ((await this.privileged.run("umount", [point])).code !== 0) {
            await this.privileged.mustRun("teardown", "umount", ["-l", point]);
          }
        }
        return;
      }
      case "file": {
        const path = data.path ?? entry.id;
        if (!path) return;
        if ((await mountsBelow(path)).length) {
          throw new PipelineError(
            "teardown",
            `${path} still has mounts below it; delete the mount entries first`
          );
        }
        if (path.startsWith(`${this.paths.home}/`)) await removeWorkDir(path, this.privileged);
        else await rm6(path, { recursive: true, force: true });
        return;
      }
      case "process": {
        const pid = Number(data.pid ?? entry.id);
        if (Number.isInteger(pid) && pid > 0 && isAlive(pid)) process.kill(pid, "SIGKILL");
        return;
      }
      default:
        log.debug(`local provider: nothing to delete for a ${entry.kind} entry (${entry.key})`);
    }
  }
  sweep(options, log) {
    return sweepLocal(this.paths, this.store, this.privileged, options, log);
  }
};
function createLocalProvider(options = {}) {
  return new LocalProvider(options);
}

export {
  runCommand,
  Privileged,
  defaultHome,
  localPaths,
  KEPT_TAG,
  EXPIRES_TAG,
  ImageStore,
  parseImageQuery,
  KERNEL_CMDLINE,
  buildBaseImage,
  LocalProvider,
  createLocalProvider
};
//# sourceMappingURL=chunk-SQF4HNHE.js.map
