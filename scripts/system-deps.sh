#!/usr/bin/env bash
# Installs the Debian packages proctor needs when they are missing, and starts PostgreSQL for the tests.
#   scripts/system-deps.sh run    bubblewrap
#   scripts/system-deps.sh test   bubblewrap, PostgreSQL (started, with a role for this user), Chromium, openssl
set -euo pipefail
need=()
command -v bwrap >/dev/null || need+=(bubblewrap)
if [ "${1:-run}" = test ]; then
  command -v pg_ctlcluster >/dev/null || need+=(postgresql)
  [ -x /usr/bin/chromium ] || need+=(chromium)  # the browser tests drive Debian's Chromium with Playwright
  command -v openssl >/dev/null || need+=(openssl)  # the TLS tests make a self-signed certificate
fi
if [ ${#need[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  echo "installing ${need[*]} (Debian packages)"
  $sudo apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q "${need[@]}" >/dev/null
fi
if [ "${1:-run}" = test ]; then
  version=$(ls /usr/lib/postgresql | sort -n | tail -1)
  sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo pg_ctlcluster "$version" main status >/dev/null 2>&1 || $sudo pg_ctlcluster "$version" main start
  me=$(id -un)
  $sudo su postgres -c "psql -tAc \"SELECT 1 FROM pg_roles WHERE rolname='$me'\"" | grep -q 1 \
    || $sudo su postgres -c "createuser --superuser $me"
fi
