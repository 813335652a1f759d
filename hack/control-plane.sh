#!/usr/bin/env bash
# Builds kube-apiserver, kube-controller-manager, etcd and kubectl from the Go module proxy into
# bin/k8s/<version>/. kube-controller-manager gives the test suites and `make dev` a real garbage
# collector and namespace controller (envtest has neither).
#
# Why: setup-envtest downloads prebuilt binaries, which cannot be fetched on machines that
# only reach a Go module proxy. `go install` refuses both kube-apiserver and etcd because their
# go.mod files carry replace directives, so each is built in a throwaway module that repeats
# those replaces with released versions. Idempotent: a binary already built for the pinned
# version (recorded in a stamp file) is kept.
#
# Usage: hack/control-plane.sh [print-dir|node]
#   print-dir   only print the assets directory (for KUBEBUILDER_ASSETS) without building
#   node        also build kubelet, kube-scheduler and kube-proxy (for a real local node, `make cluster`);
#               the default path (CI, `make test`) never builds them
set -euo pipefail

KUBE_VERSION="${KUBE_VERSION:-1.37.2}"      # k8s.io/kubernetes v1.37.2 <-> staging v0.37.2
ETCD_VERSION="${ETCD_VERSION:-3.7.3}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ASSETS="${ROOT}/bin/k8s/${KUBE_VERSION}"

if [[ "${1:-}" == "print-dir" ]]; then
  echo "${ASSETS}"
  exit 0
fi

STAGING_VERSION="v0.${KUBE_VERSION#*.}"
mkdir -p "${ASSETS}"
export CGO_ENABLED=0 GOFLAGS=-mod=mod GOWORK=off

log() { printf '[control-plane] %s\n' "$*" >&2; }

# built NAME VERSION: true when bin has NAME at VERSION already.
built() { [[ -x "${ASSETS}/$1" && "$(cat "${ASSETS}/.$1.version" 2>/dev/null)" == "$2" ]]; }

# progress PID LABEL: prints a line every 30 s while a long build runs, so nobody thinks it hangs.
progress() {
  local pid=$1 label=$2 start=$SECONDS
  while kill -0 "$pid" 2>/dev/null; do
    sleep 30
    kill -0 "$pid" 2>/dev/null && log "${label}: still building ($((SECONDS - start)) s)..."
  done
}

# run_build LABEL CMD...: runs a build in the background with progress lines, fails loudly.
run_build() {
  local label=$1; shift
  "$@" &
  local pid=$!
  progress "$pid" "$label" &
  local ppid=$!
  local rc=0
  wait "$pid" || rc=$?
  kill "$ppid" 2>/dev/null || true
  wait "$ppid" 2>/dev/null || true
  return $rc
}

build_kube() {
  local tmp
  tmp="$(mktemp -d)"
  trap 'rm -rf "${tmp}"' RETURN
  log "building $* v${KUBE_VERSION} from the Go module proxy"
  log "a cold build takes about 15 minutes on 2 cores and ~3 GB of build cache; later runs reuse it"
  (cd "${tmp}" && go mod init example.invalid/kube-build >/dev/null 2>&1)
  local mod
  mod="$(cd "${tmp}" && go mod download -json "k8s.io/kubernetes@v${KUBE_VERSION}" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')"
  {
    echo "module example.invalid/kube-build"
    echo
    grep -E '^(go|godebug) ' "${mod}"
    echo
    echo "require k8s.io/kubernetes v${KUBE_VERSION}"
    echo
    # Every staging module that kubernetes replaces with ./staging/... gets its released version.
    # sample-* modules are not published and not needed by these binaries.
    sed -n 's#^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => ./staging/.*#\1#p' "${mod}" | grep -v '/sample-' |
      while read -r m; do echo "replace ${m} => ${m} ${STAGING_VERSION}"; done
  } > "${tmp}/go.mod"
  # Only the commands being built are imported, so the default path resolves no node-only modules.
  {
    printf '//go:build tools\n\npackage tools\n\nimport (\n'
    local b
    for b in "$@"; do printf '\t_ "k8s.io/kubernetes/cmd/%s"\n' "${b}"; done
    printf ')\n'
  } > "${tmp}/tools.go"
  local date
  date="2026-01-01T00:00:00Z" # fixed so the same inputs give the same binary
  local ldflags=""
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X ${pkg}.gitVersion=v${KUBE_VERSION}"
    ldflags+=" -X ${pkg}.gitMajor=${KUBE_VERSION%%.*}"
    ldflags+=" -X ${pkg}.gitMinor=$(echo "${KUBE_VERSION}" | cut -d. -f2)"
    ldflags+=" -X ${pkg}.gitTreeState=clean -X ${pkg}.buildDate=${date}"
  done
  (cd "${tmp}" && go mod tidy >/dev/null 2>&1 || true)
  local bin
  for bin in "$@"; do
    built "${bin}" "${KUBE_VERSION}" && continue
    (cd "${tmp}" && run_build "${bin}" go build -trimpath -ldflags "-s -w ${ldflags}" -o "${ASSETS}/${bin}" "k8s.io/kubernetes/cmd/${bin}")
    echo "${KUBE_VERSION}" > "${ASSETS}/.${bin}.version"
  done
}

build_etcd() {
  local tmp
  tmp="$(mktemp -d)"
  trap 'rm -rf "${tmp}"' RETURN
  log "building etcd v${ETCD_VERSION} from the Go module proxy (about 1 minute)"
  {
    echo "module example.invalid/etcd-build"
    echo
    echo "go 1.26.0"
    echo
    echo "require go.etcd.io/etcd/server/v3 v${ETCD_VERSION}"
    for m in api client/pkg client/v3 pkg; do
      echo "replace go.etcd.io/etcd/${m}/v3 => go.etcd.io/etcd/${m}/v3 v${ETCD_VERSION}"
    done
  } > "${tmp}/go.mod"
  cat > "${tmp}/tools.go" <<'GO'
//go:build tools

package tools

import _ "go.etcd.io/etcd/server/v3"
GO
  (cd "${tmp}" && go mod tidy >/dev/null 2>&1 || true)
  (cd "${tmp}" && run_build etcd go build -trimpath -ldflags "-s -w" -o "${ASSETS}/etcd" go.etcd.io/etcd/server/v3)
  echo "${ETCD_VERSION}" > "${ASSETS}/.etcd.version"
}

if built etcd "${ETCD_VERSION}"; then log "etcd v${ETCD_VERSION}: cached"; else build_etcd; fi
missing=()
wanted=(kube-apiserver kube-controller-manager kubectl)
[[ "${1:-}" == "node" ]] && wanted+=(kubelet kube-scheduler kube-proxy)
for bin in "${wanted[@]}"; do
  built "${bin}" "${KUBE_VERSION}" || missing+=("${bin}")
done
if ((${#missing[@]})); then
  build_kube "${missing[@]}"
else
  log "${wanted[*]} v${KUBE_VERSION}: cached"
fi
log "ready in ${ASSETS}"
echo "${ASSETS}"
