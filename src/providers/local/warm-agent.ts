/**
 * The in-guest half of the local warm boot. A warm snapshot's disk is a copy of the image with these
 * files added (written with debugfs, so neither the image nor the base recipe changes):
 *
 * - the agent script and its unit, started only when the kernel command line carries `ovenproof.warm`
 *   (the snapshot boot, and so every clone restored from it);
 * - drop-ins that keep the image's own identity init and sshd from starting in such a boot: the VM is
 *   saved while it has no host keys, no authorized key and no identity of any kind;
 * - the current identity init script, which also takes its document from a file the agent names.
 *
 * In the snapshot boot the agent waits until the boot has settled, says `ready` on its virtio-serial
 * port and blocks reading it; the host saves the VM there. In every clone the same read returns that
 * clone's identity: the agent adds the host's entropy to the kernel pool (RNDADDENTROPY) and reseeds
 * the CRNG, writes a fresh machine-id, asks for the host's time and sets the clock, applies hostname
 * and keys through the identity init, answers `applied` and starts sshd. A cold boot of the same disk (no `ovenproof.warm`) behaves exactly
 * like the image: the agent stays off and the identity init and sshd start as usual.
 */
import { IDENTITY_SCRIPT_PATH, IDENTITY_UNIT_PATH, identityInitFiles } from '../identity/index.js';

/** Kernel command-line word that marks a warm-snapshot boot. */
export const WARM_KERNEL_FLAG = 'ovenproof.warm';
/** Name of the virtio-serial port (the guest sees /dev/virtio-ports/NAME). */
export const WARM_PORT_NAME = 'org.ovenproof.agent';
export const WARM_AGENT_PATH = '/usr/local/sbin/ovenproof-warm-agent';
export const WARM_AGENT_UNIT_PATH = '/etc/systemd/system/ovenproof-warm-agent.service';
/** Exists in a clone once its identity is applied; sshd's warm drop-in waits for it. */
const APPLIED_MARKER = '/run/ovenproof/warm-identity-applied';

export interface GuestFile {
  path: string;
  content: string;
  mode: number;
  symlinkTo?: string;
}

// `@{` stands for the shell's `${` (a template literal would interpolate it).
const AGENT = String.raw`#!/bin/sh
# ovenproof warm-boot agent: waits on a virtio-serial port for this clone's identity.
# Never prints key material.
set -eu
umask 077
port=/dev/virtio-ports/@PORT@
run=/run/ovenproof
doc=$run/warm-identity
[ -d "$run" ] || mkdir -p "$run"
log() { echo "ovenproof-warm-agent: $*"; }

i=0
while [ ! -c "$port" ]; do
  if [ "$i" -ge 600 ]; then log "no serial port $port"; exit 1; fi
  sleep 0.1
  i=$((i + 1))
done
# Say ready only once the boot has settled, so that a clone resumes into an idle system.
timeout 600 systemctl is-system-running --wait >/dev/null 2>&1 || true
# The saved state holds every guest page that is not all zeros, and pages freed by the boot still hold
# their old bytes. Drop the page cache, then fill most of the free memory with zeros once and free it
# again: the pages go back to the free list zeroed, the state shrinks to what is really in use, and
# every restore loads that much less.
sync
echo 3 >/proc/sys/vm/drop_caches
zero=$run/zero-fill
mkdir -p "$zero"
if mount -t tmpfs -o size=100% ovenproof-zero-fill "$zero" 2>/dev/null; then
  free_mib=$(awk '/^MemAvailable:/ { print int($2 / 1024) }' /proc/meminfo)
  [ "$free_mib" -gt 96 ] && dd if=/dev/zero of="$zero/fill" bs=1M count=$((free_mib - 64)) 2>/dev/null || true
  umount "$zero"
fi
rmdir "$zero"
exec 3<>"$port"
booted=none
[ -s /etc/machine-id ] && read -r booted </etc/machine-id
random=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
printf 'ready machine-id=%s hostname=%s urandom=%s\n' "$booted" "$(hostname)" "$random" >&3
log "waiting for an identity"

# The snapshot is taken here. A read while no host is connected returns end-of-file: try again shortly.
: >"$doc"
entropy=
while :; do
  if ! IFS= read -r line <&3; then
    sleep 0.02
    continue
  fi
  case "$line" in
    entropy-hex=*) entropy=@{line#entropy-hex=} ;;
    *) printf '%s\n' "$line" >>"$doc" ;;
  esac
  [ "$line" = '#end-ovenproof-identity' ] && break
done

fail() {
  log "$*"
  printf 'failed %s\n' "$*" >&3
  exit 1
}
# Clones share the snapshot's kernel RNG state: add the host's fresh bytes to the input pool
# (RNDADDENTROPY), rekey the CRNG at once (RNDRESEEDCRNG) instead of at its next interval, then draw a
# fresh machine-id from it (the snapshot's was made at its boot, often only mounted over the empty file).
# The clock resumes from the snapshot: ask the host for its time and set it (settimeofday, x86_64
# syscall 164) in the same process, so that no fork or exec delays it.
case "$entropy" in
  '' | *[!0-9a-f]*) fail "no entropy in the identity" ;;
esac
while read -r _ point _; do
  [ "$point" = /etc/machine-id ] && umount /etc/machine-id
done </proc/self/mounts
printf '%s' "$entropy" | perl -e '
  my $bytes = pack("H*", scalar <STDIN>);
  open(my $rng, "<", "/dev/urandom") or die "open /dev/urandom: $!\n";
  my $info = pack("ii", 8 * length($bytes), length($bytes)) . $bytes;
  ioctl($rng, 0x40085203, $info) or die "RNDADDENTROPY: $!\n";
  ioctl($rng, 0x5207, 0) or die "RNDRESEEDCRNG: $!\n";
  sysread($rng, my $id, 16) == 16 or die "read /dev/urandom: $!\n";
  umask 022;
  open(my $out, ">", "/etc/machine-id.new") or die "write /etc/machine-id: $!\n";
  print $out unpack("H*", $id), "\n";
  close($out) or die "write /etc/machine-id: $!\n";
  rename("/etc/machine-id.new", "/etc/machine-id") or die "rename /etc/machine-id: $!\n";
  open(my $port, "+<&=", 3) or die "serial port: $!\n";
  select((select($port), $| = 1)[0]);
  print $port "time?\n";
  my $answer = <$port>;
  defined $answer && $answer =~ /^clock=(\d+)\.(\d{3})$/ or die "the host sent no time\n";
  syscall(164, pack("qq", $1, $2 * 1000), 0) == 0 or die "settimeofday: $!\n";
' || fail "cannot reseed the kernel RNG or set the clock"

OVENPROOF_IDENTITY_DOCUMENT=$doc @IDENTITY_SCRIPT@ || fail "the identity init failed"
: >@APPLIED@
# Answer once sshd is up (the unit is Type=notify: the start returns when sshd listens), so the host's
# first connection attempt succeeds instead of backing off while sshd starts.
systemctl start ssh.service || fail "sshd did not start"
printf 'applied\n' >&3
[ ! -s "$run/ttl-seconds" ] || systemctl start --no-block ovenproof-ttl.service
log "identity applied, sshd started"
`
  .replaceAll('@{', '${')
  .replace('@PORT@', WARM_PORT_NAME)
  .replace('@IDENTITY_SCRIPT@', IDENTITY_SCRIPT_PATH)
  .replace('@APPLIED@', APPLIED_MARKER);

const AGENT_UNIT = `[Unit]
Description=ovenproof warm-boot agent (waits for this clone's identity on a serial channel)
ConditionKernelCommandLine=${WARM_KERNEL_FLAG}

[Service]
Type=simple
ExecStart=${WARM_AGENT_PATH}
StandardOutput=journal+console

[Install]
WantedBy=multi-user.target
`;

/** The image's identity init never runs in a warm boot: the agent applies the identity after restore. */
const IDENTITY_DROP_IN = `[Unit]
ConditionKernelCommandLine=!${WARM_KERNEL_FLAG}
`;

/**
 * sshd starts as usual in a cold boot, and in a warm one only once the clone has its identity. The
 * configuration test before the start (a whole extra sshd run, about a second of emulated CPU in a
 * freshly restored guest) is left out: the configuration is the image's, unchanged since its bake.
 */
const SSH_DROP_IN = `[Unit]
ConditionKernelCommandLine=|!${WARM_KERNEL_FLAG}
ConditionPathExists=|${APPLIED_MARKER}

[Service]
ExecStartPre=
`;

/** Everything a warm snapshot's disk gets on top of the image. */
export function warmAgentFiles(): GuestFile[] {
  const identityScript = identityInitFiles().find((f) => f.path === IDENTITY_SCRIPT_PATH);
  if (!identityScript) throw new Error('the identity init has no script');
  return [
    identityScript,
    { path: WARM_AGENT_PATH, content: AGENT, mode: 0o755 },
    { path: WARM_AGENT_UNIT_PATH, content: AGENT_UNIT, mode: 0o644 },
    {
      path: '/etc/systemd/system/multi-user.target.wants/ovenproof-warm-agent.service',
      content: '',
      mode: 0o777,
      symlinkTo: WARM_AGENT_UNIT_PATH,
    },
    { path: `${IDENTITY_UNIT_PATH}.d/60-ovenproof-warm.conf`, content: IDENTITY_DROP_IN, mode: 0o644 },
    { path: '/etc/systemd/system/ssh.service.d/60-ovenproof-warm.conf', content: SSH_DROP_IN, mode: 0o644 },
  ];
}
