#!/usr/bin/env bash
# Makes this computer ready to run longshore: Debian packages, npm packages, a fresh build.
# Idempotent and quick when nothing is missing. Usage: scripts/bootstrap.sh [runtime|test]
set -euo pipefail
cd "$(dirname "$0")/.."
profile="${1:-runtime}"

say() { printf 'longshore bootstrap: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

[ "$(uname -s)" = Linux ] || die "longshore's local driver needs Linux (this is $(uname -s))."
[ "$(id -u)" = 0 ] || die "run as root: local machines need systemd-nspawn, a bridge and iptables (try: sudo $0 $*)."

# What the local driver needs on this computer (the engine itself is shipped to hosts as a bundle).
runtime_pkgs=(systemd-container debootstrap haproxy iproute2 iptables openssh-client busybox-static zstd)
# What the tests need on top: a real sshd to talk to, sudo for the non-root user test, a Docker
# engine on the controller, HTTP load, a registry for the registry-pull e2e (python3 makes its htpasswd).
test_pkgs=(openssh-server sudo docker.io wrk docker-registry python3)
pkgs=("${runtime_pkgs[@]}")
[ "$profile" = test ] && pkgs+=("${test_pkgs[@]}")

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >&2
  # policy-rc.d 101: packages must not start services here; longshore starts what it owns, by PID.
  had_policy=0; [ -e /usr/sbin/policy-rc.d ] && had_policy=1
  [ $had_policy = 1 ] || { printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; }
  apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
  [ $had_policy = 1 ] || rm -f /usr/sbin/policy-rc.d
fi

command -v node >/dev/null || die "Node.js 20 or newer is required (not found). Install it, then run this again."
major=$(node -p 'process.versions.node.split(".")[0]')
[ "$major" -ge 20 ] || die "Node.js 20 or newer is required (found $(node --version))."

# npm ci only when the lock file changed since the last install.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "installing npm packages"
  npm ci --no-audit --no-fund >&2
fi

# Build only when a source changed since the last build (a re-run costs almost nothing).
stamp=dist/.build-stamp
if [ ! -f "$stamp" ] || [ -n "$(find index.ts core model provisioner templates drivers rollout cli modules stacks bench tsconfig.json package-lock.json -newer "$stamp" -print -quit 2>/dev/null)" ]; then
  say "building"
  npx tsc -p tsconfig.json >&2
  touch "$stamp"
fi
