# longshore engine.install: install the engine packages without starting them.
set -eu
# Nothing may start before engine.configure has written daemon.json: policy-rc.d exit 101 tells
# invoke-rc.d and deb-systemd-invoke not to start services. An existing policy is left alone.
policy=/usr/sbin/policy-rc.d
created=no
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' > "$policy"
  chmod 0755 "$policy"
  created=yes
fi
cleanup() { if [ "$created" = yes ]; then rm -f "$policy"; fi; }
trap cleanup EXIT
trap 'cleanup; exit 130' INT TERM HUP
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=120 docker.io containerd runc tini
