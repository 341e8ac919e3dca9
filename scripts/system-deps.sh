#!/usr/bin/env bash
# Installs the Debian packages proctor needs when they are missing, and starts PostgreSQL for the tests.
#   scripts/system-deps.sh run    bubblewrap, passt (pasta: the internet for sandboxes granted it), e2fsprogs
#   scripts/system-deps.sh test   those, PostgreSQL (started, with a role for this user), Chromium, openssl,
#                                 iproute2 and Debian's python3 (the network tests' namespaces and probes)
set -euo pipefail
need=()
command -v bwrap >/dev/null || need+=(bubblewrap)
command -v pasta >/dev/null || need+=(passt)
command -v mkfs.ext4 >/dev/null || need+=(e2fsprogs)  # each workspace's disk of its own (run by root)
if [ "${1:-run}" = test ]; then
  command -v pg_ctlcluster >/dev/null || need+=(postgresql)
  [ -x /usr/bin/chromium ] || need+=(chromium)  # the browser tests drive Debian's Chromium with Playwright
  command -v openssl >/dev/null || need+=(openssl)  # the TLS tests make a self-signed certificate
  command -v ip >/dev/null || need+=(iproute2)  # the network tests build network namespaces
  [ -x /usr/bin/python3 ] || need+=(python3)  # and probe from inside sandboxes, where the venv's python may not be
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
