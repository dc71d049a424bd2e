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
# An apt-get or dpkg that an earlier, dropped connection left running holds dpkg's lock, and apt
# would wait for it without a word: say who holds it (again when the holder changes) while waiting.
progress='longshore-progress: '
wait_s=120
# The PID holding a POSIX lock on one of dpkg's lock files, from /proc/locks (no fuser or lsof on a
# minimal host). Matched by inode: /proc/locks names the device as the kernel sees it, which on an
# overlay root is not what stat reports. Waiters ("->" lines) are skipped.
lock_holder() {
  for lock in /var/lib/dpkg/lock-frontend /var/lib/dpkg/lock; do
    [ -e "$lock" ] || continue
    ino=$(stat -c %i "$lock" 2>/dev/null) || continue
    while read -r line; do
      set -- $line
      [ "${2:-}" != "->" ] || continue
      [ "${6:-}" != "" ] && [ "${6##*:}" = "$ino" ] || continue
      echo "$5"
      return 0
    done < /proc/locks
  done
  return 1
}
waited=0
last=""
while holder=$(lock_holder); do
  name=$(cat "/proc/$holder/comm" 2>/dev/null || echo "?")
  if [ "$holder" != "$last" ]; then
    printf '%swaiting for dpkg lock held by PID %s (%s)\n' "$progress" "$holder" "$name" >&2
    last=$holder
  fi
  if [ "$waited" -ge "$wait_s" ]; then
    printf 'engine.install: dpkg lock still held by PID %s (%s) after %s s; if it is stuck, stop it and run again\n' "$holder" "$name" "$wait_s" >&2
    exit 1
  fi
  sleep 1
  waited=$((waited + 1))
done
# Offline: no package lists at all, so apt never waits on a network it does not need.
apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=120 -o Dir::Etc::SourceList=/dev/null -o Dir::Etc::SourceParts=/dev/null /var/lib/longshore/bundle/abc/debs/docker.io_20.10.24+dfsg1-1+deb12u1+b6_amd64.deb /var/lib/longshore/bundle/abc/debs/dmsetup_2%3a1.02.185-2_amd64.deb
