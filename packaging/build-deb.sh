#!/bin/bash
# Builds the Debian packages (source and binary, unsigned) from this source
# tree, running the test suite during the build unless --nocheck is given.
#
# dpkg-buildpackage wants debian/ at the top of the source tree. The packaging
# lives in packaging/debian instead, next to the units and snippets it ships,
# so this script copies the tree to a scratch directory (in a git checkout,
# the files git tracks or would track, as they are in the work tree; outside
# one, everything but build directories), copies packaging/debian to ./debian there, and
# builds there. The work tree is never written to except for the output
# directory.
#
# Usage: packaging/build-deb.sh [--install-deps] [--nocheck] [--binary-only] [-o OUTDIR]
#   --install-deps  apt-get install dpkg-dev, debhelper and the Build-Depends
#                   first (needs root)
#   --nocheck       skip the test suite (DEB_BUILD_OPTIONS=nocheck)
#   --binary-only   no source package (dpkg-buildpackage -b)
#   -o OUTDIR       where the .deb, .dsc, .tar.xz, .buildinfo and .changes go
#                   (default: build-deb/ at the top of the tree)
# Without --install-deps it needs dpkg-dev and debhelper (apt-get install
# dpkg-dev debhelper) plus the Build-Depends of packaging/debian/control.
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out="$top/build-deb"
install_deps=0
nocheck=0
build_type=(-F)

while [ $# -gt 0 ]; do
    case "$1" in
        --install-deps) install_deps=1 ;;
        --nocheck) nocheck=1 ;;
        --binary-only) build_type=(-b) ;;
        -o) out=$2; shift ;;
        -h | --help) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "build-deb.sh: unknown argument: $1" >&2; exit 2 ;;
    esac
    shift
done

apt_install() {
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        -o DPkg::Lock::Timeout=600 "$@"
}

# The tools first: dpkg-parsechangelog below and "apt-get build-dep" of a
# directory need dpkg-dev; debhelper is what the build itself runs.
if [ "$install_deps" = 1 ] &&
   ! { command -v dpkg-buildpackage && command -v dh; } >/dev/null; then
    apt_install dpkg-dev debhelper
fi
for tool in dpkg-buildpackage dh; do
    if ! command -v "$tool" >/dev/null; then
        echo "build-deb.sh: $tool not found; apt-get install dpkg-dev debhelper" \
             "(or run with --install-deps as root)" >&2
        exit 1
    fi
done

version=$(dpkg-parsechangelog -l "$top/packaging/debian/changelog" -S Version)
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
src="$stage/codex-responses-api-proxy-$version"
mkdir -p "$src"

# The source package is what git tracks or would track: what .gitignore
# names (build directories, bench/.cache with its npm install) stays out.
if command -v git >/dev/null && git -C "$top" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    git -C "$top" ls-files -z --cached --others --exclude-standard |
        (cd "$top" && while IFS= read -r -d '' f; do
            [ -e "$f" ] && printf '%s\0' "$f"  # deleted in the work tree
        done) |
        tar -C "$top" --null -T - -cf - | tar -C "$src" -xf -
else
    # Build directories are left behind (their CMake caches name this tree's
    # paths), and so are a stray ./debian and dh's obj-* from earlier runs.
    tar -C "$top" \
        --exclude=./.git --exclude='./build*' --exclude=./debian --exclude='./obj-*' \
        --exclude=./bench/.cache --exclude=__pycache__ \
        -cf - . | tar -C "$src" -xf -
fi
cp -a "$top/packaging/debian" "$src/debian"

if [ "$install_deps" = 1 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get build-dep -y -q -o DPkg::Lock::Timeout=600 "$src"
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

(cd "$src" && dpkg-buildpackage -us -uc "${build_type[@]}" "${profiles[@]}")

mkdir -p "$out"
for f in "$stage"/*.deb "$stage"/*.dsc "$stage"/*.tar.* "$stage"/*.buildinfo "$stage"/*.changes; do
    [ -e "$f" ] && cp "$f" "$out"/
done
echo "build-deb.sh: built in $out:"
(cd "$out" && ls -1 -- *.deb *.dsc 2>/dev/null)
