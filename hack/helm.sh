#!/usr/bin/env bash
# Builds helm from the Go module proxy into bin/helm/<version>/helm, for the chart's tests
# (internal/chart) and `make helm-lint`. Built like hack/control-plane.sh builds its binaries: in a
# throwaway module, so helm's dependencies never enter the operator's go.mod, with GOFLAGS=-mod=mod
# and no network beyond the module proxy. Idempotent: a binary already built for the pinned version
# (recorded in a stamp file) is kept.
#
# Usage: hack/helm.sh [print-path]
#   print-path   only print the helm binary's path (for HELM=) without building
set -euo pipefail

HELM_VERSION="${HELM_VERSION:-4.3.2}" # the newest helm.sh/helm/v4 served that builds with Go 1.26
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIR="${ROOT}/bin/helm/${HELM_VERSION}"

if [[ "${1:-}" == "print-path" ]]; then
  echo "${DIR}/helm"
  exit 0
fi

log() { printf '[helm] %s\n' "$*" >&2; }

if [[ -x "${DIR}/helm" && "$(cat "${DIR}/.helm.version" 2>/dev/null)" == "${HELM_VERSION}" ]]; then
  log "helm v${HELM_VERSION}: cached"
  echo "${DIR}/helm"
  exit 0
fi

mkdir -p "${DIR}"
export CGO_ENABLED=0 GOFLAGS=-mod=mod GOWORK=off
tmp="$(mktemp -d)"
trap 'rm -rf "${tmp}"' EXIT
log "building helm v${HELM_VERSION} from the Go module proxy (5-8 minutes cold on 2 cores; later runs reuse it)"
start=$SECONDS
{
  echo "module example.invalid/helm-build"
  echo
  echo "go 1.26.0"
  echo
  echo "require helm.sh/helm/v4 v${HELM_VERSION}"
} > "${tmp}/go.mod"
cat > "${tmp}/tools.go" <<'GO'
//go:build tools

package tools

import _ "helm.sh/helm/v4/cmd/helm"
GO
(cd "${tmp}" && go mod tidy >/dev/null 2>&1 || true)
# helm prints its version from these; without them `helm version` says v4-dev.
ldflags="-s -w -X helm.sh/helm/v4/internal/version.version=v${HELM_VERSION}"
ldflags+=" -X helm.sh/helm/v4/internal/version.gitTreeState=clean"
(cd "${tmp}" && go build -trimpath -ldflags "${ldflags}" -o "${DIR}/helm" helm.sh/helm/v4/cmd/helm)
echo "${HELM_VERSION}" > "${DIR}/.helm.version"
log "built helm v${HELM_VERSION} in $((SECONDS - start)) s"
echo "${DIR}/helm"
