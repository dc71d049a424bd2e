# longshore engine.start: record the config dockerd reads as it starts or reloads.
# Run by systemd (docker.service's ExecStartPre and ExecReload, from longshore-record.conf), also
# when someone restarts docker by hand: the record says what the running daemon read, not what
# longshore last wrote. The digest is sha256 of "daemon.json <sha256>\nhosts drop-in <sha256|none>\n".
# Never fails the start: a record it cannot write is removed, and a missing record means restart.
record=/var/lib/longshore/engine/running-config
daemon_json=/etc/docker/daemon.json
hosts_dropin=/etc/systemd/system/docker.service.d/longshore-hosts.conf
sum() { if [ -e "$1" ]; then sha256sum < "$1" | cut -c1-64; else echo none; fi; }
digest=$(printf 'daemon.json %s\nhosts drop-in %s\n' "$(sum "$daemon_json")" "$(sum "$hosts_dropin")" | sha256sum | cut -c1-64)
mkdir -p "$(dirname "$record")" || exit 0
case "${1:-start}" in
  start)
    # A new daemon: only what it reads now counts.
    rm -f "$record"
    { printf 'start %s\n' "$digest" > "$record.tmp" && mv "$record.tmp" "$record"; } || rm -f "$record" "$record.tmp"
    ;;
  reload)
    # SIGHUP re-reads some keys only: the start line stays, this one is added.
    printf 'reload %s\n' "$digest" >> "$record" || rm -f "$record"
    ;;
esac
exit 0
