#!/usr/bin/env bash
# The Debian package as a Debian maintainer checks it, on this machine:
#   1. builds the source and binary packages WITH their test suite
#      (packaging/build-deb.sh --install-deps);
#   2. lintian --pedantic on the .changes (source and binary): fails on E or W;
#   3. installs the .deb, then mandoc -Tlint -Wstyle on the installed manual
#      pages, systemd-analyze verify on the installed units and the unit's
#      security exposure (systemd-analyze security --offline);
#   4. runs the installed proxy once by hand as root (key on stdin, the worker
#      user of the package): a 502 from a dead upstream, then GET /shutdown;
#      again inside the unit's sandbox (tests/integration/unit_sandbox.py), as
#      the unit's non-root User= with its AmbientCapabilities=, checking the
#      parent's and the workers' uids and capabilities in /proc;
#      and, where systemd is PID 1, starts the real socket and service;
#   5. purges the package and checks that nothing of it is left.
# Root only (it installs and purges a package); refuses to touch a machine
# where the package is already installed. Uses only fake keys.
#
#   bash tests/packaging/check_deb.sh                 # build + all checks
#   REUSE_BUILD=1 bash tests/packaging/check_deb.sh   # checks of what build-deb/ holds
#   NOCHECK=1 bash tests/packaging/check_deb.sh       # build without the test suite
#       (tests/run_all.sh does this: its release suite has just run the same
#       tests on the same sources; everything from step 2 on is unchanged)
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
PKG=codex-responses-api-proxy
PARENT_USER=codex-responses-api-keyholder  # the unit's User=; $PKG is the workers' user
OUT=${OUT:-$ROOT/build-deb}
EXPOSURE_MAX=2.0   # as tests/integration/test_packaging.py

say() { echo "== [package] $*"; }
fail() { echo "== [package] FAILED: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || { say "SKIP: needs root (installs and purges the package)"; exit 0; }
if dpkg-query -W -f='${Status}' "$PKG" 2>/dev/null | grep -q "ok installed"; then
    fail "$PKG is installed on this machine and this check would purge it;" \
         "purge it first, or SKIP_PACKAGE=1 bash tests/run_all.sh"
fi

need=()
for p in lintian mandoc manpages manpages-dev systemd systemd-container python3; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
if ((${#need[@]})); then
    say "installing ${need[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        -o DPkg::Lock::Timeout=600 "${need[@]}" >/dev/null
fi

tmp=$(mktemp -d)
proxy_pid=
installed=0
cleanup() {
    [ -n "$proxy_pid" ] && kill "$proxy_pid" 2>/dev/null || true
    # A failed check leaves no package behind for the next run to trip on.
    if [ "$installed" = 1 ]; then
        DEBIAN_FRONTEND=noninteractive apt-get purge -y -q -o DPkg::Lock::Timeout=600 "$PKG" \
            >/dev/null 2>&1 || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT

# 1. build, with the tests ----------------------------------------------------
if [ -z "${REUSE_BUILD:-}" ]; then
    build_args=(--install-deps -o "$OUT")
    if [ -n "${NOCHECK:-}" ]; then
        say "build-deb.sh --install-deps --nocheck (source + binary, no test suite)"
        build_args+=(--nocheck)
    else
        say "build-deb.sh --install-deps (source + binary, with the test suite)"
    fi
    rm -rf "$OUT"
    start=$SECONDS
    packaging/build-deb.sh "${build_args[@]}" >"$tmp/build.log" 2>&1 || {
        tail -150 "$tmp/build.log"; fail "package build (log above)"; }
    grep -E "tests passed|tests failed|Total Test time" "$tmp/build.log" || true
    say "built in $((SECONDS - start)) s: $(cd "$OUT" && echo *.deb *.dsc)"
fi
DEB=$(ls "$OUT"/${PKG}_*.deb)
changes=$(ls "$OUT"/${PKG}_*.changes)
grep -q '\.dsc$' "$changes" || fail "$changes names no source package"

# 2. lintian --------------------------------------------------------------------
say "lintian --pedantic (source and binary)"
lintian_rc=0
lintian --pedantic --display-info --tag-display-limit 0 --fail-on error,warning \
    "$changes" >"$tmp/lintian.txt" 2>&1 || lintian_rc=$?
grep -v "running with root privileges" "$tmp/lintian.txt" || true
count() { grep -c "^$1:" "$tmp/lintian.txt" || true; }
echo "lintian: E$(count E) W$(count W) I$(count I) P$(count P) (exit $lintian_rc)"
[ "$lintian_rc" -eq 0 ] || fail "lintian reports errors or warnings"

# 3. install, then lint what was installed ------------------------------------
say "apt-get install $(basename "$DEB")"
installed=1
DEBIAN_FRONTEND=noninteractive apt-get install -y -q -o DPkg::Lock::Timeout=600 "$(realpath "$DEB")" \
    >"$tmp/install.log" 2>&1 || { cat "$tmp/install.log"; fail "install"; }
dpkg-deb -c "$DEB" | awk '{print $6}' | sed 's|^\./|/|; s|/$||' | grep -v '^/$' >"$tmp/files"
for u in "$PARENT_USER" "$PKG"; do
    getent passwd "$u" >/dev/null || fail "the package did not create the system user $u"
done
[ "$(stat -c '%a %U %G' /etc/$PKG)" = "750 root $PARENT_USER" ] ||
    fail "/etc/$PKG is not 0750 root:$PARENT_USER: $(stat -c '%a %U %G' /etc/$PKG)"
[ -x /usr/sbin/$PKG ] && [ -x /usr/libexec/$PKG-worker ] || fail "executables not where expected"

say "mandoc -Tlint -Wstyle"
for page in /usr/share/man/man8/$PKG.8.gz /usr/share/man/man8/$PKG-worker.8.gz; do
    out=$(mandoc -Tlint -Wstyle "$page" 2>&1 | grep -v "outdated mandoc.db" || true)
    [ -z "$out" ] || { echo "$out"; fail "mandoc -Tlint -Wstyle $page"; }
done
echo "mandoc: both pages clean"

say "systemd-analyze verify"
man_opt=--man=no
command -v man >/dev/null && man_opt=--man=yes
out=$(systemd-analyze verify "$man_opt" /lib/systemd/system/$PKG.socket \
      /lib/systemd/system/$PKG.service 2>&1 | grep "$PKG" || true)
[ -z "$out" ] || { echo "$out"; fail "systemd-analyze verify"; }
echo "verify: clean"

say "systemd-analyze security --offline=true (<= $EXPOSURE_MAX)"
out=$(systemd-analyze security --offline=true --threshold="${EXPOSURE_MAX/./}" \
      /lib/systemd/system/$PKG.service 2>&1) || { echo "$out" | grep "✗"; fail "exposure"; }
echo "$out" | grep "Overall exposure"

# 4. run by hand ----------------------------------------------------------------
dead_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
fake_key="sk-test-$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"

# One request (POST /v1/responses) then GET /shutdown; prints the statuses.
cat >"$tmp/client.py" <<'EOF'
import http.client, json, sys, time
info = sys.argv[1]
for _ in range(200):
    try:
        port = json.load(open(info))["port"]
        break
    except (OSError, ValueError):
        time.sleep(0.05)
else:
    sys.exit("no server info")
def ask(method, path, body=None, headers={}):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    c.request(method, path, body=body, headers=headers)
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, data
status, body = ask("POST", "/v1/responses", b'{"model":"gpt-5"}',
                   {"Content-Type": "application/json"})
print("POST /v1/responses:", status, body[:120].decode(errors="replace"))
try:
    s2, _ = ask("GET", "/shutdown")
except (ConnectionError, http.client.HTTPException):
    s2 = "closed"
print("GET /shutdown:", s2)
sys.exit(0 if status == 502 else 1)
EOF

# The parent's uid, and each worker's: the worker user's, no capability left
# in any set (ambient included). Workers that are still setting up (a forked
# child has the parent's uid and capabilities until it has switched) get 5 s.
workers_sandboxed() {  # parent pid
    local w n=0
    for w in $(cat /proc/$1/task/*/children); do
        [ "$(awk '/^Uid:/ {print $2}' /proc/$w/status)" = "$(id -u "$PKG")" ] || return 1
        ! grep -E '^Cap(Inh|Prm|Eff|Bnd|Amb):' /proc/$w/status | grep -qv ':\s*0*$' || return 1
        n=$((n + 1))
    done
    [ "$n" -gt 0 ]
}
check_ids() {  # label, parent pid, parent user
    local label=$1 pid=$2 want_uid
    want_uid=$(id -u "$3")
    for _ in $(seq 100); do [ -s "$out/info.json" ] && break; sleep 0.1; done
    [ "$(awk '/^Uid:/ {print $2}' /proc/$pid/status)" = "$want_uid" ] ||
        fail "$label: the parent does not run as $3"
    for _ in $(seq 50); do workers_sandboxed "$pid" && break; sleep 0.1; done
    workers_sandboxed "$pid" || fail "$label: workers not all $PKG without capabilities:" \
        "$(for w in $(cat /proc/$pid/task/*/children); do grep -E '^(Uid|Cap)' /proc/$w/status; done)"
    echo "$label: parent uid $want_uid ($3), $(grep -E '^Cap(Eff|Amb):' /proc/$pid/status | tr '\n\t' '  ');" \
        "workers run as $PKG with no capabilities"
}

# The server-info file's directory belongs to the unit's user, who writes it
# in the sandboxed run.
out=$tmp/out
chmod 0711 "$tmp"
mkdir -m 0700 "$out"
chown "$PARENT_USER:" "$out"

run_by_hand() {  # label, parent user, wrapper argv...
    local label=$1 user=$2; shift 2
    rm -f "$out/info.json"
    printf '%s\n' "$fake_key" | "$@" /usr/sbin/$PKG --http-shutdown --server-info "$out/info.json" \
        --worker-user "$PKG" --allow-insecure-upstream \
        --upstream-url "http://127.0.0.1:$dead_port/v1/responses" 2>"$tmp/$label.err" &
    proxy_pid=$!
    check_ids "$label" "$proxy_pid" "$user"
    python3 "$tmp/client.py" "$out/info.json" || { cat "$tmp/$label.err"; fail "$label: no 502"; }
    local rc=0
    for _ in $(seq 100); do kill -0 "$proxy_pid" 2>/dev/null || break; sleep 0.1; done
    wait "$proxy_pid" || rc=$?
    proxy_pid=
    [ "$rc" -eq 0 ] || { cat "$tmp/$label.err"; fail "$label: exit status $rc after /shutdown"; }
    ! grep -E "SIGSYS|SECURITY" "$tmp/$label.err" || fail "$label: security event in the log"
    ! grep -qF "${fake_key#sk-test-}" "$tmp/$label.err" || fail "$label: the key is in the log"
    echo "$label: exit 0 after /shutdown"
}

say "installed proxy by hand (key on stdin, dead upstream, /shutdown)"
run_by_hand by-hand root
say "installed proxy by hand inside the unit's sandbox (unit_sandbox.py)"
if python3 tests/integration/unit_sandbox.py /lib/systemd/system/$PKG.service "$tmp" -- /bin/true \
        2>"$tmp/sb.err"; then
    run_by_hand sandboxed "$PARENT_USER" python3 tests/integration/unit_sandbox.py \
        /lib/systemd/system/$PKG.service "$tmp" --
else
    say "SKIP sandboxed run: $(cat "$tmp/sb.err")"
fi

if [ -d /run/systemd/system ] && [ "$(ps -p 1 -o comm=)" = systemd ]; then
    say "the real units (systemd is PID 1)"
    bash tests/packaging/real_unit.sh "$dead_port"
else
    # systemd is not PID 1 here (a CI VM): the same check in a systemd
    # container booted from this machine's /usr, where the package is.
    say "the real units, in a systemd container (systemd is not PID 1 here: $(ps -p 1 -o comm=))"
    rc=0
    bash tests/packaging/container_unit.sh "$dead_port" || rc=$?
    if [ "$rc" = 77 ]; then
        say "SKIP real units: no systemd container can be booted here; the unit's sandbox was rebuilt above instead"
    elif [ "$rc" != 0 ]; then
        fail "the real units, in a systemd container"
    fi
fi

# 5. purge, and nothing left ----------------------------------------------------
say "apt-get purge $PKG"
DEBIAN_FRONTEND=noninteractive apt-get purge -y -q -o DPkg::Lock::Timeout=600 "$PKG" \
    >"$tmp/purge.log" 2>&1 || { cat "$tmp/purge.log"; fail "purge"; }
installed=0
! dpkg-query -W -f='${Status}\n' "$PKG" 2>/dev/null | grep -q " installed" || fail "still installed"
left=()
while read -r f; do
    case "$f" in *"$PKG"*) [ -e "$f" ] && left+=("$f") ;; esac
done <"$tmp/files"
for f in /etc/$PKG /var/lib/$PKG /run/$PKG /var/lib/dpkg/info/$PKG.list; do
    [ -e "$f" ] && left+=("$f")
done
((${#left[@]} == 0)) || fail "left after purge: ${left[*]}"
echo "purge: nothing of $PKG left (the system users stay, as Debian does)"
say "all package checks passed"
