#!/usr/bin/env bash
# System packages the tests use, installed when run as root and missing (a no-op otherwise):
#   postgresql  the store tests' second backend (tests/_pg.py starts a throw-away cluster); without it
#               that half fails with the reason, it is never skipped
#   chromium    the dashboard's browser test (skipped with a reason without it)
# Called by `make test` (and so by .ci/run); safe to run again.
set -euo pipefail
[ "$(id -u)" = 0 ] || exit 0
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || need+=(postgresql)
[ ${#need[@]} -gt 0 ] || exit 0
echo "installing ${need[*]} for the tests (apt-get)"
apt-get update -qq || true
for pkg in "${need[@]}"; do  # chromium may be missing from a mirror; postgresql must install
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$pkg" >/dev/null; then
    if [ "$pkg" = postgresql ]; then
      echo "could not install postgresql: the PostgreSQL half of the tests needs it" >&2
      exit 1
    fi
  fi
done
