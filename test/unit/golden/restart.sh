# longshore engine.start: restart dockerd while published ports keep answering.
# When dockerd starts it flushes its iptables chains and re-adds each container's port rules one
# by one (moby/moby#34660). With live-restore the containers keep running, but for that moment a
# new connection to a published port would be refused (no DNAT) or dropped (no FORWARD accept).
# A copy of the current rules in chains dockerd does not touch holds the ports until dockerd's own
# rules are back; then the copy goes. Without iptables (or without a DOCKER chain) it just restarts.
hold=LONGSHORE-HOLD
wait_s=60
nat_rules=""
filter_rules=""
if command -v iptables >/dev/null 2>&1 && iptables -w -t nat -S DOCKER >/dev/null 2>&1; then
  nat_rules=$(iptables -w -t nat -S DOCKER | sed -n 's/^-A DOCKER \(.* -j DNAT .*\)$/\1/p')
  filter_rules=$(iptables -w -t filter -S DOCKER 2>/dev/null | sed -n 's/^-A DOCKER \(.* -j ACCEPT\)$/\1/p')
fi
unhold() {
  iptables -w -t nat -D PREROUTING -m addrtype --dst-type LOCAL -j "$hold" 2>/dev/null
  iptables -w -t nat -F "$hold" 2>/dev/null; iptables -w -t nat -X "$hold" 2>/dev/null
  iptables -w -t filter -D FORWARD -j "$hold" 2>/dev/null
  iptables -w -t filter -F "$hold" 2>/dev/null; iptables -w -t filter -X "$hold" 2>/dev/null
  return 0
}
if [ -n "$nat_rules" ]; then
  unhold
  trap unhold EXIT
  trap 'unhold; exit 130' INT TERM HUP
  set -e
  iptables -w -t nat -N "$hold"
  iptables -w -t filter -N "$hold"
  # The rules are iptables' own -S output for this host's containers: word splitting is what they need.
  printf '%s\n' "$nat_rules" | while IFS= read -r r; do eval "iptables -w -t nat -A \"\$hold\" $r"; done
  printf '%s\n' "$filter_rules" | while IFS= read -r r; do [ -z "$r" ] || eval "iptables -w -t filter -A \"\$hold\" $r"; done
  iptables -w -t nat -I PREROUTING 1 -m addrtype --dst-type LOCAL -j "$hold"
  iptables -w -t filter -I FORWARD 1 -j "$hold"
  set +e
fi
systemctl restart docker.service || exit $?
[ -n "$nat_rules" ] || exit 0
# dockerd's rules are back when every held DNAT rule is in its DOCKER chain again.
end=$(( $(date +%s) + wait_s ))
while :; do
  missing=0
  while IFS= read -r r; do
    eval "iptables -w -t nat -C DOCKER $r" 2>/dev/null || { missing=1; break; }
  done <<EOF
$nat_rules
EOF
  [ "$missing" = 0 ] && exit 0
  if [ "$(date +%s)" -ge "$end" ]; then
    echo "engine.start: dockerd did not restore the containers' port rules within ${wait_s} s" >&2
    exit 1
  fi
  sleep 0.1
done
