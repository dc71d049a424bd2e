# longshore app.health: GET the app's health path on this host until it answers the expected
# status or the deadline passes. bash only (its /dev/tcp), plus coreutils: no curl on a minimal host.
host=127.0.0.1
port=8080
path='/healthz?full=1&x='\''y'\'''
expect=200
timeout_s=2
interval_s=0.5
deadline_ms=60000
now_ms() { date +%s%3N; }
start=$(now_ms)
attempt=0
while :; do
  attempt=$((attempt + 1))
  response=$(timeout "$timeout_s" bash -c '
    exec 3<>"/dev/tcp/$1/$2" || exit 111
    printf "GET %s HTTP/1.0\r\nHost: %s:%s\r\nUser-Agent: longshore-health\r\nConnection: close\r\n\r\n" "$3" "$1" "$2" >&3
    head -c 4096 <&3' health "$host" "$port" "$path" 2>/dev/null)
  rc=$?
  status_line=${response%%$'\n'*}
  status_line=${status_line%$'\r'}
  read -r _ code _ <<<"$status_line"
  if [ "${code:-}" = "$expect" ]; then
    printf 'healthy: GET http://%s:%s%s answered %s (attempt %d)\n' "$host" "$port" "$path" "$code" "$attempt"
    exit 0
  fi
  elapsed=$(( $(now_ms) - start ))
  if [ "$elapsed" -ge "$deadline_ms" ]; then
    if [ "$rc" -eq 124 ]; then
      last="no answer within ${timeout_s}s"
    elif [ -z "$response" ]; then
      last="no answer (connection refused or closed)"
    else
      last="status ${code:-(none)}"
    fi
    body=""
    case "$response" in *$'\r\n\r\n'*) body=${response#*$'\r\n\r\n'} ;; esac
    body=$(printf '%s' "$body" | head -c 200 | tr '\r\n\t' '   ' | tr -d '\000-\037\177')
    printf 'app.health: GET http://%s:%s%s: expected status %s, got %s (%d attempts in %d ms)\n' \
      "$host" "$port" "$path" "$expect" "$last" "$attempt" "$elapsed" >&2
    if [ -n "$status_line" ]; then printf 'status line: %s\n' "$status_line" >&2; fi
    if [ -n "$body" ]; then printf 'body: %s\n' "$body" >&2; fi
    exit 1
  fi
  sleep "$interval_s"
done
