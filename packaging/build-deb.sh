#!/bin/bash
# Builds the Debian package (binary only, unsigned) from this source tree.
#
# dpkg-buildpackage wants debian/ at the top of the source tree. The packaging
# lives in packaging/debian instead, next to the units and snippets it ships,
# so this script copies the tree (without .git and build directories) to a
# scratch directory, copies packaging/debian to ./debian there, and builds
# there. The work tree is never written to except for the output directory.
#
# Usage: packaging/build-deb.sh [--install-deps] [--nocheck] [-o OUTDIR]
#   --install-deps  apt-get install the Build-Depends first (needs root)
#   --nocheck       skip the test suite (DEB_BUILD_OPTIONS=nocheck)
#   -o OUTDIR       where the .deb, .buildinfo and .changes go
#                   (default: build-deb/ at the top of the tree)
# Needs: dpkg-dev and debhelper (apt-get install dpkg-dev debhelper), plus the
# Build-Depends of packaging/debian/control.
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out="$top/build-deb"
install_deps=0
nocheck=0

while [ $# -gt 0 ]; do
    case "$1" in
        --install-deps) install_deps=1 ;;
        --nocheck) nocheck=1 ;;
        -o) out=$2; shift ;;
        -h | --help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "build-deb.sh: unknown argument: $1" >&2; exit 2 ;;
    esac
    shift
done

for tool in dpkg-buildpackage dh; do
    if ! command -v "$tool" >/dev/null; then
        echo "build-deb.sh: $tool not found; apt-get install dpkg-dev debhelper" >&2
        exit 1
    fi
done

version=$(dpkg-parsechangelog -l "$top/packaging/debian/changelog" -S Version)
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
src="$stage/codex-responses-api-proxy-$version"
mkdir -p "$src"

# Build directories are left behind (their CMake caches name this tree's
# paths), and so are a stray ./debian and dh's obj-* from earlier manual runs.
tar -C "$top" \
    --exclude=./.git --exclude='./build*' --exclude=./debian --exclude='./obj-*' \
    -cf - . | tar -C "$src" -xf -
cp -a "$top/packaging/debian" "$src/debian"

if [ "$install_deps" = 1 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get build-dep -y "$src"
fi

opts="${DEB_BUILD_OPTIONS:-}"
profiles=()
if [ "$nocheck" = 1 ]; then
    opts="$opts nocheck"
    profiles=(-Pnocheck)
fi
case " $opts " in
    *" parallel="*) ;;
    *) opts="$opts parallel=$(nproc)" ;;
esac
# dpkg warns about the empty flag a leading space would make.
export DEB_BUILD_OPTIONS="${opts# }"

(cd "$src" && dpkg-buildpackage -us -uc -b "${profiles[@]}")

mkdir -p "$out"
cp "$stage"/*.deb "$stage"/*.buildinfo "$stage"/*.changes "$out"/
echo "build-deb.sh: built:"
ls -1 "$out"/*.deb
