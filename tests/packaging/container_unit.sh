#!/usr/bin/env bash
# The real units where systemd is not PID 1 (CI VMs, containers): boot the
# host's own /usr as a throwaway systemd container (systemd-nspawn
# --volatile=yes: a tmpfs root, /usr from the host read-only, so the
# installed package's binaries, units and sysusers.d are there; /etc is made
# afresh by systemd at boot) with the package's /etc directory bound in, run
# real_unit.sh there as a boot-time service, and power off. Exit status:
# real_unit.sh's; 77 when no container can be booted here.
#
#   bash tests/packaging/container_unit.sh DEAD_PORT
set -euo pipefail
PKG=codex-responses-api-proxy
dead_port=$1
here=$(cd "$(dirname "$0")" && pwd)
command -v systemd-nspawn >/dev/null || { echo "no systemd-nspawn (package systemd-container)"; exit 77; }
tmp=$(mktemp -d /tmp/cpx-container.XXXXXX)
trap '[ -n "${KEEP:-}" ] || rm -rf "$tmp"' EXIT
mkdir -p "$tmp/units/multi-user.target.wants" "$tmp/out" "$tmp/t"
cp "${REAL_UNIT_SCRIPT:-$here/real_unit.sh}" "$tmp/t/real_unit.sh"
cat >"$tmp/units/cpx-real-unit.service" <<UNIT
[Unit]
Description=codex-responses-api-proxy real unit check
After=multi-user.target systemd-sysusers.service
[Service]
Type=oneshot
ExecStart=/bin/sh -c 'bash /cpx/t/real_unit.sh $dead_port >/cpx/out/log 2>&1; echo \$? >/cpx/out/rc; systemctl --no-block poweroff'
UNIT
ln -s ../cpx-real-unit.service "$tmp/units/multi-user.target.wants/cpx-real-unit.service"
# The unit must come up after the boot's own jobs: pulled in by
# multi-user.target (the container's default) through the wants link.
timeout "${CONTAINER_TIMEOUT:-240}" systemd-nspawn --quiet --register=no --keep-unit -D / --volatile=yes \
    -M cpx-unit-check --capability=CAP_IPC_LOCK --bind=/etc/$PKG --bind="$tmp/units:/etc/systemd/system" \
    --bind="$tmp/out:/cpx/out" --bind-ro="$tmp/t:/cpx/t" --console=pipe --boot systemd.firstboot=off >"$tmp/console" 2>&1 </dev/null || true
if [ ! -s "$tmp/out/rc" ]; then
    echo "container did not run the check; console tail:"
    tail -20 "$tmp/console"
    exit 77
fi
cat "$tmp/out/log"
exit "$(cat "$tmp/out/rc")"
