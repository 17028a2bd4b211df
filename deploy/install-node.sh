#!/usr/bin/env bash
# Installs pgwarden on a PRODUCTION database node (Debian 12, as root). For the demo and the
# tests use deploy/install-deps.sh instead.
#
#   bash deploy/install-node.sh [--prefix /opt/pgwarden] [--dry-run]
#
# What it does:
#   1. checks Node.js >= 20 is installed (it does not add package sources: install it yourself);
#   2. installs what is missing of postgresql-15 and util-linux (setpriv) with apt. etcd and
#      HAProxy are not installed here: they usually run elsewhere (see README.md);
#   3. copies this repository to the prefix (default /opt/pgwarden, where deploy/pgwarden.service
#      looks for it), installs its npm dependencies there and builds it;
#   4. installs /etc/systemd/system/pgwarden.service (pointing at the prefix and at this host's
#      node), /usr/local/bin/pgwarden, and /etc/pgwarden/pgwarden.yml.example. It neither enables
#      nor starts pgwarden: write /etc/pgwarden/pgwarden.yml first.
#
# It never stops or disables a service it did not install. If this run installed PostgreSQL
# (postgresql-common), the distribution's postgresql.service is stopped and disabled, because
# pgwarden starts PostgreSQL itself and the packaged cluster (15/main) would take its port; a
# PostgreSQL that was on the host before is left alone, and named in a note if it is running.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
PGW_SCRIPT=install-node
# shellcheck source=lib/install-common.sh
. "$src/deploy/lib/install-common.sh"

prefix=/opt/pgwarden
dry_run=0
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) prefix=${2:?--prefix needs a directory}; shift 2 ;;
    --prefix=*) prefix=${1#--prefix=}; shift ;;
    --dry-run) dry_run=1; shift ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "install-node: unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
done
case "$prefix" in /*) ;; *) echo "install-node: --prefix must be an absolute path, got $prefix" >&2; exit 2 ;; esac
unit_dir=${PGW_UNIT_DIR:-/etc/systemd/system}
etc_dir=${PGW_ETC_DIR:-/etc/pgwarden}
bin_link=${PGW_BIN_LINK:-/usr/local/bin/pgwarden}
pg_bin=${PGWARDEN_PG_BIN_DIR:-/usr/lib/postgresql/15/bin}

run() {
  if [ "$dry_run" -eq 1 ]; then echo "would run: $*"; else "$@"; fi
}

if [ "$dry_run" -eq 0 ] && [ "$(id -u)" -ne 0 ]; then
  echo "install-node: run this script as root (or with --dry-run to see what it would do)" >&2
  exit 1
fi

# 1. Node.js 20 or newer.
node_bin=$(command -v node || true)
node_major=$([ -n "$node_bin" ] && "$node_bin" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$node_major" -lt 20 ]; then
  echo "install-node: Node.js 20 or newer is required (found: ${node_bin:-none}${node_bin:+, major $node_major}); install it, then run this again" >&2
  exit 1
fi

# 2. Packages.
need_apt=()
command -v "$pg_bin/postgres" >/dev/null 2>&1 || need_apt+=(postgresql-15 postgresql-client-15)
command -v setpriv >/dev/null 2>&1 || need_apt+=(util-linux)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$dry_run" -eq 1 ]; then echo "would apt-get install: ${need_apt[*]}"; else pgw_apt_install "${need_apt[@]}"; fi
fi
if [ "$dry_run" -eq 0 ]; then pgw_quiesce_new_services; fi
if ! id postgres >/dev/null 2>&1; then
  run useradd --system --home-dir /var/lib/postgresql --create-home --shell /bin/bash postgres
fi

# 3. The code, under the prefix.
if [ "$src" != "$prefix" ]; then
  run mkdir -p "$prefix"
  if [ "$dry_run" -eq 1 ]; then
    echo "would copy $src to $prefix (without node_modules, dist, test-results, .git)"
  else
    tar -C "$src" --exclude=./node_modules --exclude=./dist --exclude=./test-results --exclude=./.git -cf - . | tar -C "$prefix" -xf -
  fi
fi
if [ "$dry_run" -eq 1 ]; then
  echo "would run in $prefix: npm ci, npm run build, npm prune --omit=dev"
else
  (cd "$prefix" && npm ci --no-audit --no-fund && npm run --silent build && npm prune --omit=dev --no-audit --no-fund)
fi

# 4. systemd unit, command, example config. The unit names this host's node and the prefix.
unit_text=$(sed -e "s#/opt/pgwarden#$prefix#g" -e "s#/usr/bin/node #$node_bin #" "$src/deploy/pgwarden.service")
if [ "$dry_run" -eq 1 ]; then
  echo "would write $unit_dir/pgwarden.service:"; echo "$unit_text" | grep '^ExecStart='
else
  mkdir -p "$unit_dir"
  unit_file="$unit_dir/pgwarden.service"
  if [ -f "$unit_file" ] && [ "$(cat "$unit_file")" != "$unit_text" ]; then
    cp -p "$unit_file" "$unit_file.bak"
    echo "install-node: $unit_file changed; the previous one is kept as $unit_file.bak (customise with a drop-in: systemctl edit pgwarden)"
  fi
  printf '%s\n' "$unit_text" > "$unit_file"
  if command -v systemctl >/dev/null 2>&1; then systemctl daemon-reload >/dev/null 2>&1 || true; fi
  printf '#!/bin/sh\nexec %s %s/dist/agent/cli.js "$@"\n' "$node_bin" "$prefix" > "$bin_link"
  chmod 0755 "$bin_link"
  # An existing config directory keeps its owner and mode.
  [ -d "$etc_dir" ] || install -d -m 0750 -g postgres "$etc_dir"
  install -m 0640 -g postgres "$src/deploy/pgwarden.yml" "$etc_dir/pgwarden.yml.example"
fi

if [ "$dry_run" -eq 1 ]; then echo "install-node: dry run: nothing was changed"; exit 0; fi
cat <<EOF
install-node: ok: pgwarden in $prefix, unit $unit_dir/pgwarden.service, command $bin_link
Next: write $etc_dir/pgwarden.yml (from $etc_dir/pgwarden.yml.example; passwords in
$etc_dir/secrets/, readable by postgres only), then: systemctl enable --now pgwarden
EOF
