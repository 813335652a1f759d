#!/usr/bin/env bash
# The node's smoke check, run by `hack/cluster/cluster.sh hack/cluster/smoke.sh` (KUBECONFIG set):
# a Pod from the locally imported image (hack/cluster/pause serving HTTP, never pulled) becomes
# Running and Ready with an IP, and answers on its IP and through a ClusterIP Service (kube-proxy).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
kubectl() { "$("${ROOT}/hack/control-plane.sh" print-dir)/kubectl" "$@"; }
log() { printf '[smoke] %s\n' "$*" >&2; }
t0=$SECONDS
# The ServiceAccount controller creates "default" shortly after the namespace exists.
until kubectl get serviceaccount default >/dev/null 2>&1; do sleep 1; done
kubectl apply -f - >/dev/null <<'YAML'
apiVersion: v1
kind: Pod
metadata: {name: smoke, labels: {app: smoke}}
spec:
  securityContext: {runAsNonRoot: true, seccompProfile: {type: RuntimeDefault}}
  containers:
  - name: web
    image: localhost/pause:local
    imagePullPolicy: Never
    args: ["-listen", ":8080"]
    ports: [{containerPort: 8080}]
    readinessProbe: {httpGet: {path: /, port: 8080}, periodSeconds: 2}
    securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {drop: [ALL]}}
---
apiVersion: v1
kind: Service
metadata: {name: smoke}
spec:
  selector: {app: smoke}
  ports: [{port: 80, targetPort: 8080}]
YAML
kubectl wait --for=condition=Ready pod/smoke --timeout=120s >/dev/null
ip="$(kubectl get pod smoke -o jsonpath='{.status.podIP}')"
svc="$(kubectl get service smoke -o jsonpath='{.spec.clusterIP}')"
log "pod smoke Running and Ready with IP ${ip} after $((SECONDS - t0)) s"
body="$(curl -fsS --max-time 5 "http://${ip}:8080/")"
log "pod IP answers: ${body}"
for _ in $(seq 30); do
  if body="$(curl -fsS --max-time 2 "http://${svc}/" 2>/dev/null)"; then break; fi
  sleep 1
done
[[ "${body}" == smoke ]] || { log "ClusterIP ${svc} did not answer"; exit 1; }
log "ClusterIP ${svc}:80 answers: ${body}"
kubectl delete pod smoke --wait=true --timeout=60s >/dev/null
kubectl delete service smoke >/dev/null
log "ok"
