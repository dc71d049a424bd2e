# longshore engine.start: record the config dockerd reads as it starts or reloads.
# Run by systemd (docker.service's ExecStartPre, ExecStartPost and ExecReload, from longshore-record.conf), also
# when someone restarts docker by hand: the record says what the running daemon read, not what
# longshore last wrote. The digest is sha256 of "daemon.json <sha256>\nhosts drop-in <sha256|none>\n".
# Never fails the start: a record it cannot write is removed, and a missing record means restart.
record=/var/lib/longshore/engine/running-config
facts=/var/lib/longshore/engine/running-facts
daemon_json=/etc/docker/daemon.json
hosts_dropin=/etc/systemd/system/docker.service.d/longshore-hosts.conf
sum() { if [ -e "$1" ]; then sha256sum < "$1" | cut -c1-64; else echo none; fi; }
digest=$(printf 'daemon.json %s\nhosts drop-in %s\n' "$(sum "$daemon_json")" "$(sum "$hosts_dropin")" | sha256sum | cut -c1-64)
mkdir -p "$(dirname "$record")" || exit 0
case "${1:-start}" in
  start)
    # A new daemon: only what it reads now counts, and nothing of what the old one reported.
    rm -f "$record" "$facts"
    { printf 'start %s\n' "$digest" > "$record.tmp" && mv "$record.tmp" "$record"; } || rm -f "$record" "$record.tmp"
    ;;
  reload)
    # SIGHUP re-reads some keys only: the start line stays, this one is added. A reload may change
    # what the daemon reports (live-restore): engine.verify asks it again.
    rm -f "$facts"
    printf 'reload %s\n' "$digest" >> "$record" || rm -f "$record"
    ;;
  facts)
    # After the daemon is up (ExecStartPost, $MAINPID set by systemd): what it reports, a fact a
    # line, so that engine.verify reads it instead of asking the daemon at every probe. Written
    # only whole, and only when both answers came.
    i=$(docker info --format '{{.ServerVersion}}
{{.Driver}}
{{.CgroupDriver}}
{{.LiveRestoreEnabled}}
{{.LoggingDriver}}' 2>/dev/null) && v=$(docker version --format '{{range .Server.Components}}{{if eq .Name "containerd"}}{{.Version}}{{end}}{{end}}
{{range .Server.Components}}{{if eq .Name "runc"}}{{.Version}}{{end}}{{end}}' 2>/dev/null) &&
      [ -n "${MAINPID:-}" ] && printf 'pid %s\n%s\n%s\n' "$MAINPID" "$i" "$v" > "$facts.tmp" && mv "$facts.tmp" "$facts" || rm -f "$facts" "$facts.tmp"
    ;;
esac
exit 0
