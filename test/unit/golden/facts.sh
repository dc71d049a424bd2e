# longshore host facts: one key=value per line, read by parseHostFacts().
. /etc/os-release 2>/dev/null
printf 'arch=%s\n' "$(dpkg --print-architecture 2>/dev/null)"
printf 'os_id=%s\nos_version_id=%s\nos_codename=%s\n' "${ID:-}" "${VERSION_ID:-}" "${VERSION_CODENAME:-}"
if [ "$(stat -fc %T /sys/fs/cgroup 2>/dev/null)" = cgroup2fs ]; then echo cgroup=2; else echo cgroup=1; fi
if [ -d /run/systemd/system ]; then echo systemd=yes; else echo systemd=no; fi
dpkg-query -W -f '${Package} ${db:Status-Abbrev}${Version}\n' docker.io docker-ce 2>/dev/null | sed -n 's/^\([^ ]*\) ii \(.*\)$/engine=\1 \2/p'
exit 0
