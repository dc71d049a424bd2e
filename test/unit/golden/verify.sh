# longshore engine.verify: the running engine is the one planned. Changes nothing.
fail=0
check() {
  if [ "$3" != "$2" ]; then
    printf 'engine.verify: %s: expected %s, got %s\n' "$1" "$2" "${3:-(nothing)}" >&2
    fail=1
  fi
}
# Upstream part of a version as the engine reports it: 20.10.24+dfsg1 -> 20.10.24, v1.6.28 -> 1.6.28.
upstream() { v=${1#v}; v=${v%%[+~-]*}; printf '%s' "$v"; }
check 'server version' 20.10.24 "$(upstream "$(docker info --format '{{.ServerVersion}}' 2>&1)")"
check 'storage driver' overlay2 "$(docker info --format '{{.Driver}}' 2>&1)"
exit $fail
