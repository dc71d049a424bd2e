# longshore engine.facts: the host is still what the plan was made for. Changes nothing.
want_cgroup=1
fail=0
problem() { printf 'engine.facts: %s\n' "$*" >&2; fail=1; }
for tool in apt-get dpkg-query systemctl bash sha256sum; do
  command -v "$tool" >/dev/null 2>&1 || problem "$tool is not installed"
done
[ -d /run/systemd/system ] || problem "systemd is not running as PID 1 (the engine runs as systemd units)"
. /etc/os-release 2>/dev/null
want_arch=amd64
want_os=debian
want_release=bookworm
arch=$(dpkg --print-architecture 2>/dev/null)
[ "$arch" = "$want_arch" ] || problem "host architecture is ${arch:-unknown}; the engine bundle is for $want_arch"
[ "${ID:-}" = "$want_os" ] || problem "host runs ${ID:-an unknown OS}; the engine bundle is for $want_os"
[ "${VERSION_CODENAME:-}" = "$want_release" ] || problem "host release is ${VERSION_CODENAME:-unknown}; the engine bundle is for $want_release"
if [ "$(stat -fc %T /sys/fs/cgroup 2>/dev/null)" = cgroup2fs ]; then cg=2; else cg=1; fi
[ "$cg" = "$want_cgroup" ] || problem "host uses cgroup v$cg; the plan was made for cgroup v$want_cgroup"
exit $fail
