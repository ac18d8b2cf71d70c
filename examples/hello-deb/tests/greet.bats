#!/usr/bin/env bats
# Greeting and command-line handling of hello-deb, as installed on the machine under test.
# shellcheck disable=SC2016 # literal $ and backticks in single quotes are what these tests check

@test "greets the world by default" {
  run hello-deb
  [ "$status" -eq 0 ]
  [ "$output" = 'Hello, world!' ]
}

@test "greets a name given on the command line" {
  # HELLO_DEB_FAIL=1 expects the wrong greeting: the documented switch that makes exactly this one
  # test fail, so a demo can show a failing test annotated on this line without rebuilding the package.
  expected='Hello, Ada!'
  if [ "${HELLO_DEB_FAIL:-0}" = 1 ]; then expected='Goodbye, Ada!'; fi
  run hello-deb greet Ada
  [ "$status" -eq 0 ]
  [ "$output" = "$expected" ]
}

@test "keeps spaces and shell metacharacters in a name literal" {
  run hello-deb 'O'\''Brien $HOME `id`'
  [ "$status" -eq 0 ]
  [ "$output" = 'Hello, O'\''Brien $HOME `id`!' ]
}

@test "rejects an empty name with a usage error" {
  run hello-deb greet ''
  [ "$status" -eq 2 ]
  [[ "$output" == *'NAME must not be empty'* ]]
}

@test "rejects an unknown option with a usage error" {
  run hello-deb --shout
  [ "$status" -eq 2 ]
  [[ "$output" == *"unknown option '--shout'"* ]]
  [[ "$output" == *'Usage: hello-deb'* ]]
}

@test "prints its version" {
  run hello-deb --version
  [ "$status" -eq 0 ]
  [[ "$output" =~ ^hello-deb\ [0-9]+\.[0-9]+\.[0-9]+$ ]]
}
