#!/usr/bin/env bash
# Builds the proxy and runs every test: unit and integration tests (ctest) in a
# normal -Werror build, the Debian package (built with its tests, lintian,
# mandoc, systemd-analyze, installed, run, purged: tests/packaging/check_deb.sh,
# as root only), the same suite under ASan/UBSan, and a short smoke run of each
# libFuzzer target. Installs its Debian packages first when missing.
#
#   bash tests/run_all.sh            # everything (13-15 minutes on 2 cores)
#   SKIP_SANITIZE=1 SKIP_FUZZ=1 SKIP_PACKAGE=1 bash tests/run_all.sh   # quick: normal build only
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
JOBS=${JOBS:-$(nproc)}
# The tests mostly wait (on sockets, child processes, timeouts) rather than
# compute, so two run per core, the slowest first (tests/CMakeLists.txt, COST),
# in the sanitizer build too.
TEST_JOBS=${TEST_JOBS:-$((2 * JOBS))}

PACKAGES=(cmake g++ pkg-config libevent-dev libssl-dev libcap-ng-dev libseccomp-dev doctest-dev
          libtomlplusplus-dev python3 openssl clang libclang-rt-14-dev mandoc tzdata)
missing=()
for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
    echo "== installing: ${missing[*]}"
    $SUDO apt-get update -q
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "${missing[@]}"
fi

# The real Codex CLI for tests/integration/test_codex_cli.py (and the bench
# baseline). Best effort: without npm or the registry that test is skipped.
CODEX_DIR="$ROOT/bench/.cache/codex"
if command -v npm >/dev/null && ! compgen -G "$CODEX_DIR/node_modules/@openai/codex*/vendor/*/bin/codex" >/dev/null; then
    echo "== installing the Codex CLI 0.169.0 (npm) for the client test"
    mkdir -p "$CODEX_DIR"
    timeout 300 npm install --silent --no-audit --no-fund --prefix "$CODEX_DIR" @openai/codex@0.169.0-linux-x64 \
        || echo "npm install failed: test_codex_cli will be skipped"
fi

# Unity builds (CMake joins up to 8 sources of a target into one translation
# unit): each build below takes about half the time, and CI its 15 minutes.
# The price is that names in anonymous namespaces must differ across the
# files of a target (docs/testing.md); a clash fails this build, not a
# developer's ordinary one.
export PROXY_UNITY_BUILD=ON  # packaging/debian/rules reads it

status=0
SECONDS=0
took() { echo "== [$1] took $SECONDS s in all so far"; }
run_suite() {  # name, build dir, extra cmake args...
    local name=$1 dir=$2; shift 2
    echo "== [$name] configure + build ($dir)"
    cmake -S "$ROOT" -B "$dir" -DPROXY_WERROR=ON "$@" >/dev/null
    cmake --build "$dir" -j"$JOBS"
    echo "== [$name] ctest"
    if ! ctest --test-dir "$dir" --output-on-failure -j"${SUITE_TEST_JOBS:-$TEST_JOBS}" --timeout 600; then
        status=1
    fi
    took "$name"
}

run_suite release "$ROOT/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_UNITY_BUILD=ON
if [ -z "${SKIP_PACKAGE:-}" ]; then
    # A package build of its own (prefix /usr, no -Werror, as Debian builds
    # it), without its test suite (the release suite above has just run the
    # same tests on the same sources; PACKAGE_TESTS=1 runs them again there).
    echo "== [package] build, lint, install, run, purge"
    nocheck=1; [ -n "${PACKAGE_TESTS:-}" ] && nocheck=
    if ! NOCHECK=$nocheck bash "$ROOT/tests/packaging/check_deb.sh"; then
        status=1
    fi
    took package
fi
if [ -z "${SKIP_SANITIZE:-}" ]; then
    # detect_leaks=0: workers exit through _exit paths by design; leaks are
    # not what this build is for. halt_on_error makes any finding fatal.
    ASAN_OPTIONS=detect_leaks=0:halt_on_error=1:abort_on_error=1 \
    UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
        run_suite asan-ubsan "$ROOT/build-asan" -DCMAKE_BUILD_TYPE=Debug -DPROXY_SANITIZE=ON -DPROXY_PCH=ON \
        -DCMAKE_UNITY_BUILD=ON
fi
if [ -z "${SKIP_FUZZ:-}" ]; then
    echo "== [fuzz] smoke run"
    # The corpora in tests/fuzz/corpus replay first; the seconds are for new inputs.
    if ! FUZZ_SECONDS=${FUZZ_SECONDS:-10} bash "$ROOT/tests/fuzz/run_smoke.sh" "$ROOT/build-fuzz"; then
        status=1
    fi
    took fuzz
fi
if [ -z "${SKIP_BENCH_SMOKE:-}" ] && [ -x "$ROOT/bench/run" ]; then
    echo "== [bench] smoke run (not pass/fail)"
    # Ours and the nginx-injector, wrk phase, 1 s runs: keeps the script from
    # rotting in about half a minute.
    timeout 300 "$ROOT/bench/run" --quick --duration 1 --no-baseline --phases wrk \
        --proxy-bin "$ROOT/build/codex-responses-api-proxy" || echo "bench smoke failed (ignored)"
    took bench
fi
if [ "$status" -eq 0 ]; then echo "== all suites passed"; else echo "== SOME SUITES FAILED"; fi
exit $status
