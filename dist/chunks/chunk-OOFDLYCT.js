import { createRequire as __opCreateRequire } from 'node:module'; import { fileURLToPath as __opFileURLToPath } from 'node:url'; import { dirname as __opDirname } from 'node:path'; const require = __opCreateRequire(import.meta.url); var __filename = __opFileURLToPath(import.meta.url); var __dirname = __opDirname(__filename);
import {
  EXPIRES_TAG,
  INSTANCE_TOOLS,
  ImageStore,
  KEPT_TAG,
  KERNEL_CMDLINE,
  Privileged,
  VOLUME_TOOLS,
  WORK_OWNER_FILE,
  assertSafeId,
  buildBaseImage,
  captureCommand,
  createWorkDir,
  currentOwner,
  localPaths,
  mountsBelow,
  mustRun,
  newImageId,
  osNameFor,
  ownerAlive,
  readJson,
  readMounts,
  readOsRelease,
  removeWorkDir,
  requireTools,
  withFileLock
} from "./chunk-MVO3AHNY.js";
import {
  ovenproofHome,
  writeFileAtomic
} from "./chunk-XKDOAQPN.js";
import {
  IDENTITY_DOCUMENT_NAME,
  IDENTITY_SCRIPT_PATH,
  IDENTITY_STATE_DIR,
  IDENTITY_UNIT_PATH,
  failureImageTags,
  formatIdentityDocument,
  identityInitFiles,
  isProcessAlive
} from "./chunk-FIUEXO6L.js";
import {
  PipelineError,
  errorMessage,
  silentLogger
} from "./chunk-PCLL46HG.js";

// src/providers/local/provider.ts
import { readFile as readFile4, rm as rm5 } from "node:fs/promises";
import { join as join6 } from "node:path";

// src/providers/local/failure-image.ts
import { join as join2 } from "node:path";

// src/providers/local/instances.ts
import { spawn as spawn2 } from "node:child_process";
import { chmod, mkdir, open, readFile as readFile2, rm, unlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";

// src/providers/local/qemu.ts
import { spawn } from "node:child_process";
import { access, readFile } from "node:fs/promises";
import { constants } from "node:fs";
import { createConnection, createServer } from "node:net";
var KVM_PROBE_TIMEOUT_MS = 6e3;
var KVM_PROBE_RUN_MS = 1500;
async function kvmWorks() {
  try {
    await access("/dev/kvm", constants.R_OK | constants.W_OK);
  } catch {
    return false;
  }
  return new Promise((resolve) => {
    const child = spawn(
      "qemu-system-x86_64",
      ["-accel", "kvm", "-cpu", "host", "-machine", "pc", "-nodefaults", "-display", "none", "-qmp", "stdio"],
      { stdio: ["pipe", "pipe", "ignore"] }
    );
    let out = "";
    child.stdout.on("data", (chunk) => out += chunk.toString());
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      resolve(false);
    }, KVM_PROBE_TIMEOUT_MS);
    const ask = setTimeout(() => {
      child.stdin.end('{"execute":"qmp_capabilities"}\n{"execute":"query-status"}\n{"execute":"quit"}\n');
    }, KVM_PROBE_RUN_MS);
    child.on("error", () => {
      clearTimeout(timer);
      clearTimeout(ask);
      resolve(false);
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      clearTimeout(ask);
      resolve(code === 0 && /"status":\s*"running"/.test(out));
    });
    child.stdin.on("error", () => void 0);
  });
}
async function chooseAccel(cacheFile, env = process.env) {
  const forced = env.OVENPROOF_ACCEL;
  if (forced === "kvm" || forced === "tcg") return forced;
  if (forced) throw new Error(`OVENPROOF_ACCEL="${forced}" must be kvm or tcg`);
  const bootId = (await readFile("/proc/sys/kernel/random/boot_id", "utf8").catch(() => "")).trim();
  const cached = await readJson(cacheFile);
  if (bootId && cached?.bootId === bootId) return cached.accel;
  const accel = await kvmWorks() ? "kvm" : "tcg";
  if (bootId)
    await writeFileAtomic(cacheFile, JSON.stringify({ bootId, accel }), 420).catch(() => void 0);
  return accel;
}
function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(
        () => typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port"))
      );
    });
  });
}
function qmpCommand(socketPath, execute, timeoutMs = 5e3, args) {
  return new Promise((resolve, reject) => {
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
      else resolve(value);
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
          socket.write(JSON.stringify(args ? { execute, arguments: args } : { execute }) + "\n");
        } else if (step === 2 && "return" in message) {
          return finish(null, message.return);
        }
      }
    });
  });
}

// src/providers/local/warm-agent.ts
var WARM_KERNEL_FLAG = "ovenproof.warm";
var WARM_PORT_NAME = "org.ovenproof.agent";
var WARM_AGENT_PATH = "/usr/local/sbin/ovenproof-warm-agent";
var WARM_AGENT_UNIT_PATH = "/etc/systemd/system/ovenproof-warm-agent.service";
var SSHD_FIFO = "/run/ovenproof/sshd_config";
var SSHD_ENV = "/run/ovenproof/sshd-warm.env";
var AGENT = String.raw`#!/usr/bin/perl
# ovenproof warm-boot agent: waits on a virtio-serial port for this clone's identity and applies it.
# Never prints key material.
use strict;
use warnings;
use Fcntl qw(O_WRONLY O_NONBLOCK F_SETFL);
use MIME::Base64 qw(decode_base64);
use POSIX qw(mkfifo);

my $port_path = '/dev/virtio-ports/@PORT@';
my $run = '/run/ovenproof';
my $state = '@STATE_DIR@';
my $identity_script = '@IDENTITY_SCRIPT@';
my $sshd_fifo = '@SSHD_FIFO@';
my $sshd_env = '@SSHD_ENV@';
my $sshd_config_out;
$| = 1;
umask 077;
my $inbox = '';
sub note { print "ovenproof-warm-agent: @_\n" }

mkdir $run unless -d $run;
for (my $i = 0; !-c $port_path; $i++) {
  if ($i >= 600) { note("no serial port $port_path"); exit 1 }
  select(undef, undef, undef, 0.1);
}
# Say ready only once the boot has settled, so that a clone resumes into an idle system.
system('timeout 600 systemctl is-system-running --wait >/dev/null 2>&1');
open(my $port, '+<', $port_path) or die "open $port_path: $!\n";

# The saved RAM keeps only pages that are not all zeros (the rest become holes in its file), and pages
# freed by the boot still hold their old bytes. Fill most of the free memory with zeros once and free
# it again: the pages go back to the free list zeroed, and the saved RAM shrinks to what is in use.
# The page cache stays: a clone reads nothing from its disk that the boot had already read.
my $zero = "$run/zero-fill";
mkdir $zero;
if (system("mount -t tmpfs -o size=100% ovenproof-zero-fill $zero 2>/dev/null") == 0) {
  my $free_mib = 0;
  if (open(my $meminfo, '<', '/proc/meminfo')) {
    while (<$meminfo>) { $free_mib = int($1 / 1024) if /^MemFree:\s+(\d+)/ }
  }
  system("dd if=/dev/zero of=$zero/fill bs=1M count=" . ($free_mib - 64) . ' 2>/dev/null') if $free_mib > 96;
  system('umount', $zero);
}
rmdir $zero;

# sshd waits from here until a clone's identity is applied: started late, so that the snapshot boot
# keeps it short of its unit's start timeout.
my $sshd_config = start_sshd_waiting();
# What the first login and command load, read into the page cache too: every file the waiting sshd
# maps (its re-executed child per connection maps the same), the PAM modules that sshd loads, the
# configuration in /etc (sshd, PAM, NSS, the shell's startup files) and root's login shell.
my $sshd_pid = qx(systemctl show --property=MainPID --value ssh.service);
read_files(mapped_files($sshd_pid =~ /^(\d+)/ ? $1 : 0), glob('/usr/lib/*/security/*.so /lib/*/security/*.so'));
read_files(files_under('/etc'), with_libraries((getpwnam('root'))[8] // '/bin/sh'));

my $booted = read_first_line('/etc/machine-id') // '';
$booted = 'none' if $booted eq '';
my $hostname = read_first_line('/proc/sys/kernel/hostname') // '';
open(my $rng, '<', '/dev/urandom') or die "open /dev/urandom: $!\n";
sysread($rng, my $sample, 16) == 16 or die "read /dev/urandom: $!\n";
say_to_host(sprintf('ready machine-id=%s hostname=%s urandom=%s', $booted, $hostname, unpack('H*', $sample)));
note('waiting for an identity');

# The snapshot is taken here. A read while no host is connected returns end-of-file: try again shortly.
my $received = '';
my ($entropy, %field);
for (;;) {
  my $line = next_line();
  if ($line =~ /^entropy-hex=(.*)$/) { $entropy = $1; next }
  $field{$1} = $2 if $line =~ /^([a-z0-9-]+)=(.*)$/;
  $received .= "$line\n";
  last if $line eq '#end-ovenproof-identity';
}

# Clones share the snapshot's kernel RNG state: add the host's fresh bytes to the input pool
# (RNDADDENTROPY) and rekey the CRNG at once (RNDRESEEDCRNG) instead of at its next interval, before
# anything (sshd included) draws from it.
defined $entropy && $entropy =~ /^(?:[0-9a-f]{2})+$/ or fail('no entropy in the identity');
my $bytes = pack('H*', $entropy);
ioctl($rng, 0x40085203, pack('ii', 8 * length($bytes), length($bytes)) . $bytes) or fail("RNDADDENTROPY: $!");
ioctl($rng, 0x5207, 0) or fail("RNDRESEEDCRNG: $!");

my ($instance, $host, $user) = @field{qw(instance-id hostname ssh-user)};
for ([$instance, 'instance id'], [$host, 'hostname'], [$user, 'ssh user']) {
  defined $_->[0] && $_->[0] =~ /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/ or fail("malformed identity document ($_->[1])");
}
my $machine_id;
if ($user eq 'root') {
  # sshd goes on as soon as its host key is in place; the rest is written meanwhile. The host connects
  # only after the answer below, once all is written.
  my $public = install_host_key();
  release_sshd();
  $machine_id = new_machine_id();
  apply_root_identity($public);
} else {
  # Creating a login user is the identity init's: it reads the same document from a file.
  $machine_id = new_machine_id();
  umask 077;
  write_file("$run/warm-identity", $received);
  local $ENV{OVENPROOF_IDENTITY_DOCUMENT} = "$run/warm-identity";
  system($identity_script) == 0 or fail('the identity init failed');
  release_sshd();
}

# The clock resumes from the snapshot: ask the host for its time right before setting it
# (settimeofday, x86_64 syscall 164).
say_to_host('time?');
my $clock = next_line();
$clock =~ /^clock=(\d+)\.(\d{3})$/ or fail('the host sent no time');
syscall(164, pack('qq', $1, $2 * 1000), 0) == 0 or fail("settimeofday: $!");

# Answer once sshd listens, so the host's first connection attempt succeeds instead of backing off.
my $listening = 0;
for (my $i = 0; $i < 6000 && !$listening; $i++) {
  $listening = sshd_listens() or select(undef, undef, undef, 0.01);
}
$listening or fail('sshd did not start');
say_to_host('applied');
note('identity applied, sshd started');

# This clone's dead-man switch (a cold boot has ovenproof-ttl.service): power off after its TTL.
my $ttl = $field{'ttl-seconds'} // '';
if ($ttl =~ /^\d+$/ && $ttl > 0) {
  sleep($ttl);
  exec('systemctl', '--no-block', 'poweroff');
}
exit 0;

sub install_host_key {
  my ($hostpub, $hostpriv) = @field{qw(host-key-public-b64 host-key-private-b64)};
  defined $hostpriv && length $hostpriv && defined $hostpub && length $hostpub
    or fail('malformed identity document (host key)');
  # The run's host key replaces every other host key, so clients can only ever see the pinned one.
  unlink(glob('/etc/ssh/ssh_host_*_key'), glob('/etc/ssh/ssh_host_*_key.pub'));
  my $public = decode_base64($hostpub);
  umask 022;
  write_file('/etc/ssh/ssh_host_ed25519_key.pub', $public);
  umask 077;
  write_file('/etc/ssh/ssh_host_ed25519_key', decode_base64($hostpriv));
  return $public;
}

# sshd is started before the save, so that no clone pays for starting a program (under an emulated CPU,
# the new process's code must be translated afresh in every clone). It reads its configuration from a
# FIFO, which blocks it before it has read a host key or listened; it goes on in the clone once the
# configuration is written there, after the reseed and with the clone's own host key. It has seeded
# libcrypto by then, a state all clones share, but this listener only accepts connections: each one
# is served by a freshly executed sshd, which seeds its own generators from the reseeded kernel.
# Its options come from an environment file that only such a boot has, so a cold boot of this disk
# starts sshd as the image does. Returns the configuration file that sshd would have read.
sub start_sshd_waiting {
  my $options = '';
  if (open(my $defaults, '<', '/etc/default/ssh')) {
    while (<$defaults>) { $options = $+ if /^\s*SSHD_OPTS=(?:"(.*)"|'(.*)'|(.*?))\s*$/ }
  }
  my $config = $options =~ /(?:^|\s)-f\s*(\S+)/ ? $1 : '/etc/ssh/sshd_config';
  -r $config or fail("no sshd configuration at $config");
  unlink($sshd_fifo);
  mkfifo($sshd_fifo, 0600) or fail("mkfifo $sshd_fifo: $!");
  umask 022;
  write_file($sshd_env, "SSHD_OPTS=$options -f $sshd_fifo\n");
  umask 077;
  system('systemctl', 'start', '--no-block', 'ssh.service') == 0 or fail('cannot start ssh.service');
  # Opening the FIFO for writing succeeds once sshd holds it open for reading; it then waits in its read.
  for (my $i = 0; !sysopen($sshd_config_out, $sshd_fifo, O_WRONLY | O_NONBLOCK); $i++) {
    fail('sshd did not open its configuration FIFO') if $i >= 3000;
    select(undef, undef, undef, 0.02);
  }
  return $config;
}

# Hands sshd its configuration; the path then leads to the configuration file itself, for any later
# start of sshd (a reload re-executes it with the same options).
sub release_sshd {
  open(my $in, '<', $sshd_config) or fail("read $sshd_config: $!");
  my $text = do { local $/; <$in> };
  fcntl($sshd_config_out, F_SETFL, 0) or fail("fcntl $sshd_fifo: $!");
  print($sshd_config_out $text) && close($sshd_config_out) or fail("write $sshd_fifo: $!");
  symlink($sshd_config, "$sshd_fifo.link") && rename("$sshd_fifo.link", $sshd_fifo)
    or fail("replace $sshd_fifo: $!");
}

sub mapped_files {
  my ($pid) = @_;
  my %seen;
  open(my $maps, '<', "/proc/$pid/maps") or return ();
  while (<$maps>) { $seen{$1} = 1 if m{\s(/\S+)$} }
  return sort keys %seen;
}

# Regular files of at most 1 MiB in these folders and their subfolders (symbolic links not followed).
sub files_under {
  my @folders = @_;
  my @files;
  while (defined(my $folder = shift @folders)) {
    opendir(my $listing, $folder) or next;
    for my $name (readdir $listing) {
      next if $name eq '.' || $name eq '..';
      my $path = "$folder/$name";
      if (-l $path) { next }
      elsif (-d _) { push @folders, $path }
      elsif (-f _ && -s _ <= 1 << 20) { push @files, $path }
    }
  }
  return @files;
}

# The program and the shared libraries it loads (as ldd lists them).
sub with_libraries {
  my ($program) = @_;
  my @files = ($program);
  if (open(my $ldd, '-|', 'ldd', $program)) {
    while (<$ldd>) { push @files, $1 if m{=>\s+(/\S+)} }
  }
  return @files;
}

sub read_files {
  for my $path (@_) {
    open(my $in, '<', $path) or next;
    binmode($in);
    1 while sysread($in, my $chunk, 1 << 20);
  }
}

# A fresh machine-id drawn from the reseeded pool (the snapshot's was made at its boot, often only
# mounted over the empty file).
sub new_machine_id {
  my $path = '/etc/machine-id';
  if (open(my $mounts, '<', '/proc/self/mounts')) {
    while (<$mounts>) {
      my (undef, $point) = split;
      next unless $point eq $path;
      # umount2(2), x86_64 syscall 166
      syscall(166, $path, 0) == 0 or fail("umount $path: $!");
    }
  }
  sysread($rng, my $id, 16) == 16 or fail("read /dev/urandom: $!");
  my $new = unpack('H*', $id);
  umask 022;
  write_file("$path.new", "$new\n");
  rename("$path.new", $path) or fail("rename $path: $!");
  return $new;
}

# Hostname, the login key of root and the state the identity init keeps, written the way the identity
# init writes them.
sub apply_root_identity {
  my ($public) = @_;
  my $authorized = $field{'authorized-key-b64'};
  defined $authorized && length $authorized or fail('malformed identity document (authorized key)');
  umask 022;
  write_file('/etc/hostname', "$host\n");
  write_file('/proc/sys/kernel/hostname', $host);
  write_file('/etc/hosts', "127.0.0.1\tlocalhost\n127.0.1.1\t$host\n::1\tlocalhost ip6-localhost ip6-loopback\n");
  umask 077;
  mkdir '/root/.ssh' unless -d '/root/.ssh';
  write_file('/root/.ssh/authorized_keys', decode_base64($authorized));
  chmod(0700, '/root/.ssh') or fail("chmod /root/.ssh: $!");
  mkdir $state unless -d $state;
  write_file("$state/machine-id", "$machine_id\n");
  write_file("$state/instance-id", "$instance\n");
  my ($type, $blob) = split(' ', $public);
  note("instance $instance: hostname $host, login root, host key $type $blob");
}

sub next_line {
  for (;;) {
    my $nl = index($inbox, "\n");
    if ($nl >= 0) {
      my $line = substr($inbox, 0, $nl);
      substr($inbox, 0, $nl + 1) = '';
      return $line;
    }
    my $got = sysread($port, $inbox, 65536, length $inbox);
    select(undef, undef, undef, 0.02) unless $got;
  }
}

sub say_to_host { syswrite($port, "$_[0]\n") or die "write $port_path: $!\n" }

sub fail {
  note(@_);
  say_to_host("failed @_");
  exit 1;
}

sub write_file {
  my ($path, $content, $optional) = @_;
  my $out;
  my $ok = open($out, '>', $path) && print($out $content) && close($out);
  return 1 if $ok || $optional;
  fail("write $path: $!");
}

sub read_first_line {
  open(my $in, '<', $_[0]) or return undef;
  my $line = <$in>;
  chomp $line if defined $line;
  return $line;
}

# A listening TCP socket on port 22 (state 0A in /proc/net/tcp or tcp6).
sub sshd_listens {
  for my $table ('/proc/net/tcp', '/proc/net/tcp6') {
    open(my $in, '<', $table) or next;
    while (<$in>) { return 1 if /^\s*\d+:\s+[0-9A-F]+:0016\s+[0-9A-F]+:[0-9A-F]+\s+0A\s/ }
  }
  return 0;
}
`.replace("@PORT@", WARM_PORT_NAME).replace("@STATE_DIR@", IDENTITY_STATE_DIR).replace("@IDENTITY_SCRIPT@", IDENTITY_SCRIPT_PATH).replace("@SSHD_FIFO@", SSHD_FIFO).replace("@SSHD_ENV@", SSHD_ENV);
var AGENT_UNIT = `[Unit]
Description=ovenproof warm-boot agent (waits for this clone's identity on a serial channel)
ConditionKernelCommandLine=${WARM_KERNEL_FLAG}

[Service]
Type=simple
ExecStart=${WARM_AGENT_PATH}
StandardOutput=journal+console

[Install]
WantedBy=multi-user.target
`;
var IDENTITY_DROP_IN = `[Unit]
ConditionKernelCommandLine=!${WARM_KERNEL_FLAG}
`;
var SSH_DROP_IN = `[Unit]
ConditionKernelCommandLine=|!${WARM_KERNEL_FLAG}
ConditionPathExists=|${SSHD_ENV}

[Service]
EnvironmentFile=-${SSHD_ENV}
ExecStartPre=
`;
function warmAgentFiles() {
  const identityScript = identityInitFiles().find((f) => f.path === IDENTITY_SCRIPT_PATH);
  if (!identityScript) throw new Error("the identity init has no script");
  return [
    identityScript,
    { path: WARM_AGENT_PATH, content: AGENT, mode: 493 },
    { path: WARM_AGENT_UNIT_PATH, content: AGENT_UNIT, mode: 420 },
    {
      path: "/etc/systemd/system/multi-user.target.wants/ovenproof-warm-agent.service",
      content: "",
      mode: 511,
      symlinkTo: WARM_AGENT_UNIT_PATH
    },
    { path: `${IDENTITY_UNIT_PATH}.d/60-ovenproof-warm.conf`, content: IDENTITY_DROP_IN, mode: 420 },
    { path: "/etc/systemd/system/ssh.service.d/60-ovenproof-warm.conf", content: SSH_DROP_IN, mode: 420 }
  ];
}

// src/providers/local/instances.ts
var CLOSED_GUEST_PORT = 9;
var instanceKey = (id) => `instance:${id}`;
function instanceDir(paths, id) {
  assertSafeId("instance", id);
  return join(paths.instances, id);
}
function instanceFiles(paths, id) {
  const dir = instanceDir(paths, id);
  return {
    dir,
    record: join(dir, "instance.json"),
    overlay: join(dir, "overlay.qcow2"),
    seed: join(dir, "seed.tar"),
    console: join(dir, "console.log"),
    qemuLog: join(dir, "qemu.log"),
    qmp: join(dir, "qmp.sock"),
    agent: join(dir, "agent.sock"),
    pidfile: join(dir, "qemu.pid")
  };
}
async function readInstance(paths, id) {
  return readJson(instanceFiles(paths, id).record);
}
async function writeInstance(paths, record) {
  await writeFileAtomic(instanceFiles(paths, record.id).record, JSON.stringify(record, null, 2));
}
async function writeSeed(dir, document) {
  const seedDir = join(dir, "seed");
  await mkdir(seedDir, { mode: 448 });
  const doc = join(seedDir, IDENTITY_DOCUMENT_NAME);
  await writeFile(doc, document, { mode: 384 });
  const tar = join(dir, "seed.tar");
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
    await chmod(tar, 384);
  } finally {
    await rm(seedDir, { recursive: true, force: true });
  }
  return tar;
}
async function timedStep(steps, name, fn) {
  const started = Date.now();
  try {
    return await fn();
  } finally {
    steps.push({ name, startedAt: new Date(started).toISOString(), durationMs: Date.now() - started });
  }
}
async function withNewInstance(paths, ctx, spec, body) {
  const id = `i-${randomBytes(6).toString("hex")}`;
  const files = instanceFiles(paths, id);
  const ttlMs = Math.max(6e4, spec.ttlMs);
  const expiresAt = new Date(
    Math.min(Date.now() + ttlMs, Math.max(ctx.expiresAt.getTime(), Date.now() + 6e4))
  );
  await ctx.journal.intend({
    key: instanceKey(id),
    provider: "local",
    kind: "instance",
    data: { id, dir: files.dir, home: paths.home }
  });
  try {
    return await body(id, ttlMs, expiresAt);
  } catch (error) {
    await destroyInstance(paths, id, 0, ctx.log).catch(() => void 0);
    await ctx.journal.deleted(instanceKey(id)).catch(() => void 0);
    throw error;
  }
}
async function newInstanceRecord(paths, ctx, spec, id, imageId, expiresAt) {
  await mkdir(instanceDir(paths, id), { recursive: true, mode: 448 });
  const record = {
    id,
    imageId,
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
  return record;
}
function machineSpec(options, accel, files, append) {
  return {
    accel,
    cpus: options.cpus,
    memoryMiB: options.memoryMiB,
    kernel: files.kernel,
    initrd: files.initrd,
    append
  };
}
function qemuArgs(name, machine, io, ports) {
  const forwards = ports ? `,hostfwd=tcp:127.0.0.1:${ports.ssh}-:22,hostfwd=tcp:127.0.0.1:${ports.probe}-:${CLOSED_GUEST_PORT}` : "";
  return [
    "-name",
    name,
    "-accel",
    machine.accel,
    "-cpu",
    machine.accel === "kvm" ? "host" : "qemu64,+rdrand",
    "-smp",
    String(machine.cpus),
    "-m",
    String(machine.memoryMiB),
    ...io.memory ? [
      "-object",
      `memory-backend-file,id=ram,size=${machine.memoryMiB}M,mem-path=${io.memory.file},share=${io.memory.shared ? "on" : "off"}`,
      "-machine",
      "memory-backend=ram"
    ] : [],
    "-nodefaults",
    "-no-user-config",
    "-display",
    "none",
    "-chardev",
    `file,id=console,path=${io.console}`,
    "-serial",
    "chardev:console",
    "-kernel",
    machine.kernel,
    "-initrd",
    machine.initrd,
    "-append",
    machine.append,
    "-drive",
    `file=${io.drive},if=virtio,format=qcow2,discard=unmap`,
    ...io.seed ? ["-drive", `file=${io.seed},if=virtio,format=raw,readonly=on`] : [],
    "-netdev",
    `user,id=net0${forwards}`,
    "-device",
    "virtio-net-pci,netdev=net0",
    "-device",
    "virtio-rng-pci",
    ...io.agentSocket ? [
      "-device",
      "virtio-serial-pci",
      "-chardev",
      `socket,id=agent,path=${io.agentSocket},server=on,wait=off`,
      "-device",
      `virtserialport,chardev=agent,name=${WARM_PORT_NAME}`,
      // A new generation id at every start: kernels with the vmgenid driver reseed on restore.
      "-device",
      "vmgenid,guid=auto"
    ] : [],
    ...io.incoming ? ["-incoming", io.incoming] : [],
    "-qmp",
    `unix:${io.qmp},server=on,wait=off`,
    "-pidfile",
    io.pidfile
  ];
}
async function bootCold(paths, store, options, ctx, spec) {
  const image = await store.require(spec.imageId);
  const imageFiles = store.files(image.id);
  ctx.log.mask(spec.identity.hostKeyPrivate);
  return withNewInstance(paths, ctx, spec, async (id, ttlMs, expiresAt) => {
    const files = instanceFiles(paths, id);
    const record = await newInstanceRecord(paths, ctx, spec, id, image.id, expiresAt);
    record.boot = "cold";
    const steps = [];
    ctx.progress({ label: "Creating instance disk" });
    await createOverlay(imageFiles.disk, "raw", files.overlay);
    await writeSeed(
      files.dir,
      formatIdentityDocument({ instanceId: id, identity: spec.identity, sshUser: spec.sshUser, ttlMs })
    );
    const accel = await chooseAccel(paths.hostCache);
    const cmdline = image.tags["ovenproof:cmdline"] ?? KERNEL_CMDLINE;
    const machine = machineSpec(options, accel, imageFiles, `${cmdline} ovenproof.seed=/dev/vdb`);
    ctx.progress({ label: `Booting instance ${id} (${accel})` });
    const ports = await timedStep(
      steps,
      "boot",
      () => spawnQemu(
        paths,
        ctx,
        record,
        ttlMs,
        (p) => qemuArgs(
          `ovenproof-${id}`,
          machine,
          {
            drive: files.overlay,
            console: files.console,
            qmp: files.qmp,
            pidfile: files.pidfile,
            seed: files.seed
          },
          p
        )
      )
    );
    return { ...instanceInfo(record, spec, ports), boot: "cold", steps };
  });
}
function instanceInfo(record, spec, ports) {
  return {
    id: record.id,
    host: "127.0.0.1",
    port: ports.ssh,
    user: spec.sshUser,
    hostKeyPublic: record.hostKeyPublic,
    networkProbe: { host: "127.0.0.1", port: ports.probe }
  };
}
async function createOverlay(backing, backingFormat, overlay) {
  await mustRun("launch", "qemu-img", [
    "create",
    "-q",
    "-f",
    "qcow2",
    "-F",
    backingFormat,
    "-b",
    backing,
    overlay
  ]);
}
async function spawnQemu(paths, ctx, record, ttlMs, argsFor) {
  const files = instanceFiles(paths, record.id);
  const id = record.id;
  for (let attempt = 1; ; attempt++) {
    const ssh = await freePort();
    let probe = await freePort();
    while (probe === ssh) probe = await freePort();
    const args = argsFor({ ssh, probe });
    const logHandle = await open(files.qemuLog, "w");
    const watchdog = spawn2(
      "timeout",
      ["--kill-after=10", `${Math.ceil(ttlMs / 1e3)}s`, "qemu-system-x86_64", ...args],
      { detached: true, stdio: ["ignore", logHandle.fd, logHandle.fd] }
    );
    await logHandle.close();
    const exited = new Promise(
      (resolve) => watchdog.on("exit", (code, signal) => resolve(signal ? `signal ${signal}` : `exit ${code}`))
    );
    watchdog.unref();
    record.watchdogPid = watchdog.pid;
    record.sshPort = ssh;
    record.probePort = probe;
    record.accel = args[args.indexOf("-accel") + 1];
    await writeInstance(paths, record);
    await ctx.journal.created(instanceKey(id), id, { watchdogPid: String(watchdog.pid ?? "") });
    let gone = null;
    const started = await Promise.race([
      waitForQmp(files.qmp, ctx.signal, () => gone !== null),
      exited.then((how) => {
        gone = how;
        return false;
      })
    ]);
    if (started) {
      const qemuPid = Number((await readFile2(files.pidfile, "utf8")).trim());
      record.qemuPid = qemuPid;
      record.state = "running";
      await writeInstance(paths, record);
      await ctx.journal.created(instanceKey(id), id, { qemuPid: String(qemuPid) });
      ctx.log.info(`instance ${id}: QEMU ${record.accel} pid ${qemuPid}, ssh 127.0.0.1:${ssh}`);
      return { ssh, probe };
    }
    const log = await readFile2(files.qemuLog, "utf8").catch(() => "");
    if (/host forwarding rule|Address already in use/i.test(log) && attempt < 4) {
      ctx.log.debug(`instance ${id}: port clash, retrying (${log.trim()})`);
      continue;
    }
    throw new PipelineError(
      "launch",
      `QEMU for instance ${id} exited at start (${gone ?? "unknown"}): ${log.trim().slice(-2e3)}`
    );
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
  while (isProcessAlive(pid)) {
    if (Date.now() > deadline) return false;
    await sleep(50);
  }
  return true;
}
async function liveQemuPid(paths, record) {
  const fromFile = async () => Number((await readFile2(instanceFiles(paths, record.id).pidfile, "utf8").catch(() => "")).trim());
  const pid = record.qemuPid ?? await fromFile();
  if (!pid || !isProcessAlive(pid)) return null;
  const cmdline = await readFile2(`/proc/${pid}/cmdline`, "utf8").catch(() => "");
  return cmdline.includes(instanceDir(paths, record.id)) ? pid : null;
}
async function powerOff(paths, record, timeoutMs, log) {
  const pid = await liveQemuPid(paths, record);
  if (!pid) return true;
  try {
    await qmpCommand(instanceFiles(paths, record.id).qmp, "system_powerdown", 3e3);
  } catch (error) {
    log.debug(`instance ${record.id}: QMP power-off failed: ${errorMessage(error)}`);
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
    if (record.watchdogPid && isProcessAlive(record.watchdogPid)) {
      const cmd = await readFile2(`/proc/${record.watchdogPid}/cmdline`, "utf8").catch(() => "");
      if (cmd.includes(files.dir)) process.kill(record.watchdogPid, "SIGKILL");
    }
  }
  await unlink(files.seed).catch(() => void 0);
  await rm(files.dir, { recursive: true, force: true });
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

// src/providers/local/failure-image.ts
var COPY_TIMEOUT_MS = 10 * 6e4;
async function copyRunningInstanceDisk(paths, ctx, instanceId, workDir) {
  const record = await readInstance(paths, instanceId);
  if (!record) throw new PipelineError("teardown", `local instance ${instanceId} does not exist`);
  const files = instanceFiles(paths, instanceId);
  const running = await liveQemuPid(paths, record) !== null;
  const disk = join2(workDir, "disk.raw");
  if (running) await qmpCommand(files.qmp, "stop", 1e4);
  try {
    ctx.progress({ label: `Copying the disk of instance ${instanceId}` });
    await mustRun("teardown", "qemu-img", ["convert", "-U", "-O", "raw", files.overlay, disk], {
      timeoutMs: COPY_TIMEOUT_MS,
      signal: ctx.signal
    });
  } finally {
    if (running) {
      await qmpCommand(files.qmp, "cont", 1e4).catch(
        (error) => ctx.log.warn(`instance ${instanceId} could not be resumed after the copy: ${errorMessage(error)}`)
      );
    }
  }
  return { disk, imageId: record.imageId };
}

// src/providers/local/sweep.ts
import { existsSync } from "node:fs";
import { readdir, readFile as readFile3, rm as rm3, stat } from "node:fs/promises";
import { join as join4 } from "node:path";

// src/providers/local/volumes.ts
import { chmod as chmod2, mkdir as mkdir2, rename, rm as rm2 } from "node:fs/promises";
import { join as join3 } from "node:path";
import { randomBytes as randomBytes2 } from "node:crypto";
var volumeKey = (id) => `volume:${id}`;
var attachmentKey = (id) => `attachment:${id}`;
var snapshotKey = (id) => `snapshot:${id}`;
function volumeFiles(paths, id) {
  assertSafeId("volume", id);
  const dir = join3(paths.volumes, id);
  return { dir, record: join3(dir, "volume.json"), disk: join3(dir, "disk.raw") };
}
function snapshotFiles(paths, id) {
  assertSafeId("snapshot", id);
  const dir = join3(paths.snapshots, id);
  return { dir, record: join3(dir, "snapshot.json"), disk: join3(dir, "disk.raw") };
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
  const id = `vol-${randomBytes2(6).toString("hex")}`;
  const files = volumeFiles(paths, id);
  await ctx.journal.intend({
    key: volumeKey(id),
    provider: "local",
    kind: "volume",
    data: { id, dir: files.dir }
  });
  await mkdir2(files.dir, { recursive: true, mode: 448 });
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
  await chmod2(files.disk, 384);
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
  const snapId = `snap-${randomBytes2(6).toString("hex")}`;
  const snap = snapshotFiles(paths, snapId);
  await ctx.journal.intend({
    key: snapshotKey(snapId),
    provider: "local",
    kind: "snapshot",
    data: { id: snapId, dir: snap.dir }
  });
  await mkdir2(snap.dir, { recursive: true, mode: 448 });
  await writeFileAtomic(snap.record, JSON.stringify({ ...record, id: snapId, volumeId: id }, null, 2));
  await rename(volume.disk, snap.disk);
  await chmod2(snap.disk, 292);
  await ctx.journal.created(snapshotKey(snapId), snapId);
  return { id: snapId };
}
async function deleteVolumeFiles(paths, privileged, id) {
  const files = volumeFiles(paths, id);
  await detachFile(privileged, files.disk);
  await rm2(files.dir, { recursive: true, force: true });
}

// src/providers/local/sweep.ts
var ORPHAN_GRACE_MS = 10 * 6e4;
async function entries(dir) {
  return (await readdir(dir).catch(() => [])).filter((n) => !n.startsWith("."));
}
async function ageMs(path, now) {
  const st = await stat(path).catch(() => null);
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
      s.log.warn(`sweep: could not remove ${resource.kind} ${resource.id}: ${errorMessage(error)}`);
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
    const dir = join4(s.paths.instances, id);
    const record = await readInstance(s.paths, id);
    let reason = staleReason(s, record);
    if (!record && await ageMs(dir, s.now) < ORPHAN_GRACE_MS) reason = null;
    if (reason)
      await act(s, { kind: "instance", id, reason }, () => destroyInstance(s.paths, id, 3e3, s.log));
  }
}
async function sweepOrphanQemu(s) {
  const prefix = `${s.paths.instances}/`;
  for (const pidText of (await readdir("/proc").catch(() => [])).filter((p) => /^\d+$/.test(p))) {
    const cmdline = await readFile3(`/proc/${pidText}/cmdline`, "utf8").catch(() => "");
    const args = cmdline.split("\0");
    if (!args.some((a) => a.includes("qemu-system"))) continue;
    const ref = args.map((a) => /(?:path|file)=([^,]+)/.exec(a)?.[1] ?? a).find((a) => a.startsWith(prefix));
    if (!ref) continue;
    const id = ref.slice(prefix.length).split("/")[0];
    if (existsSync(join4(s.paths.instances, id))) continue;
    const pid = Number(pidText);
    await act(s, { kind: "process", id: `${pid}`, reason: `QEMU of vanished instance ${id}` }, async () => {
      if (isProcessAlive(pid)) process.kill(pid, "SIGKILL");
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
        await rm3(files.dir, { recursive: true, force: true });
      });
    }
  }
  for (const id of await entries(s.paths.snapshots)) {
    const files = snapshotFiles(s.paths, id);
    const record = await readJson(files.record);
    let reason = staleReason(s, record);
    if (!record && await ageMs(files.dir, s.now) < ORPHAN_GRACE_MS) reason = null;
    if (reason)
      await act(s, { kind: "snapshot", id, reason }, () => rm3(files.dir, { recursive: true, force: true }));
  }
}
async function loopDevices(s) {
  const result = await s.privileged.run("losetup", ["--list", "--json", "--output", "NAME,BACK-FILE"]);
  if (result.code !== 0 || !result.stdout.trim()) return [];
  return JSON.parse(result.stdout).loopdevices ?? [];
}
async function mountsOfDevices(devices) {
  const points = (await readMounts()).filter((m) => devices.some((d) => m.source === d || m.source.startsWith(`${d}p`))).map((m) => m.point);
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
    const dir = join4(s.paths.work, name);
    const owner = await readJson(join4(dir, WORK_OWNER_FILE));
    let reason = owner ? staleReason(s, { owner, createdAt: owner.createdAt }) : "no owner record";
    if (!owner && await ageMs(dir, s.now) < ORPHAN_GRACE_MS) reason = null;
    if (!reason) continue;
    for (const point of await mountsBelow(dir)) {
      await act(s, { kind: "mount", id: point, reason }, () => unmount(s, point));
    }
    await act(s, { kind: "file", id: dir, reason }, async () => {
      if ((await mountsBelow(dir)).length) throw new Error(`${dir} still has mounts`);
      const removed = await rm3(dir, { recursive: true, force: true }).then(
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
  for (const name of await readdir(s.paths.images).catch(() => [])) {
    if (!/^\.(staging|deleting)-/.test(name)) continue;
    const dir = join4(s.paths.images, name);
    if (await ageMs(dir, s.now) < ORPHAN_GRACE_MS) continue;
    await act(
      s,
      { kind: "file", id: dir, reason: "interrupted image registration" },
      () => rm3(dir, { recursive: true, force: true })
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
    for (const name of await entries(top)) dirs.push(join4(top, name));
  }
  for (const dir of dirs) {
    for (const name of await readdir(dir).catch(() => [])) {
      const m = /^\..+\.(\d+)\.[0-9a-f]{8}\.tmp$/.exec(name);
      if (!m || isProcessAlive(Number(m[1]))) continue;
      const path = join4(dir, name);
      await act(
        s,
        { kind: "file", id: path, reason: `temp file of dead process ${m[1]}` },
        () => rm3(path, { force: true })
      );
    }
  }
}

// src/providers/local/warm-snapshot.ts
import { createConnection as createConnection2 } from "node:net";
import { chmod as chmod3, mkdir as mkdir3, rename as rename2, rm as rm4, stat as stat2, writeFile as writeFile2 } from "node:fs/promises";
import { join as join5 } from "node:path";
import { createHash, randomBytes as randomBytes3 } from "node:crypto";
import { setTimeout as sleep2 } from "node:timers/promises";
var WARM_FORMAT = 2;
var SNAPSHOT_BOOT_TIMEOUT_MS = 15 * 6e4;
var SAVE_TIMEOUT_MS = 5 * 6e4;
var RESTORE_TIMEOUT_MS = 3 * 6e4;
var IDENTITY_TIMEOUT_MS = 3 * 6e4;
var LOCK_TIMEOUT_MS = 20 * 6e4;
function warmFiles(paths, imageDir) {
  const dir = join5(imageDir, "warm");
  return {
    dir,
    meta: join5(dir, "warm.json"),
    disk: join5(dir, "disk.qcow2"),
    state: join5(dir, "state.bin"),
    memory: join5(dir, "memory.bin"),
    /** Written at the image's first test launch on this host (see noteTestLaunch). */
    launched: join5(dir, "launched"),
    lock: join5(imageDir, "warm.lock")
  };
}
async function warmBootUnsupported() {
  const devices = await captureCommand("qemu-system-x86_64", ["-device", "help"]).catch(() => null);
  if (!devices || devices.code !== 0) return "cannot list QEMU devices";
  for (const device of ["vmgenid", "virtserialport", "virtio-serial-pci"]) {
    if (!devices.stdout.includes(`"${device}"`)) return `this QEMU has no ${device} device`;
  }
  const debugfs = await captureCommand("debugfs", ["-V"]).catch(() => null);
  if (!debugfs || debugfs.code !== 0) return "debugfs (e2fsprogs) is not installed";
  return null;
}
var qemuVersionText = null;
function qemuVersion() {
  qemuVersionText ??= mustRun("launch", "qemu-system-x86_64", ["--version"]).then(
    (out) => out.split("\n")[0].trim()
  );
  return qemuVersionText;
}
async function warmMachine(paths, store, options, image) {
  const accel = await chooseAccel(paths.hostCache);
  const cmdline = image.tags["ovenproof:cmdline"] ?? KERNEL_CMDLINE;
  return machineSpec(options, accel, store.files(image.id), `${cmdline} ${WARM_KERNEL_FLAG}`);
}
async function noteTestLaunch(paths, imageDir) {
  const files = warmFiles(paths, imageDir);
  const before = await stat2(files.launched).then(
    () => true,
    () => false
  );
  if (!before) {
    await mkdir3(files.dir, { mode: 493 }).catch((error) => {
      if (error.code !== "EEXIST") throw error;
    });
    await writeFile2(files.launched, `${(/* @__PURE__ */ new Date()).toISOString()}
`, { mode: 420 });
  }
  return before;
}
async function currentWarmSnapshot(paths, store, options, image) {
  const machine = await warmMachine(paths, store, options, image);
  return readSnapshot2(paths, store.files(image.id).dir, warmKey(image, machine, await qemuVersion()));
}
function warmKey(image, machine, version) {
  const devices = qemuArgs(
    "name",
    machine,
    { drive: "D", console: "C", qmp: "Q", pidfile: "P", agentSocket: "A" },
    null
  );
  const agent = warmAgentFiles().map((f) => [f.path, f.mode, f.symlinkTo ?? "", f.content]);
  return createHash("sha256").update(JSON.stringify({ WARM_FORMAT, image: [image.id, image.createdAt], version, devices, agent })).digest("hex");
}
async function readSnapshot2(paths, imageDir, key) {
  const files = warmFiles(paths, imageDir);
  const meta = await readJson(files.meta);
  if (!meta || meta.key !== key) return null;
  const present = await Promise.all([stat2(files.disk), stat2(files.state), stat2(files.memory)]).then(
    () => true,
    () => false
  );
  return present ? meta : null;
}
async function ensureWarmSnapshot(paths, store, privileged, options, ctx, image) {
  const imageDir = store.files(image.id).dir;
  const machine = await warmMachine(paths, store, options, image);
  const key = warmKey(image, machine, await qemuVersion());
  const existing = await readSnapshot2(paths, imageDir, key);
  if (existing) return existing;
  return withFileLock(
    warmFiles(paths, imageDir).lock,
    async () => {
      const made = await readSnapshot2(paths, imageDir, key);
      if (made) return made;
      ctx.log.info(`warm boot: making the warm snapshot of image ${image.id} (once per image)`);
      const snapshot = await makeWarmSnapshot(paths, store, privileged, ctx, image, machine, key);
      ctx.log.info(
        `warm boot: snapshot of ${image.id} ready (boot ${(snapshot.bootMs / 1e3).toFixed(1)} s, save ${(snapshot.saveMs / 1e3).toFixed(1)} s, RAM ${mib(snapshot.memoryBytes)} MiB, device state ${mib(snapshot.stateBytes)} MiB, disk ${mib(snapshot.diskBytes)} MiB)`
      );
      return snapshot;
    },
    LOCK_TIMEOUT_MS
  );
}
var IGNORE_SHARED_RAM = { capabilities: [{ capability: "x-ignore-shared", state: true }] };
var mib = (bytes) => (bytes / 1048576).toFixed(1);
async function makeWarmSnapshot(paths, store, privileged, ctx, image, machine, key) {
  const imageFiles = store.files(image.id);
  const work = await createWorkDir(paths, "warm-snapshot", ctx.runId);
  const workKey = `file:${work}`;
  await ctx.journal.intend({ key: workKey, provider: "local", kind: "file", data: { path: work } });
  try {
    ctx.progress({ label: "Preparing the warm snapshot disk" });
    const edited = join5(work, "edited.raw");
    await mustRun("launch", "cp", ["--sparse=always", "--reflink=auto", imageFiles.disk, edited]);
    await chmod3(edited, 420);
    await writeGuestFiles(edited, warmAgentFiles(), work);
    const disk = join5(work, "disk.qcow2");
    await createOverlay(edited, "raw", disk);
    await mustRun("launch", "qemu-img", [
      "rebase",
      "-q",
      "-f",
      "qcow2",
      "-b",
      imageFiles.disk,
      "-F",
      "raw",
      disk
    ]);
    await rm4(edited, { force: true });
    const state = join5(work, "state.bin");
    const memory = join5(work, "memory.bin");
    const { booted, bootMs, saveMs } = await bootAndSave(paths, ctx, image, machine, disk, { state, memory });
    await mustRun("launch", "fallocate", ["--dig-holes", memory]);
    for (const file of [disk, state, memory]) await chmod3(file, 292);
    const diskStat = await stat2(disk);
    const snapshot = {
      format: WARM_FORMAT,
      key,
      imageId: image.id,
      qemuVersion: await qemuVersion(),
      machine,
      createdAt: (/* @__PURE__ */ new Date()).toISOString(),
      stateBytes: (await stat2(state)).size,
      memoryBytes: (await stat2(memory)).blocks * 512,
      diskBytes: diskStat.blocks * 512,
      bootMs,
      saveMs,
      booted
    };
    await writeFileAtomic(join5(work, "warm.json"), JSON.stringify(snapshot, null, 2) + "\n", 292);
    const files = warmFiles(paths, imageFiles.dir);
    const previous = `${files.dir}.old-${randomBytes3(3).toString("hex")}`;
    await rename2(files.dir, previous).catch((error) => {
      if (error.code !== "ENOENT") throw error;
    });
    await mkdir3(files.dir, { mode: 493 });
    for (const name of ["disk.qcow2", "state.bin", "memory.bin", "warm.json"])
      await rename2(join5(work, name), join5(files.dir, name));
    await writeFile2(files.launched, `${snapshot.createdAt}
`, { mode: 420 });
    await rm4(previous, { recursive: true, force: true });
    await store.updateManifest(image.id, (m) => {
      m.sizes = {
        ...m.sizes,
        warmSnapshotBytes: snapshot.stateBytes + snapshot.memoryBytes + snapshot.diskBytes
      };
    });
    return snapshot;
  } finally {
    await removeWorkDir(work, privileged);
    await ctx.journal.deleted(workKey).catch(() => void 0);
  }
}
async function writeGuestFiles(diskFile, files, scratch) {
  const commands = [];
  const dirs = /* @__PURE__ */ new Set();
  for (const file of files) {
    const parts = file.path.split("/").slice(1, -1);
    for (let i = 1; i <= parts.length; i++) dirs.add("/" + parts.slice(0, i).join("/"));
  }
  for (const dir of [...dirs].sort((a, b) => a.length - b.length)) commands.push(`mkdir ${dir}`);
  for (const [index, file] of files.entries()) {
    if (/\s|"/.test(file.path))
      throw new Error(`guest file path ${JSON.stringify(file.path)} has spaces or quotes`);
    commands.push(`rm ${file.path}`);
    if (file.symlinkTo) {
      commands.push(`symlink ${file.path} ${file.symlinkTo}`);
      continue;
    }
    const local = join5(scratch, `guest-file-${index}`);
    await writeFile2(local, file.content, { mode: 384 });
    commands.push(`write ${local} ${file.path}`);
    commands.push(`sif ${file.path} mode 0${(32768 | file.mode).toString(8)}`);
    commands.push(`sif ${file.path} uid 0`, `sif ${file.path} gid 0`);
  }
  const script = join5(scratch, "debugfs-commands");
  await writeFile2(script, commands.join("\n") + "\n");
  await mustRun("launch", "debugfs", ["-w", "-f", script, diskFile]);
  for (const [index, file] of files.entries()) {
    const got = await mustRun("launch", "debugfs", [
      "-R",
      file.symlinkTo ? `stat ${file.path}` : `cat ${file.path}`,
      diskFile
    ]);
    const ok = file.symlinkTo ? got.includes(`Fast link dest: "${file.symlinkTo}"`) : got === file.content;
    if (!ok) throw new PipelineError("launch", `writing ${file.path} into the warm snapshot disk failed`);
    await rm4(join5(scratch, `guest-file-${index}`), { force: true });
  }
  await rm4(script, { force: true });
}
async function bootAndSave(paths, ctx, image, machine, disk, saved) {
  const spec = {
    imageId: image.id,
    purpose: "builder",
    identity: { hostname: "warm-snapshot", authorizedKey: "", hostKeyPrivate: "", hostKeyPublic: "" },
    ttlMs: SNAPSHOT_BOOT_TIMEOUT_MS + SAVE_TIMEOUT_MS,
    sshUser: "root"
  };
  let id = "";
  const result = await withNewInstance(paths, ctx, spec, async (newId, ttlMs, expiresAt) => {
    id = newId;
    const files = instanceFiles(paths, id);
    const record = await newInstanceRecord(paths, ctx, spec, id, image.id, expiresAt);
    ctx.progress({ label: `Booting the warm snapshot VM ${id} (${machine.accel})` });
    const started = Date.now();
    await spawnQemu(
      paths,
      ctx,
      record,
      ttlMs,
      () => qemuArgs(
        `ovenproof-${id}`,
        machine,
        {
          drive: disk,
          console: files.console,
          qmp: files.qmp,
          pidfile: files.pidfile,
          agentSocket: files.agent,
          memory: { file: saved.memory, shared: true }
        },
        null
      )
    );
    const agent = await AgentChannel.connect(files.agent, ctx.signal);
    try {
      const ready = await agent.nextLine(SNAPSHOT_BOOT_TIMEOUT_MS, ctx.signal);
      const match = /^ready machine-id=(\S+) hostname=(\S+) urandom=([0-9a-f]{32})$/.exec(ready);
      if (!match) throw new PipelineError("launch", `warm snapshot agent said ${JSON.stringify(ready)}`);
      const bootMs = Date.now() - started;
      ctx.progress({ label: "Saving the warm snapshot" });
      const saving = Date.now();
      await qmpCommand(files.qmp, "stop", 1e4);
      await qmpCommand(files.qmp, "migrate-set-capabilities", 1e4, IGNORE_SHARED_RAM);
      await qmpCommand(files.qmp, "migrate", 1e4, { uri: `exec:cat > ${shellQuote(saved.state)}` });
      await waitForMigration(files.qmp, ctx.signal);
      const saveMs = Date.now() - saving;
      await qmpCommand(files.qmp, "quit", 1e4).catch(() => void 0);
      return { booted: { machineId: match[1], hostname: match[2], urandom: match[3] }, bootMs, saveMs };
    } finally {
      agent.close();
    }
  });
  await destroyInstance(paths, id, 1e4, ctx.log);
  await ctx.journal.deleted(instanceKey(id)).catch(() => void 0);
  return result;
}
async function waitForMigration(qmp, signal) {
  const deadline = Date.now() + SAVE_TIMEOUT_MS;
  for (; ; ) {
    signal.throwIfAborted();
    const info = await qmpCommand(qmp, "query-migrate", 1e4);
    if (info.status === "completed") return;
    if (info.status === "failed" || info.status === "cancelled") {
      throw new PipelineError(
        "launch",
        `saving the warm snapshot failed: ${info["error-desc"] ?? info.status}`
      );
    }
    if (Date.now() > deadline) throw new PipelineError("launch", "saving the warm snapshot timed out");
    await sleep2(100);
  }
}
async function resumeRestored(qmp, signal) {
  const deadline = Date.now() + RESTORE_TIMEOUT_MS;
  for (; ; ) {
    signal.throwIfAborted();
    const { status } = await qmpCommand(qmp, "query-status", 1e4);
    if (status === "running") return;
    if (status !== "inmigrate" && status !== "prelaunch") {
      const migration = await qmpCommand(qmp, "query-migrate", 1e4);
      if (status === "paused" && migration.status === "completed") {
        await qmpCommand(qmp, "cont", 1e4);
        return;
      }
      throw new PipelineError(
        "launch",
        `restoring the warm snapshot failed (VM ${status ?? "unknown"}, state load ${migration.status ?? "unknown"}${migration["error-desc"] ? `: ${migration["error-desc"]}` : ""})`
      );
    }
    if (Date.now() > deadline) throw new PipelineError("launch", "restoring the warm snapshot timed out");
    await sleep2(5);
  }
}
async function restoreWarmSnapshot(paths, ctx, spec, snapshot, imageDir) {
  ctx.log.mask(spec.identity.hostKeyPrivate);
  const warm = warmFiles(paths, imageDir);
  return withNewInstance(paths, ctx, spec, async (id, ttlMs, expiresAt) => {
    const files = instanceFiles(paths, id);
    const record = await newInstanceRecord(paths, ctx, spec, id, snapshot.imageId, expiresAt);
    record.boot = "restored";
    const steps = [];
    ctx.progress({ label: `Restoring instance ${id} from the warm snapshot (${snapshot.machine.accel})` });
    let agent = null;
    try {
      const ports = await timedStep(steps, "restore", async () => {
        await createOverlay(warm.disk, "qcow2", files.overlay);
        const offered = await spawnQemu(
          paths,
          ctx,
          record,
          ttlMs,
          (p) => qemuArgs(
            `ovenproof-${id}`,
            snapshot.machine,
            {
              drive: files.overlay,
              console: files.console,
              qmp: files.qmp,
              pidfile: files.pidfile,
              agentSocket: files.agent,
              memory: { file: warm.memory, shared: false },
              incoming: "defer"
            },
            p
          )
        );
        await qmpCommand(files.qmp, "migrate-set-capabilities", 1e4, IGNORE_SHARED_RAM);
        await qmpCommand(files.qmp, "migrate-incoming", 1e4, {
          uri: `exec:cat ${shellQuote(warm.state)}`
        });
        agent = await AgentChannel.connect(files.agent, ctx.signal);
        agent.send(
          [
            `entropy-hex=${randomBytes3(64).toString("hex")}`,
            formatIdentityDocument({ instanceId: id, identity: spec.identity, sshUser: spec.sshUser, ttlMs })
          ].join("\n")
        );
        await resumeRestored(files.qmp, ctx.signal);
        return offered;
      });
      await timedStep(steps, "identity", async () => {
        for (; ; ) {
          const said = await agent.nextLine(IDENTITY_TIMEOUT_MS, ctx.signal);
          if (said === "time?") agent.send(`clock=${(Date.now() / 1e3).toFixed(3)}`);
          else if (said === "applied") break;
          else throw new PipelineError("launch", `the clone's agent answered ${JSON.stringify(said)}`);
        }
      });
      const info = instanceInfo(record, spec, ports);
      delete info.networkProbe;
      return { ...info, boot: "restored", steps };
    } finally {
      agent?.close();
    }
  });
}
function shellQuote(path) {
  if (path.includes("'")) throw new Error(`path ${JSON.stringify(path)} contains a quote`);
  return `'${path}'`;
}
var AgentChannel = class _AgentChannel {
  constructor(socket) {
    this.socket = socket;
    socket.setEncoding("utf8");
    socket.on("data", (chunk) => {
      this.buffer += chunk;
      this.waiting?.();
    });
    socket.on("close", () => {
      this.closed = true;
      this.waiting?.();
    });
    socket.on("error", () => void 0);
  }
  socket;
  buffer = "";
  waiting = null;
  closed = false;
  /** Connects as soon as QEMU has created the socket. */
  static async connect(path, signal, timeoutMs = 3e4) {
    const deadline = Date.now() + timeoutMs;
    for (; ; ) {
      signal.throwIfAborted();
      try {
        const socket = await new Promise((resolve, reject) => {
          const s = createConnection2(path);
          s.once("connect", () => resolve(s));
          s.once("error", reject);
        });
        return new _AgentChannel(socket);
      } catch (error) {
        if (Date.now() > deadline) {
          throw new PipelineError(
            "launch",
            `cannot connect to the agent channel ${path}: ${errorMessage(error)}`
          );
        }
        await sleep2(20);
      }
    }
  }
  async nextLine(timeoutMs, signal) {
    const deadline = Date.now() + timeoutMs;
    for (; ; ) {
      const nl = this.buffer.indexOf("\n");
      if (nl >= 0) {
        const line = this.buffer.slice(0, nl).trim();
        this.buffer = this.buffer.slice(nl + 1);
        return line;
      }
      signal.throwIfAborted();
      if (this.closed) throw new PipelineError("launch", "the agent channel closed (QEMU exited?)");
      const left = deadline - Date.now();
      if (left <= 0)
        throw new PipelineError(
          "launch",
          `no answer from the guest agent within ${Math.round(timeoutMs / 1e3)} s`
        );
      await new Promise((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 1e3));
        this.waiting = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.waiting = null;
    }
  }
  send(text) {
    this.socket.write(text.endsWith("\n") ? text : text + "\n");
  }
  close() {
    this.socket.destroy();
  }
};

// src/providers/local/provider.ts
var LocalProvider = class {
  name = "local";
  paths;
  store;
  /** Runs root-only commands directly as root or via `sudo -n`; the baker uses it for its chroot steps. */
  privileged = new Privileged();
  log;
  instanceOptions;
  warmUnsupported = null;
  constructor(options = {}) {
    this.paths = localPaths(options.home ?? ovenproofHome());
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
  async untagImage(_ctx, id, keys) {
    await this.store.tag(id, {}, keys);
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
      return errorMessage(error);
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
    await rm5(snapshotFiles(this.paths, from.snapshotId).dir, { recursive: true, force: true });
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
  /**
   * Test instances with `warmBoot: auto` are restored from the image's warm snapshot. The snapshot is
   * made at the image's second test launch on this host, not its first: making one boots the image
   * anyway and then saves it, which costs more than a plain cold boot, so it pays only for an image
   * that is launched again (a job on a fresh runner launches its image once). Anything that goes wrong
   * on that path costs one warning and a cold boot, never the run.
   */
  async launch(ctx, spec) {
    await requireTools("launching a local instance", INSTANCE_TOOLS);
    if (spec.purpose === "test") {
      const launchedBefore = await noteTestLaunch(this.paths, this.store.files(spec.imageId).dir).catch(
        (error) => {
          ctx.log.debug(`cannot note the launch of ${spec.imageId}: ${errorMessage(error)}`);
          return false;
        }
      );
      if (spec.warmBoot === "auto") {
        const restored = await this.restore(ctx, spec, launchedBefore).catch((error) => {
          if (ctx.signal.aborted) throw error;
          ctx.log.warn(`warm boot failed, booting cold instead: ${errorMessage(error)}`);
          return null;
        });
        if (restored) return restored;
      }
    }
    return bootCold(this.paths, this.store, this.instanceOptions, ctx, spec);
  }
  async restore(ctx, spec, launchedBefore) {
    const why = await (this.warmUnsupported ??= warmBootUnsupported());
    if (why) {
      ctx.log.info(`warm boot is not available on this host (${why}): booting cold`);
      return null;
    }
    const image = await this.store.require(spec.imageId);
    const current = await currentWarmSnapshot(this.paths, this.store, this.instanceOptions, image);
    if (!current && !launchedBefore) {
      ctx.log.info(
        `warm boot: first launch of image ${image.id} here, booting cold (its next launch makes the warm snapshot)`
      );
      return null;
    }
    const snapshot = current ?? await ensureWarmSnapshot(this.paths, this.store, this.privileged, this.instanceOptions, ctx, image);
    return restoreWarmSnapshot(this.paths, ctx, spec, snapshot, this.store.files(image.id).dir);
  }
  async stopInstance(ctx, id) {
    ctx.progress({ label: `Stopping instance ${id}` });
    await stopInstance(this.paths, id, this.instanceOptions.stopTimeoutMs, ctx.log);
  }
  async createImageFromInstance(ctx, instanceId, manifest) {
    const record = await readInstance(this.paths, instanceId);
    if (!record) throw new PipelineError("bake", `local instance ${instanceId} does not exist`);
    if (record.qemuPid && isProcessAlive(record.qemuPid) && record.state !== "stopped") {
      throw new PipelineError("bake", `instance ${instanceId} is still running: stop it before imaging it`);
    }
    const work = await this.createWorkDir(ctx, "image-from-instance");
    const key = `file:${work}`;
    await ctx.journal.intend({ key, provider: "local", kind: "file", data: { path: work } });
    try {
      const disk = join6(work, "disk.raw");
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
  async captureFailureImage(ctx, instanceId, request) {
    const work = await this.createWorkDir(ctx, "failure-image");
    const key = `file:${work}`;
    await ctx.journal.intend({ key, provider: "local", kind: "file", data: { path: work } });
    try {
      const { disk, imageId } = await copyRunningInstanceDisk(this.paths, ctx, instanceId, work);
      const parent = await this.store.require(imageId);
      const image = await this.registerDisk(ctx, disk, imageId, {
        name: `failure-of-${ctx.runId}`,
        os: parent.os,
        arch: parent.arch,
        parent: parent.id,
        packages: parent.packages,
        bakeKey: null,
        tags: failureImageTags(ctx.runId, request)
      });
      await ctx.journal.kept(`image:${image.id}`);
      return image;
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
    return readFile4(instanceFiles(this.paths, id).console, "utf8").catch(() => "");
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
        return rm5(snapshotFiles(this.paths, id).dir, { recursive: true, force: true });
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
        else await rm5(path, { recursive: true, force: true });
        return;
      }
      case "process": {
        const pid = Number(data.pid ?? entry.id);
        if (Number.isInteger(pid) && pid > 0 && isProcessAlive(pid)) process.kill(pid, "SIGKILL");
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
  LocalProvider,
  createLocalProvider
};
//# sourceMappingURL=chunk-OOFDLYCT.js.map
