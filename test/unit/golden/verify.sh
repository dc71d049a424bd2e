# longshore engine.verify: the running engine is the one planned. Changes nothing.
# What the daemon reported right after it started (the recorder's record, for the same PID), else
# one `docker info` and one `docker version` (each a round trip to the daemon), every fact a line.
fail=0
check() {
  if [ "$3" != "$2" ]; then
    printf 'engine.verify: %s: expected %s, got %s\n' "$1" "$2" "${3:-(nothing)}" >&2
    fail=1
  fi
}
# Upstream part of a version as the engine reports it: 20.10.24+dfsg1 -> 20.10.24, v1.6.28 -> 1.6.28.
upstream() { v=${1#v}; v=${v%%[+~-]*}; printf '%s' "$v"; }
# Line $2 of $1 (a daemon that does not answer leaves its error on line 1 and nothing after).
line() { printf '%s\n' "$1" | sed -n "$2p"; }
rec=/var/lib/longshore/engine/running-facts
pid=$(systemctl show -p MainPID --value docker.service 2>/dev/null)
if [ -n "$pid" ] && [ "$pid" != 0 ] && [ "$(head -n 1 "$rec" 2>/dev/null)" = "pid $pid" ] && [ "$(wc -l < "$rec")" -eq 8 ]; then
  info=$(sed -n '2,6p' "$rec")
  version=$(sed -n '7,$p' "$rec")
else
  info=$(docker info --format '{{.ServerVersion}}
{{.Driver}}
{{.CgroupDriver}}
{{.LiveRestoreEnabled}}
{{.LoggingDriver}}' 2>&1)
  version=$(docker version --format '{{range .Server.Components}}{{if eq .Name "containerd"}}{{.Version}}{{end}}{{end}}
{{range .Server.Components}}{{if eq .Name "runc"}}{{.Version}}{{end}}{{end}}' 2>&1)
fi
check 'server version' 20.10.24 "$(upstream "$(line "$info" 1)")"
check 'runc version' 1.1.5 "$(upstream "$(line "$version" 2)")"
check 'storage driver' overlay2 "$(line "$info" 2)"
exit $fail
