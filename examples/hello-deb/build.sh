#!/bin/sh
# Build hello-deb_<version>_all.deb into build/ (or the directory given as $1, relative to this
# directory) and print its path.
#
# The package is reproducible: the same sources give a byte-identical .deb. ovenproof's bake key
# hashes the package file, so an unchanged package reuses the image already baked from it.
set -eu

cd "$(dirname "$0")"
out=${1:-build}
version=$(sed -n 's/^Version: *//p' package/control)
if [ -z "$version" ]; then
  echo 'build.sh: package/control has no Version field' >&2
  exit 1
fi

# One timestamp for every file: the last commit touching this project, else the control file's
# mtime (a tarball without git). dpkg-deb also stamps the archive members with it.
if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
  SOURCE_DATE_EPOCH=$(git log -1 --format=%ct -- . 2>/dev/null || true)
  [ -n "$SOURCE_DATE_EPOCH" ] || SOURCE_DATE_EPOCH=$(stat -c %Y package/control)
fi
export SOURCE_DATE_EPOCH

mkdir -p "$out"
# Stage inside the output directory so the final rename is atomic, and concurrent builds (two
# pipelines on one checkout) never see each other's half-written files.
stage=$(mktemp -d "$out/.stage.XXXXXX")
trap 'rm -rf "$stage"' EXIT
root=$stage/root

# Explicit modes: the package must not depend on the builder's umask.
install -d -m 0755 "$root" "$root/DEBIAN" "$root/usr/bin" "$root/usr/share/hello-deb/tests" \
  "$root/usr/share/doc/hello-deb"
sed "s/@VERSION@/$version/" bin/hello-deb >"$root/usr/bin/hello-deb"
chmod 0755 "$root/usr/bin/hello-deb"
install -m 0755 run-tests "$root/usr/share/hello-deb/run-tests"
install -m 0644 tests/*.bats "$root/usr/share/hello-deb/tests/"
install -m 0644 package/copyright "$root/usr/share/doc/hello-deb/copyright"

# Installed-Size the way dpkg-gencontrol counts it (KiB per file, rounded up), not `du`, whose
# answer depends on the builder's file system.
installed_kib=$(find "$root/usr" -type f -printf '%s\n' | {
  kib=0
  while read -r bytes; do kib=$((kib + (bytes + 1023) / 1024)); done
  echo "$kib"
})
{
  cat package/control
  printf 'Installed-Size: %s\n' "$installed_kib"
} >"$root/DEBIAN/control"
(cd "$root" && find usr -type f | LC_ALL=C sort | xargs md5sum) >"$root/DEBIAN/md5sums"
chmod 0644 "$root/DEBIAN/control" "$root/DEBIAN/md5sums"
find "$root" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +

deb=hello-deb_${version}_all.deb
# One xz thread: multi-threaded xz output depends on the builder's core count.
dpkg-deb --root-owner-group --threads-max=1 -Zxz --build "$root" "$stage/$deb" >/dev/null

# Only one version may stay: `package: build/*.deb` installs every match.
for old in "$out"/hello-deb_*_all.deb; do
  if [ "$old" != "$out/$deb" ]; then rm -f "$old"; fi
done
mv -f "$stage/$deb" "$out/$deb"
echo "$out/$deb"
