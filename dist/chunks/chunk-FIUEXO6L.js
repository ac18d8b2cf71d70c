import { createRequire as __opCreateRequire } from 'node:module'; import { fileURLToPath as __opFileURLToPath } from 'node:url'; import { dirname as __opDirname } from 'node:path'; const require = __opCreateRequire(import.meta.url); var __filename = __opFileURLToPath(import.meta.url); var __dirname = __opDirname(__filename);

// src/providers/failure-image.ts
var FAILURE_OF_TAG = "ovenproof:failure-of";
var FAILED_TESTS_TAG = "ovenproof:failed-tests";
var TAG_VALUE_MAX = 256;
function failingTestsTag(names, max = TAG_VALUE_MAX) {
  const clean = names.map((name) => name.replace(/\s+/g, " ").trim()).filter(Boolean);
  let text = "";
  for (let i = 0; i < clean.length; i++) {
    const candidate = (text ? `${text}, ` : "") + clean[i];
    const remaining = clean.length - i - 1;
    const suffix = remaining ? ` (+${remaining} more)` : "";
    if (candidate.length + suffix.length <= max) {
      text = candidate;
      continue;
    }
    if (text) return `${text} (+${clean.length - i} more)`;
    return `${candidate.slice(0, max - suffix.length - 1)}\u2026${suffix}`;
  }
  return text;
}
function failureImageTags(runId, request) {
  return {
    [FAILURE_OF_TAG]: runId,
    ...request.commit ? { "ovenproof:commit": request.commit } : {},
    [FAILED_TESTS_TAG]: failingTestsTag(request.failingTests),
    "ovenproof:expires-at": request.expiresAt.toISOString().replace(/\.\d{3}Z$/, "Z")
  };
}

// src/providers/identity/init.ts
import { chmod, mkdir, rm, symlink, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
var IDENTITY_SCRIPT_PATH = "/usr/local/sbin/ovenproof-identity";
var IDENTITY_UNIT_PATH = "/etc/systemd/system/ovenproof-identity.service";
var TTL_UNIT_PATH = "/etc/systemd/system/ovenproof-ttl.service";
var IDENTITY_DOCUMENT_NAME = "ovenproof-identity";
var IDENTITY_STATE_DIR = "/var/lib/ovenproof";
var b64 = (text) => Buffer.from(text, "utf8").toString("base64");
function formatIdentityDocument(input) {
  const { identity } = input;
  for (const [name, value] of [
    ["hostname", identity.hostname],
    ["ssh user", input.sshUser],
    ["instance id", input.instanceId]
  ]) {
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/.test(value)) {
      throw new Error(
        `identity ${name} ${JSON.stringify(value)} must be 1-63 letters, digits, '.', '_' or '-'`
      );
    }
  }
  return [
    "#ovenproof-identity 1",
    `instance-id=${input.instanceId}`,
    `hostname=${identity.hostname}`,
    `ssh-user=${input.sshUser}`,
    `ttl-seconds=${Math.max(60, Math.ceil(input.ttlMs / 1e3))}`,
    `authorized-key-b64=${b64(identity.authorizedKey.trim() + "\n")}`,
    `host-key-public-b64=${b64(identity.hostKeyPublic.trim() + "\n")}`,
    `host-key-private-b64=${b64(identity.hostKeyPrivate.trim() + "\n")}`,
    "#end-ovenproof-identity",
    ""
  ].join("\n");
}
var SCRIPT = String.raw`#!/bin/sh
# ovenproof per-instance identity (hostname, host key, login key), run before sshd starts.
# Never prints key material: only the hostname and the host key fingerprint reach the journal.
set -eu
umask 077
state=@STATE_DIR@
doc=/run/ovenproof/identity
[ -d "$state" ] && [ -d /run/ovenproof ] || mkdir -p "$state" /run/ovenproof
trap 'rm -f "$doc"' EXIT

log() { echo "ovenproof-identity: $*"; }

# Local provider: the seed disk named on the kernel command line holds a tar with the document.
from_seed() {
  dev=
  read -r cmdline </proc/cmdline
  for word in $cmdline; do
    case "$word" in ovenproof.seed=*) dev=@{word#ovenproof.seed=} ;; esac
  done
  [ -n "$dev" ] || return 1
  i=0
  while [ ! -b "$dev" ] && [ "$i" -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
  tar -xOf "$dev" @DOC_NAME@ >"$doc"
}

# EC2: the document is (embedded in) the user data, read through IMDSv2.
from_imds() {
  command -v curl >/dev/null 2>&1 || return 1
  i=0
  while [ "$i" -lt 30 ]; do
    if token=$(curl -fsS -m 2 -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 300' \
      http://169.254.169.254/latest/api/token 2>/dev/null); then
      curl -fsS -m 5 -H "X-aws-ec2-metadata-token: $token" \
        http://169.254.169.254/latest/user-data >"$doc.raw" 2>/dev/null || return 1
      sed -n '/^#ovenproof-identity /,/^#end-ovenproof-identity/p' "$doc.raw" >"$doc"
      rm -f "$doc.raw"
      [ -s "$doc" ] && return 0
      return 1
    fi
    i=$((i + 1))
    sleep 1
  done
  return 1
}

# Local warm boot: the restored clone's agent received the document over its serial channel.
from_agent() {
  [ -n "@{OVENPROOF_IDENTITY_DOCUMENT:-}" ] && [ -s "$OVENPROOF_IDENTITY_DOCUMENT" ] || return 1
  mv "$OVENPROOF_IDENTITY_DOCUMENT" "$doc"
}

if ! from_agent && ! from_seed && ! from_imds; then
  log "no identity document found; keeping or generating local host keys"
  [ -e /etc/ssh/ssh_host_ed25519_key ] || ssh-keygen -A >/dev/null
  [ -s /etc/machine-id ] || systemd-machine-id-setup >/dev/null
  exit 0
fi

instance= host= user= ttl= authorized= hostpub= hostpriv=
while read -r line; do
  case "$line" in
    instance-id=*) instance=@{line#*=} ;;
    hostname=*) host=@{line#*=} ;;
    ssh-user=*) user=@{line#*=} ;;
    ttl-seconds=*) ttl=@{line#*=} ;;
    authorized-key-b64=*) authorized=@{line#*=} ;;
    host-key-public-b64=*) hostpub=@{line#*=} ;;
    host-key-private-b64=*) hostpriv=@{line#*=} ;;
  esac
done <"$doc"

valid() {
  case "$1" in '' | [!A-Za-z0-9]* | *[!A-Za-z0-9._-]*) return 1 ;; esac
  [ @{#1} -le 63 ]
}
if ! valid "$instance" || ! valid "$host" || ! valid "$user" || [ -z "$hostpriv" ] || [ -z "$authorized" ]; then
  log "malformed identity document"
  exit 1
fi

# A state file left empty (a disk copied while the file was being written) reads as nothing applied.
applied=
[ -r "$state/instance-id" ] && read -r applied <"$state/instance-id" || true
if [ "$applied" = "$instance" ]; then
  log "identity of $instance already applied"
  exit 0
fi

# Hostname from the instance identity (public files: the default umask while writing them).
umask 022
printf '%s\n' "$host" >/etc/hostname
printf '%s' "$host" >/proc/sys/kernel/hostname
printf '127.0.0.1\tlocalhost\n127.0.1.1\t%s\n::1\tlocalhost ip6-localhost ip6-loopback\n' "$host" >/etc/hosts

# The run's host key replaces every other host key, so clients can only ever see the pinned one.
rm -f /etc/ssh/ssh_host_*_key /etc/ssh/ssh_host_*_key.pub
printf '%s' "$hostpub" | base64 -d >/etc/ssh/ssh_host_ed25519_key.pub
umask 077
printf '%s' "$hostpriv" | base64 -d >/etc/ssh/ssh_host_ed25519_key

# The run's client key becomes the only authorized key of the login user.
if [ "$user" = root ]; then
  home=/root
else
  if ! getent passwd "$user" >/dev/null; then
    useradd --create-home --shell /bin/bash "$user"
    printf '%s ALL=(ALL) NOPASSWD:ALL\n' "$user" >"/etc/sudoers.d/90-ovenproof-$user"
    chmod 440 "/etc/sudoers.d/90-ovenproof-$user"
  fi
  home=$(getent passwd "$user" | cut -d: -f6)
fi
[ -d "$home/.ssh" ] || mkdir "$home/.ssh"
printf '%s' "$authorized" | base64 -d >"$home/.ssh/authorized_keys"
chmod 700 "$home/.ssh"
[ "$user" = root ] || chown -R "$user:$(id -gn "$user")" "$home/.ssh"

# A fresh machine-id. With hygiene the image has none and systemd made one at this boot (commit it if
# it is only a transient mount); an image that kept the previous instance's id gets a new one.
current= previous= transient=
[ -r /etc/machine-id ] && read -r current </etc/machine-id || true
[ -r "$state/machine-id" ] && read -r previous <"$state/machine-id" || true
while read -r _ point _; do [ "$point" = /etc/machine-id ] && transient=1; done </proc/self/mounts
if [ -n "$transient" ]; then
  systemd-machine-id-setup --commit >/dev/null
elif [ -z "$current" ] || [ "$current" = "$previous" ]; then
  rm -f /etc/machine-id
  systemd-machine-id-setup >/dev/null
fi
read -r current </etc/machine-id
printf '%s\n' "$current" >"$state/machine-id"

# Guest-side dead-man switch: ovenproof-ttl.service powers off after this many seconds.
case "$ttl" in
  '' | *[!0-9]*) ;;
  *) printf '%s\n' "$ttl" >/run/ovenproof/ttl-seconds ;;
esac

printf '%s\n' "$instance" >"$state/instance-id"
read -r keytype keyblob _ </etc/ssh/ssh_host_ed25519_key.pub
log "instance $instance: hostname $host, login $user, host key $keytype $keyblob"
`.replaceAll("@{", "${").replace("@STATE_DIR@", IDENTITY_STATE_DIR).replace("@DOC_NAME@", IDENTITY_DOCUMENT_NAME);
var UNIT = `[Unit]
Description=ovenproof per-instance identity (hostname, SSH keys, machine-id)
DefaultDependencies=no
# The root filesystem is mounted read-write before systemd starts, so waiting for local-fs.target
# would only delay sshd: start as soon as the journal can take the output. Pulled in by sysinit.target
# but not ordered before it, so that the EC2 path (which waits for the network) blocks only sshd.
After=systemd-journald.socket systemd-remount-fs.service
Before=ssh.service sshd.service systemd-user-sessions.service
ConditionPathExists=${IDENTITY_SCRIPT_PATH}

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=${IDENTITY_SCRIPT_PATH}
StandardOutput=journal+console

[Install]
WantedBy=sysinit.target
`;
var TTL_UNIT = `[Unit]
Description=ovenproof dead-man switch: power off after the instance TTL
After=ovenproof-identity.service
ConditionPathExists=/run/ovenproof/ttl-seconds

[Service]
Type=simple
# $$ passes a literal $ through systemd's own variable expansion to the shell.
ExecStart=/bin/sh -c 'read -r ttl </run/ovenproof/ttl-seconds && sleep "$$ttl" && exec systemctl --no-block poweroff'

[Install]
WantedBy=multi-user.target
`;
function identityInitFiles() {
  return [
    { path: IDENTITY_SCRIPT_PATH, content: SCRIPT, mode: 493 },
    { path: IDENTITY_UNIT_PATH, content: UNIT, mode: 420 },
    {
      path: "/etc/systemd/system/sysinit.target.wants/ovenproof-identity.service",
      content: "",
      mode: 511,
      symlinkTo: IDENTITY_UNIT_PATH
    },
    { path: TTL_UNIT_PATH, content: TTL_UNIT, mode: 420 },
    {
      path: "/etc/systemd/system/multi-user.target.wants/ovenproof-ttl.service",
      content: "",
      mode: 511,
      symlinkTo: TTL_UNIT_PATH
    }
  ];
}
async function installIdentityInit(rootDir) {
  for (const file of identityInitFiles()) {
    const target = join(rootDir, file.path);
    await mkdir(dirname(target), { recursive: true });
    await rm(target, { force: true });
    if (file.symlinkTo) {
      await symlink(file.symlinkTo, target);
    } else {
      await writeFile(target, file.content, { mode: file.mode });
      await chmod(target, file.mode);
    }
  }
}

// src/common/host/process.ts
import { readFileSync } from "node:fs";
function isProcessAlive(pid) {
  try {
    process.kill(pid, 0);
  } catch (error) {
    if (error.code !== "EPERM") return false;
  }
  return !/^[ZX]$/.test(procStatField(pid, 3) ?? "");
}
function procStatField(pid, n) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[n - 3] ?? null;
  } catch {
    return null;
  }
}

export {
  FAILURE_OF_TAG,
  failureImageTags,
  IDENTITY_SCRIPT_PATH,
  IDENTITY_UNIT_PATH,
  IDENTITY_DOCUMENT_NAME,
  IDENTITY_STATE_DIR,
  formatIdentityDocument,
  identityInitFiles,
  installIdentityInit,
  isProcessAlive,
  procStatField
};
//# sourceMappingURL=chunk-FIUEXO6L.js.map
