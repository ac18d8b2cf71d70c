/**
 * The in-guest half of the local warm boot. A warm snapshot's disk is a copy of the image with these
 * files added (written with debugfs, so neither the image nor the base recipe changes):
 *
 * - the agent script and its unit, started only when the kernel command line carries `ovenproof.warm`
 *   (the snapshot boot, and so every clone restored from it);
 * - drop-ins that keep the image's own identity init from starting in such a boot, and sshd from
 *   starting until the agent starts it: the VM is saved while it has no host keys, no authorized key
 *   and no identity of any kind;
 * - the current identity init script, which also takes its document from a file the agent names (for
 *   a login user other than root, which the init creates).
 *
 * In the snapshot boot the agent waits until the boot has settled, starts sshd blocked on reading its
 * configuration from a FIFO, reads into the page cache what the first login will load, says `ready` on
 * its virtio-serial port and blocks reading it; the host saves the VM there. In every clone the same
 * read returns that clone's identity: the agent adds the host's entropy to the kernel pool
 * (RNDADDENTROPY) and reseeds the CRNG, writes the host key and hands sshd its configuration, writes a
 * fresh machine-id, hostname and login key, asks for the host's time and sets the clock, answers
 * `applied` once sshd listens, and stays as the clone's dead-man switch. A cold boot of the same disk
 * (no `ovenproof.warm`) behaves exactly like the image: the agent stays off and the identity init and
 * sshd start as usual.
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
/**
 * In a warm boot sshd reads its configuration from this FIFO (the agent writes it once the clone has
 * its identity), with options from this environment file, which only the agent writes.
 */
const SSHD_FIFO = '/run/ovenproof/sshd_config';
const SSHD_ENV = '/run/ovenproof/sshd-warm.env';

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
`
  .replace('@PORT@', WARM_PORT_NAME)
  .replace('@STATE_DIR@', IDENTITY_STATE_DIR)
  .replace('@IDENTITY_SCRIPT@', IDENTITY_SCRIPT_PATH)
  .replace('@SSHD_FIFO@', SSHD_FIFO)
  .replace('@SSHD_ENV@', SSHD_ENV);

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
 * sshd starts as usual in a cold boot, and in a warm one only when the agent starts it, with the
 * options the agent wrote (its configuration from the agent's FIFO). The configuration test before
 * the start (a whole extra sshd run) is left out: the configuration is the image's, unchanged since
 * its bake.
 */
const SSH_DROP_IN = `[Unit]
ConditionKernelCommandLine=|!${WARM_KERNEL_FLAG}
ConditionPathExists=|${SSHD_ENV}

[Service]
EnvironmentFile=-${SSHD_ENV}
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
