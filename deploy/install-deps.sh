#!/usr/bin/env bash
# Installs everything pgwarden's demo and tests need on a fresh Debian 12 machine:
# PostgreSQL 15, etcd 3.4, HAProxy 2.6, network tools, the unprivileged `postgres` OS user,
# and the npm dependencies (then builds the TypeScript). Safe to run again.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)

need_apt=()
command -v /usr/lib/postgresql/15/bin/postgres >/dev/null 2>&1 || need_apt+=(postgresql-15 postgresql-client-15)
command -v etcd >/dev/null 2>&1 || need_apt+=(etcd-server)
command -v etcdctl >/dev/null 2>&1 || need_apt+=(etcd-client)
command -v haproxy >/dev/null 2>&1 || need_apt+=(haproxy)
command -v iptables >/dev/null 2>&1 || need_apt+=(iptables)
command -v ip >/dev/null 2>&1 || need_apt+=(iproute2)
command -v setpriv >/dev/null 2>&1 || need_apt+=(util-linux)
command -v pgbench >/dev/null 2>&1 || need_apt+=(postgresql-contrib)
command -v wrk >/dev/null 2>&1 || need_apt+=(wrk)  # HTTP load tool: npm run bench:health
command -v openssl >/dev/null 2>&1 || need_apt+=(openssl)  # test certificates (TLS tests)
[ -f /etc/ssl/certs/ca-certificates.crt ] || need_apt+=(ca-certificates)

if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: missing packages (${need_apt[*]}); run this script as root" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  # policy-rc.d stops the packages from starting their own system services (we run our own).
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  apt-get install -y -q --no-install-recommends "${need_apt[@]}"
  rm -f /usr/sbin/policy-rc.d
fi

# The distribution packages may have started their own instances; pgwarden runs its own.
if [ "$(id -u)" -eq 0 ]; then
  for svc in etcd haproxy postgresql; do
    if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$svc" 2>/dev/null; then
      systemctl stop "$svc" || true
      systemctl disable "$svc" >/dev/null 2>&1 || true
    fi
  done
  # PostgreSQL refuses to run as root: agents started by root run as this user.
  if ! id postgres >/dev/null 2>&1; then
    useradd --system --home-dir /var/lib/postgresql --create-home --shell /bin/bash postgres
  fi
fi

cd "$here"
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
npm run --silent build
echo "install-deps: ok"
