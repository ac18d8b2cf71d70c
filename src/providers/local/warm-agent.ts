/**
 * The in-guest half of the local warm boot. A warm snapshot's disk is a copy of the image with these
 * files added (written with debugfs, so neither the image nor the base recipe changes):
 *
 * - the agent script and its unit, started only when the kernel command line carries `ovenproof.warm`
 *   (the snapshot boot, and so every clone restored from it);
 * - drop-ins that keep the image's own identity init and sshd from starting in such a boot: the VM is
 *   saved while it has no host keys, no authorized key and no identity of any kind;
 * - a path unit that starts sshd once the agent marks the identity applied;
 * - the current identity init script, which also takes its document from a file the agent names (for
 *   a login user other than root, which the init creates).
 *
 * In the snapshot boot the agent waits until the boot has settled, says `ready` on its virtio-serial
 * port and blocks reading it; the host saves the VM there. In every clone the same read returns that
 * clone's identity: the agent adds the host's entropy to the kernel pool (RNDADDENTROPY) and reseeds
 * the CRNG, writes a fresh machine-id, asks for the host's time and sets the clock, writes hostname and
 * keys, marks the identity applied (which starts sshd), answers `applied` once sshd listens, and stays
 * as the clone's dead-man switch. A cold boot of the same disk (no `ovenproof.warm`) behaves exactly
 * like the image: the agent stays off and the identity init and sshd start as usual.
 */
import {
  IDENTITY_SCRIPT_PATH,
  IDENTITY_STATE_DIR,
  IDENTITY_UNIT_PATH,
  identityInitFiles,
} from '../identity/index.js';

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

// The agent is Perl (perl-base is in every Debian system) and does its work after the restore in its
// own process: under an emulated CPU every program started in a fresh clone costs a new translation of
// its code (a few hundred milliseconds for a shell script with a handful of commands, or for systemctl).
const AGENT = String.raw`#!/usr/bin/perl
# ovenproof warm-boot agent: waits on a virtio-serial port for this clone's identity and applies it.
# Never prints key material.
use strict;
use warnings;
use MIME::Base64 qw(decode_base64);

my $port_path = '/dev/virtio-ports/@PORT@';
my $run = '/run/ovenproof';
my $state = '@STATE_DIR@';
my $applied_marker = '@APPLIED@';
my $identity_script = '@IDENTITY_SCRIPT@';
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
# The saved RAM keeps only pages that are not all zeros (the rest become holes in its file), and pages
# freed by the boot still hold their old bytes. Drop the page cache, then fill most of the free memory
# with zeros once and free it again: the pages go back to the free list zeroed, and the saved RAM
# shrinks to what is really in use.
system('sync');
write_file('/proc/sys/vm/drop_caches', "3\n", 1);
my $zero = "$run/zero-fill";
mkdir $zero;
if (system("mount -t tmpfs -o size=100% ovenproof-zero-fill $zero 2>/dev/null") == 0) {
  my $free_mib = 0;
  if (open(my $meminfo, '<', '/proc/meminfo')) {
    while (<$meminfo>) { $free_mib = int($1 / 1024) if /^MemAvailable:\s+(\d+)/ }
  }
  system("dd if=/dev/zero of=$zero/fill bs=1M count=" . ($free_mib - 64) . ' 2>/dev/null') if $free_mib > 96;
  system('umount', $zero);
}
rmdir $zero;

open(my $port, '+<', $port_path) or die "open $port_path: $!\n";
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
  # sshd takes about a second of emulated CPU to start: start it as soon as its host key is in place
  # and write the rest meanwhile. The host connects only after the answer below, once all is written.
  my $public = install_host_key();
  start_sshd();
  $machine_id = new_machine_id();
  apply_root_identity($public);
} else {
  # Creating a login user is the identity init's: it reads the same document from a file.
  $machine_id = new_machine_id();
  umask 077;
  write_file("$run/warm-identity", $received);
  local $ENV{OVENPROOF_IDENTITY_DOCUMENT} = "$run/warm-identity";
  system($identity_script) == 0 or fail('the identity init failed');
  start_sshd();
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

# The marker starts sshd (a path unit of systemd).
sub start_sshd {
  umask 022;
  write_file($applied_marker, '');
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
`
  .replace('@PORT@', WARM_PORT_NAME)
  .replace('@STATE_DIR@', IDENTITY_STATE_DIR)
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

/** In a warm boot, systemd itself starts sshd when the agent marks the identity applied. */
const SSH_PATH_UNIT = `[Unit]
Description=ovenproof warm boot: start sshd once the clone has its identity
ConditionKernelCommandLine=${WARM_KERNEL_FLAG}

[Path]
PathChanged=${APPLIED_MARKER}
Unit=ssh.service

[Install]
WantedBy=multi-user.target
`;
const SSH_PATH_UNIT_PATH = '/etc/systemd/system/ovenproof-warm-ssh.path';

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
    { path: SSH_PATH_UNIT_PATH, content: SSH_PATH_UNIT, mode: 0o644 },
    {
      path: '/etc/systemd/system/multi-user.target.wants/ovenproof-warm-ssh.path',
      content: '',
      mode: 0o777,
      symlinkTo: SSH_PATH_UNIT_PATH,
    },
    { path: `${IDENTITY_UNIT_PATH}.d/60-ovenproof-warm.conf`, content: IDENTITY_DROP_IN, mode: 0o644 },
    { path: '/etc/systemd/system/ssh.service.d/60-ovenproof-warm.conf', content: SSH_DROP_IN, mode: 0o644 },
  ];
}
