#!/usr/bin/env bash
# The installed package's real socket and service, on a machine where systemd
# is PID 1 (run by check_deb.sh, with the package installed and no key yet):
# a fake key in the credential file, the socket started, a request answered
# (502: the upstream is pointed at a dead local port by a runtime drop-in that
# only adds flags), the parent's and workers' users and capabilities, a
# killed worker respawned, a reload (SIGHUP) that keeps
# the service serving, a stop, and no SIGSYS or security event in the journal.
# Everything it adds is removed again.
#
#   bash tests/packaging/real_unit.sh DEAD_PORT
set -euo pipefail
PKG=codex-responses-api-proxy
dead_port=$1
port=18787
dropin=/run/systemd/system/$PKG.service.d
key=/etc/$PKG/openai-api-key
since=$(date '+%Y-%m-%d %H:%M:%S')

fail() { echo "== [package] FAILED (real unit): $*" >&2; journalctl -u "$PKG" --since "$since" --no-pager | tail -40 >&2; exit 1; }
cleanup() {
    systemctl stop "$PKG.socket" "$PKG.service" 2>/dev/null || true
    rm -rf "$dropin" "$key"
    systemctl daemon-reload || true
}
trap cleanup EXIT

ss -Hltn "sport = :$port" | grep -q . && { echo "port $port in use: real unit check skipped"; exit 0; }
umask 077
printf 'sk-test-%s\n' "$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')" >"$key"
# As packaging/README.md says: root's, readable by the service's group.
chgrp codex-responses-api-keyholder "$key"
chmod 0640 "$key"
mkdir -p "$dropin"
exec_start=$(sed -n 's/^ExecStart=//p' /lib/systemd/system/$PKG.service)
cat >"$dropin/test.conf" <<EOF
[Service]
ExecStart=
ExecStart=$exec_start --allow-insecure-upstream --upstream-url http://127.0.0.1:$dead_port/v1/responses
EOF
systemctl daemon-reload
systemctl start "$PKG.socket"

post() {
    python3 - "$port" <<'EOF'
import http.client, sys
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=20)
c.request("POST", "/v1/responses", body=b'{"model":"gpt-5"}', headers={"Content-Type": "application/json"})
print(c.getresponse().status)
EOF
}
workers() { cat "/proc/$(systemctl show -P MainPID "$PKG.service")/task/"*/children 2>/dev/null | tr ' ' '\n' | grep . || true; }

[ "$(post)" = 502 ] || fail "first request (socket activation) not answered 502"
systemctl is-active --quiet "$PKG.service" || fail "service not active after the first request"
echo "real unit: socket-activated, 502 from the dead upstream"

# The parent as the unit's User=, not root (no awk here: in the container
# /etc/alternatives is empty).
main=$(systemctl show -P MainPID "$PKG.service")
[ "$(grep '^Uid:' /proc/$main/status | cut -f2)" = "$(id -u codex-responses-api-keyholder)" ] ||
    fail "the parent does not run as codex-responses-api-keyholder"
echo "real unit: parent $(grep -E '^Cap(Eff|Amb):' /proc/$main/status | tr '\n\t' '  ')as codex-responses-api-keyholder"

before=$(workers | sed -n 1p)
[ -n "$before" ] || fail "no worker"
kill -KILL "$before"
for _ in $(seq 100); do w=$(workers | { grep -vx "$before" || true; } | sed -n 1p); [ -n "$w" ] && break; sleep 0.1; done
[ -n "${w:-}" ] || fail "worker not respawned"
[ "$(post)" = 502 ] || fail "no answer after the respawn"
echo "real unit: worker $before killed, $w serving"

# The sandbox as the real unit leaves it: both processes under seccomp, the
# worker as the unit's --worker-user with no capability left at all.
main=$(systemctl show -P MainPID "$PKG.service")
# (no awk: in the container /etc/alternatives is empty)
field() { grep "^$2:" "/proc/$1/status" | tr -s '\t ' '  ' | cut -d' ' -f2; }
wuser=$(sed -n 's/^ExecStart=.*--worker-user[= ]\([^ ]*\).*/\1/p' /lib/systemd/system/$PKG.service)
[ "$(field "$main" Seccomp)" = 2 ] || fail "parent $main not under a seccomp filter"
[ "$(field "$w" Seccomp)" = 2 ] || fail "worker $w not under a seccomp filter"
[ "$(field "$w" NoNewPrivs)" = 1 ] || fail "worker $w without no_new_privs"
for c in CapInh CapPrm CapEff CapBnd CapAmb; do
    [ "$(field "$w" $c)" = 0000000000000000 ] || fail "worker $w has $c $(field "$w" $c)"
done
[ -n "$wuser" ] && [ "$(field "$w" Uid)" = "$(id -u "$wuser")" ] ||
    fail "worker $w runs as uid $(field "$w" Uid), not --worker-user ${wuser:-?}"
echo "real unit: parent and worker under seccomp, worker uid $(field "$w" Uid) ($wuser) with no capabilities"

# A reload rotates the key: a new one stored as packaging/README.md says is
# read by the non-root parent (the upstream is dead, so the journal says it).
printf 'sk-test-%s\n' "$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')" |
    install -m 640 -o root -g codex-responses-api-keyholder /dev/stdin "$key"
systemctl reload "$PKG.service"
sleep 1
systemctl is-active --quiet "$PKG.service" || fail "not active after reload"
[ "$(post)" = 502 ] || fail "no answer after reload"
journalctl -u "$PKG" --since "$since" --no-pager | grep -q "key rotated" ||
    fail "the reload did not rotate the key"
echo "real unit: reloaded, key rotated, serving"

systemctl stop "$PKG.socket" "$PKG.service"
journal=$(journalctl -u "$PKG" --since "$since" --no-pager)
! grep -E "SIGSYS|SECURITY|status=31" <<<"$journal" || fail "security event or SIGSYS in the journal"
echo "real unit: stopped cleanly"
