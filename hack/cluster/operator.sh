#!/usr/bin/env bash
# `make cluster`'s workload, run by hack/cluster/cluster.sh (KUBECONFIG and CTR_SOCK set): imports
# the manager image `make image` wrote (bin/image/manager.tar, tagged IMG), installs config/default
# with only the image reference set (`make render`), waits until the manager Deployment has all its
# replicas Ready, prints the kubeconfig, and waits for Ctrl-C.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
IMG="${IMG:?IMG names the image in bin/image/manager.tar}"
KUBECTL="$("${ROOT}/hack/control-plane.sh" print-dir)/kubectl"
log() { printf '[cluster] %s\n' "$*" >&2; }
t0=$SECONDS
ctr --address "${CTR_SOCK}" -n k8s.io images import "${ROOT}/bin/image/manager.tar" >/dev/null
log "imported ${IMG}"
make -s --no-print-directory -C "${ROOT}" render IMG="${IMG}" KUBECTL="${KUBECTL}" | "${KUBECTL}" apply --server-side -f - >/dev/null
log "applied config/default"
ns=access-operator-system
deploy=access-operator-controller-manager
"${KUBECTL}" -n "${ns}" rollout status "deployment/${deploy}" --timeout=300s >&2 || {
  "${KUBECTL}" -n "${ns}" get pods -o wide >&2
  "${KUBECTL}" -n "${ns}" describe pods >&2 | tail -40
  exit 1
}
log "manager $("${KUBECTL}" -n "${ns}" get "deployment/${deploy}" -o jsonpath='{.status.readyReplicas}/{.spec.replicas}') Ready after $((SECONDS - t0)) s"
"${KUBECTL}" -n "${ns}" get pods -o wide >&2
log "lines with 'forbidden' in the manager logs: $("${KUBECTL}" -n "${ns}" logs -l control-plane=controller-manager --tail=-1 2>&1 | grep -ci forbidden || true)"
echo "export KUBECONFIG=${KUBECONFIG}"
if [[ -n "${CLUSTER_EXIT:-}" ]]; then exit 0; fi
log "Ctrl-C stops the cluster and restores the host"
while sleep 3600; do :; done
