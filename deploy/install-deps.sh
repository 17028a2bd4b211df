#!/usr/bin/env bash
# Installs everything pgwarden's DEMO AND TESTS need on a fresh Debian 12 machine (what
# `npm run demo`, `npm test` and .ci/run use): PostgreSQL 15, etcd 3.4, HAProxy 2.6, network
# tools, the unprivileged `postgres` OS user, and the npm dependencies (then builds the
# TypeScript). Safe to run again. For a production database node use deploy/install-node.sh.
#
# It never stops or disables a service it did not install: only when this run installed
# etcd-server, haproxy or postgresql-common does it stop and disable that package's service
# (the demo runs its own processes on free ports); services already on the host are left alone.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
PGW_SCRIPT=install-deps
# shellcheck source=lib/install-common.sh
. "$here/deploy/lib/install-common.sh"
pg_bin=${PGWARDEN_PG_BIN_DIR:-/usr/lib/postgresql/15/bin}

need_apt=()
command -v "$pg_bin/postgres" >/dev/null 2>&1 || need_apt+=(postgresql-15 postgresql-client-15)
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

pgw_apt_install "${need_apt[@]}"
pgw_quiesce_new_services

if [ "$(id -u)" -eq 0 ]; then
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
