#!/usr/bin/env bash
# Installs what the tests need and a fresh machine lacks: nginx and caddy (the gateway tests),
# chromium (the invite page tests), prometheus for promtool (the alert rule tests), the real node's
# runtime (containerd, runc, CNI plugins, nftables, iptables, conntrack, openssl: the node tests;
# not with CLUSTER_E2E=0) and, when missing, git and make. `make test` and .ci/run call it
# first, so a missing package fails at once, before any build, with the command that fixes it.
# Then it builds mailpit (the mail server of the SMTP e2e test) from the Go module proxy with
# hack/mailpit.sh, cached under bin/.
set -euo pipefail

need=()
for tool in git make; do command -v "$tool" >/dev/null || need+=("$tool"); done
[ -x /usr/sbin/nginx ] || command -v nginx >/dev/null || need+=(nginx-light)
command -v caddy >/dev/null || need+=(caddy)
command -v promtool >/dev/null || need+=(prometheus)
command -v chromium >/dev/null || need+=(chromium)
if [ "${CLUSTER_E2E:-1}" != 0 ]; then
  command -v containerd >/dev/null || need+=(containerd)
  command -v runc >/dev/null || need+=(runc)
  [ -x /usr/lib/cni/bridge ] || need+=(containernetworking-plugins)
  for tool in nft:nftables iptables:iptables conntrack:conntrack openssl:openssl; do
    command -v "${tool%%:*}" >/dev/null || need+=("${tool#*:}")
  done
fi
mailpit="$(dirname "$0")/mailpit.sh"
((${#need[@]})) || exec "${mailpit}"

cmd="apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ${need[*]}"
sudo=""
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    sudo="sudo"
  else
    echo "[test-deps] missing ${need[*]}; install them with: sudo sh -c '${cmd}'" >&2
    exit 1
  fi
fi
echo "[test-deps] installing ${need[*]} from apt (needed by the tests)" >&2
if ! $sudo sh -c "${cmd}"; then
  echo "[test-deps] installing failed; run: sudo sh -c '${cmd}'" >&2
  exit 1
fi
exec "${mailpit}"
