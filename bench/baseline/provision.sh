#!/usr/bin/env bash
# The benchmark's baseline: what a competent operator writes by hand with plain OpenSSH and bash to
# do longshore's install on one host: ship the engine bundle (tar over ssh), check it with
# sha256sum, install it with apt from the local .debs, write daemon.json, start docker, load the
# image (gzip -1 stream), run the container, wait for health, append an audit line. Every part
# checks first and does only what is missing, all over one SSH connection (ControlMaster), with
# the host key verified against a known_hosts file. No error handling beyond `set -e`, no
# progress, no report: that is what makes it a floor, not a competitor.
#
# Usage: provision.sh ADDRESS KEY KNOWN_HOSTS BUNDLE_DIR DAEMON_JSON IMAGE_ARCHIVE IMAGE_ID PORT
#   BUNDLE_DIR holds SHA256SUMS, manifest.json and debs/; EXPECTED_DPKG (env) is the dpkg-query
#   line the installed engine packages must print, PACKAGES (env) their names.
set -euo pipefail
addr=$1 key=$2 known=$3 bundle=$4 daemon_json=$5 image=$6 image_id=$7 port=$8
: "${EXPECTED_DPKG:?}" "${PACKAGES:?}"
bundle_id=$(basename "$bundle")
ctl=$(mktemp -u /tmp/ls-baseline-XXXXXX)
ssh_=(ssh -i "$key" -o UserKnownHostsFile="$known" -o StrictHostKeyChecking=yes -o BatchMode=yes
  -o ControlMaster=auto -o ControlPath="$ctl" -o ControlPersist=30 -o LogLevel=ERROR "root@$addr")
trap '"${ssh_[@]}" -O exit >/dev/null 2>&1 || true' EXIT
daemon_sha=$(sha256sum < "$daemon_json" | cut -d' ' -f1)
remote_bundle=/var/lib/baseline/bundle/$bundle_id

# 1. One round trip: what is missing?
# ssh joins its arguments into one command line for the remote shell: each is quoted with %q.
need=$("${ssh_[@]}" bash -s -- "$(printf '%q ' "$remote_bundle" "$daemon_sha" "$image_id" "$port" "$PACKAGES" "$EXPECTED_DPKG")" <<'EOF'
b=$1 dsha=$2 img=$3 port=$4 pkgs=$5 want=$6
[ -f "$b/.verified" ] || echo bundle
# shellcheck disable=SC2086
[ "$(dpkg-query -W -f '${Package}=${Version}=${db:Status-Abbrev};' $pkgs 2>/dev/null)" = "$want" ] || echo install
[ "$(sha256sum < /etc/docker/daemon.json 2>/dev/null | cut -d' ' -f1)" = "$dsha" ] || echo config
systemctl is-active -q docker 2>/dev/null || echo start
docker image inspect "$img" >/dev/null 2>&1 || echo image
[ "$(docker inspect -f '{{.State.Running}} {{.Image}}' app 2>/dev/null)" = "true $img" ] || echo run
exec 3<>"/dev/tcp/127.0.0.1/$port" 2>/dev/null && printf 'GET /healthz HTTP/1.0\r\n\r\n' >&3 && head -n1 <&3 | grep -q ' 200 ' || echo health
EOF
)
has() { grep -qx "$1" <<<"$need"; }
# Phase times on stderr (`phase <name> <ms>`), for the benchmark's comparison with longshore's steps.
t0=$(date +%s%N)
lap() { local t; t=$(date +%s%N); echo "phase $1 $(((t - t0) / 1000000))" >&2; t0=$t; }
lap check
# What this run did, for the benchmark to check that a re-run did nothing.
echo "did:" $need

# 2. Only what is missing.
if has bundle; then
  tar -C "$bundle" -cf - . | "${ssh_[@]}" "mkdir -p '$remote_bundle' && tar -xf - -C '$remote_bundle' && cd '$remote_bundle' && sha256sum --check --strict --quiet SHA256SUMS && touch .verified"
  lap bundle
fi
if has install; then
  "${ssh_[@]}" "printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d &&
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends -o Dir::Etc::SourceList=/dev/null -o Dir::Etc::SourceParts=/dev/null $remote_bundle/debs/*.deb >/dev/null;
    r=\$?; rm -f /usr/sbin/policy-rc.d; exit \$r"
  lap install
fi
if has config; then
  "${ssh_[@]}" "mkdir -p /etc/docker && cat > /etc/docker/daemon.json" < "$daemon_json"
  lap config
fi
if has config || has start || has install; then
  "${ssh_[@]}" "systemctl enable -q docker.service docker.socket && systemctl restart docker"
  lap start
fi
if has image; then
  gzip -1 < "$image" | "${ssh_[@]}" "gunzip | docker load -q >/dev/null"
  lap image
fi
if has run || has image; then
  "${ssh_[@]}" "docker rm -f app >/dev/null 2>&1 || true; docker run -d --name app --restart unless-stopped -p $port:$port '$image_id' >/dev/null"
  lap run
fi
if has health || has run || has image; then
  "${ssh_[@]}" "for i in \$(seq 1 600); do exec 3<>/dev/tcp/127.0.0.1/$port 2>/dev/null && printf 'GET /healthz HTTP/1.0\r\n\r\n' >&3 && head -n1 <&3 | grep -q ' 200 ' && exit 0; sleep 0.1; done; exit 1"
  lap health
  "${ssh_[@]}" "mkdir -p /var/log/baseline && echo \"\$(date -Is) app $image_id\" >> /var/log/baseline/audit.log"
  lap audit
fi
