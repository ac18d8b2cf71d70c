#!/usr/bin/env bats
# `hello-deb facts` on the machine under test, and its os-release parsing on files written here.
# shellcheck disable=SC2016 # literal $ and backticks in single quotes are what these tests check

@test "reports every fact, in order, as key=value" {
  run hello-deb facts
  [ "$status" -eq 0 ]
  keys=$(printf '%s\n' "$output" | sed 's/=.*//' | tr '\n' ' ')
  [ "$keys" = 'hostname os kernel arch cpus memory_mb uptime_s ' ]
}

@test "reports the kernel's host name, release and machine" {
  run hello-deb facts hostname kernel arch
  [ "$status" -eq 0 ]
  [ "${lines[0]}" = "hostname=$(uname -n)" ]
  [ "${lines[1]}" = "kernel=$(uname -r)" ]
  [ "${lines[2]}" = "arch=$(uname -m)" ]
}

@test "counts CPUs, memory and uptime as whole numbers" {
  run hello-deb facts cpus memory_mb uptime_s
  [ "$status" -eq 0 ]
  [[ "${lines[0]}" =~ ^cpus=[1-9][0-9]*$ ]]
  [[ "${lines[1]}" =~ ^memory_mb=[1-9][0-9]*$ ]]
  [[ "${lines[2]}" =~ ^uptime_s=[0-9]+$ ]]
}

@test "reads a double-quoted PRETTY_NAME with escapes from os-release" {
  printf '%s\n' 'NAME=Example' 'PRETTY_NAME="Example \"Quoted\" OS \$1"' >"$BATS_TEST_TMPDIR/os-release"
  HELLO_DEB_OS_RELEASE="$BATS_TEST_TMPDIR/os-release" run hello-deb facts os
  [ "$status" -eq 0 ]
  [ "$output" = 'os=Example "Quoted" OS $1' ]
}

@test "reads a single-quoted PRETTY_NAME and falls back to Linux without one" {
  printf '%s\n' "PRETTY_NAME='Single OS'" >"$BATS_TEST_TMPDIR/single"
  printf '%s\n' 'NAME=Bare' >"$BATS_TEST_TMPDIR/bare"
  HELLO_DEB_OS_RELEASE="$BATS_TEST_TMPDIR/single" run hello-deb facts os
  [ "$output" = 'os=Single OS' ]
  HELLO_DEB_OS_RELEASE="$BATS_TEST_TMPDIR/bare" run hello-deb facts os
  [ "$output" = 'os=Linux' ]
}

@test "rejects an unknown fact, naming the known ones, and prints no facts" {
  run hello-deb facts hostname colour
  [ "$status" -eq 2 ]
  [[ "$output" == *"unknown fact 'colour' (known: hostname os kernel"* ]]
  [[ "$output" != *'hostname='* ]]
}
