# Shared by deploy/install-deps.sh (demo and tests) and deploy/install-node.sh (a production
# node). Sourced, not run. The rule both follow: never stop, disable or reconfigure a service
# this run did not install. A service is "ours" only when the package that ships it went from
# not installed to installed during this very run; a service that was on the host before is
# left exactly as it was (and named in a note if it is running).

# service name → the Debian package that ships its unit.
declare -A PGW_SERVICE_PACKAGE=([etcd]=etcd-server [haproxy]=haproxy [postgresql]=postgresql-common)
# Packages (of PGW_SERVICE_PACKAGE) this run installed.
PGW_NEWLY_INSTALLED=()

pgw_log() { echo "${PGW_SCRIPT:-install}: $*"; }

pgw_pkg_installed() {
  [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" = "install ok installed" ]
}

# apt-get install the given packages (root only). The packages' own services are kept from
# starting during the install with a policy-rc.d, but only when the host has none of its own.
pgw_apt_install() {
  [ $# -gt 0 ] || return 0
  if [ "$(id -u)" -ne 0 ]; then
    echo "${PGW_SCRIPT:-install}: missing packages ($*); run this script as root" >&2
    return 1
  fi
  local before=() pkg
  for pkg in "${PGW_SERVICE_PACKAGE[@]}"; do
    if pgw_pkg_installed "$pkg"; then before+=("$pkg"); fi
  done
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  local policy=${PGW_POLICY_RC:-/usr/sbin/policy-rc.d} made_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod +x "$policy" && made_policy=1
  fi
  local rc=0
  apt-get install -y -q --no-install-recommends "$@" || rc=$?
  if [ "$made_policy" -eq 1 ]; then rm -f "$policy"; fi
  if [ "$rc" -ne 0 ]; then return "$rc"; fi
  for pkg in "${PGW_SERVICE_PACKAGE[@]}"; do
    if pgw_pkg_installed "$pkg" && [[ " ${before[*]} " != *" $pkg "* ]]; then PGW_NEWLY_INSTALLED+=("$pkg"); fi
  done
  return 0
}

# Stop and disable the distribution services whose package this run installed (pgwarden runs
# its own etcd, HAProxy and PostgreSQL processes); leave every other one alone.
pgw_quiesce_new_services() {
  command -v systemctl >/dev/null 2>&1 || return 0
  local svc pkg
  for svc in "${!PGW_SERVICE_PACKAGE[@]}"; do
    pkg=${PGW_SERVICE_PACKAGE[$svc]}
    if [[ " ${PGW_NEWLY_INSTALLED[*]} " == *" $pkg "* ]]; then
      systemctl stop "$svc" >/dev/null 2>&1 || true
      systemctl disable "$svc" >/dev/null 2>&1 || true
      pgw_log "stopped and disabled $svc.service: its package $pkg was installed by this run"
    elif systemctl is-active --quiet "$svc" 2>/dev/null; then
      pgw_log "note: $svc.service is running; it was not installed by this run, so it is left alone"
    fi
  done
}
