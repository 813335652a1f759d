#!/usr/bin/env bash
# Runs a real one-node cluster on this host without Docker: etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler (built by hack/control-plane.sh node), containerd with
# the CRI plugin and CNI (bridge + host-local + portmap + loopback), kubelet and kube-proxy
# (nftables mode). The CRI sandbox image is hack/cluster/pause, packed by hack/image and imported
# with `ctr`, so no registry is needed. Ctrl-C (or the end of CMD) stops everything and puts the
# host back: sysctls, the nftables ruleset (iptables here is iptables-nft), the cni0 bridge, network
# namespaces, mounts under the state dir, and the kubelet's cgroups.
#
# Usage: hack/cluster/cluster.sh [CMD...]
#   Without CMD it waits for Ctrl-C; with CMD it runs CMD (KUBECONFIG set) and then stops.
# Env: STATE (default .cluster), NODE (default node1). Needs root, cgroup v1 or v2, apt for missing packages.
# CMD gets KUBECONFIG, CTR_SOCK (containerd's socket), CLUSTER_STATE and CLUSTER_HOST_IP. The API server
# runs supervised: CMD stops it by creating $CLUSTER_STATE/hold/kube-apiserver and killing the PID in
# $CLUSTER_STATE/run/kube-apiserver.pid, and starts it again by removing the hold file;
# kube-controller-manager and kube-scheduler are supervised the same way (killing one restarts it).
# Used by `make cluster` and by the node tests (`make test-cluster`, test/node).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
STATE="$(mkdir -p "${STATE:-${ROOT}/.cluster}" && cd "${STATE:-${ROOT}/.cluster}" && pwd)"
NODE="${NODE:-node1}"
POD_CIDR=10.244.0.0/24
SVC_CIDR=10.96.0.0/16
SVC_API_IP=10.96.0.1
PAUSE_IMAGE=localhost/pause:local
BIN="$("${ROOT}/hack/control-plane.sh" print-dir)"
PKI="${STATE}/pki"
LOGS="${STATE}/logs"
CTR_SOCK="${STATE}/containerd/containerd.sock"
START=$SECONDS

log() { printf '[cluster] %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

[[ $(id -u) == 0 ]] || die "needs root (containerd, kubelet, kube-proxy change the host)"

# One cluster per host: the ports (6443, 10250, 23790), cni0 and the nft tables are the host's.
# CLUSTER_LOCK_HELD=1: the caller holds it already (test/cluster takes it before recording the host).
if [[ -z "${CLUSTER_LOCK_HELD:-}" ]]; then
  exec 9>"${CLUSTER_LOCK:-/run/lock/access-operator-cluster.lock}"
  flock -n 9 || { log "another local cluster runs on this host: waiting for it to stop"; flock 9; }
fi

# --- packages -----------------------------------------------------------------------------------
need_pkgs=()
command -v containerd >/dev/null || need_pkgs+=(containerd)
command -v runc >/dev/null || need_pkgs+=(runc)
[[ -x /usr/lib/cni/bridge ]] || need_pkgs+=(containernetworking-plugins)
command -v nft >/dev/null || need_pkgs+=(nftables)
command -v iptables >/dev/null || need_pkgs+=(iptables)
command -v conntrack >/dev/null || need_pkgs+=(conntrack)
command -v openssl >/dev/null || need_pkgs+=(openssl)
if ((${#need_pkgs[@]})); then
  log "installing ${need_pkgs[*]} with apt"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${need_pkgs[@]}"; } >"${STATE}/apt.log" 2>&1 ||
    die "apt-get install failed, see ${STATE}/apt.log"
fi

"${ROOT}/hack/control-plane.sh" node >/dev/null

HOST_IP="$(ip -4 route get 1.1.1.1 2>/dev/null | sed -n 's/.* src \([0-9.]*\).*/\1/p')"
[[ -n "${HOST_IP}" ]] || die "no host IPv4 address with a default route (the API server needs one Pods can reach)"
if awk -v s="${STATE}/" 'index($5, s) == 1 {found=1} END {exit !found}' /proc/self/mountinfo; then
  die "mounts under ${STATE} are left from an earlier run: unmount them first (grep ${STATE} /proc/self/mountinfo)"
fi
# Every run starts from an empty cluster (kept state would bring back Pods whose containers are
# gone, reported Ready until the kubelet catches up); the PKI is kept.
rm -rf "${STATE}/etcd" "${STATE}/kubelet" "${STATE}/pod-logs" "${STATE}/containerd" "${STATE}/cni" "${LOGS}" \
  "${STATE}/run" "${STATE}/hold"
mkdir -p "${PKI}" "${LOGS}" "${STATE}/cni/net.d" "${STATE}/containerd" "${STATE}/kubelet" "${STATE}/run" "${STATE}/hold"

# --- host state to restore ------------------------------------------------------------------------
# Host paths the runtime and the kubelet create whatever their config says (containerd 1.6's shim
# sockets and runc state, libcni's cache, the kubelet's device-plugin dir and container-log links):
# removed at the end when they did not exist before.
HOST_DIRS=(/var/log/pods /var/log/containers /run/containerd /var/lib/cni /var/lib/kubelet /run/netns /opt/containerd)
# "running" marks a run whose cleanup has not finished: then the files from before it are the
# host's real state and are kept, not overwritten with what that run left.
if [[ -e "${STATE}/running" ]]; then
  log "an earlier run did not finish its cleanup; restoring to the host state recorded before it"
else
  # Only keys that these components write (kubelet's kernel defaults, bridge/CNI, kube-proxy conntrack).
  SYSCTLS=(net.ipv4.ip_forward net.ipv4.conf.all.route_localnet net.bridge.bridge-nf-call-iptables
    net.bridge.bridge-nf-call-ip6tables net.netfilter.nf_conntrack_max
    net.netfilter.nf_conntrack_tcp_timeout_established net.netfilter.nf_conntrack_tcp_timeout_close_wait
    vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops
    kernel.keys.root_maxkeys kernel.keys.root_maxbytes)
  : >"${STATE}/sysctl.before"
  for k in "${SYSCTLS[@]}"; do
    v="$(sysctl -n "$k" 2>/dev/null)" && printf '%s=%s\n' "$k" "$v" >>"${STATE}/sysctl.before"
  done
  nft list ruleset >"${STATE}/nft.before"
  ip netns list 2>/dev/null | awk '{print $1}' | sort >"${STATE}/netns.before"
  for d in "${HOST_DIRS[@]}"; do [[ -e "$d" ]] && echo "$d"; done >"${STATE}/dirs.before"
  touch "${STATE}/running"
fi

PIDS=()
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  log "stopping (after $((SECONDS - START)) s)"
  # Pods first, while the runtime still runs, so CNI DEL removes veths and IP leases.
  local i
  # Newest first (kube-proxy ... etcd, containerd), each given 15 s before SIGKILL.
  local pid n
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
    pid=${PIDS[i]}
    kill "${pid}" 2>/dev/null || continue
    for ((n = 0; n < 15; n++)); do kill -0 "${pid}" 2>/dev/null || break; sleep 1; done
    kill -KILL "${pid}" 2>/dev/null || true
    wait "${pid}" 2>/dev/null || true
  done
  # containerd-shim processes outlive containerd by design: kill the Pods' shims and their children.
  local shim
  for shim in $(pgrep -f "containerd-shim-runc-v2 -namespace k8s.io .*-address ${CTR_SOCK}" || true); do
    pkill -KILL -P "${shim}" 2>/dev/null || true
    kill -KILL "${shim}" 2>/dev/null || true
  done
  # Mounts under the state dir (volumes, rootfs, shm), deepest first.
  local m
  for m in $(awk -v s="${STATE}/" 'index($5, s) == 1 {print $5}' /proc/self/mountinfo | sort -r); do
    umount -l "$m" 2>/dev/null || true
  done
  # Network namespaces the runtime made, then the bridge and veths.
  for m in $(ip netns list 2>/dev/null | awk '{print $1}' | sort | comm -13 "${STATE}/netns.before" -); do
    ip netns delete "$m" 2>/dev/null || true
  done
  ip link delete cni0 2>/dev/null || true
  rm -rf "${STATE}/cni/ipam" # the leases of Pods that are gone
  for m in "${HOST_DIRS[@]}"; do
    [[ -e "$m" ]] && ! grep -qx "$m" "${STATE}/dirs.before" && rm -rf "$m"
  done
  if [[ -s "${STATE}/nft.before" ]]; then
    nft flush ruleset && nft -f "${STATE}/nft.before" || log "restoring the nftables ruleset failed"
  else
    nft flush ruleset || true
  fi
  local kv
  while IFS= read -r kv; do sysctl -qw "${kv%%=*}=${kv#*=}" 2>/dev/null || true; done <"${STATE}/sysctl.before"
  # The kubelet's cgroups (cgroupfs driver): kubepods* under each v1 hierarchy, deepest first.
  find /sys/fs/cgroup -depth -type d -name 'kubepods*' -o -depth -type d -path '*/kubepods*' 2>/dev/null |
    sort -r | while read -r d; do rmdir "$d" 2>/dev/null || true; done
  rm -f "${STATE}/running"
  log "stopped; logs kept in ${LOGS}"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- PKI ------------------------------------------------------------------------------------------
cert() { # NAME CN [O] [SAN]: a key and a certificate signed by the cluster CA.
  local name=$1 cn=$2 o=${3:-} san=${4:-}
  [[ -s "${PKI}/${name}.crt" ]] && return
  local subj="/CN=${cn}"
  [[ -n "$o" ]] && subj="/O=${o}${subj}"
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "${PKI}/${name}.key" \
    -subj "${subj}" -out "${PKI}/${name}.csr" 2>/dev/null
  local ext="${PKI}/${name}.ext"
  if [[ -n "$san" ]]; then
    printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth,clientAuth\n' "$san" >"$ext"
  else
    printf 'extendedKeyUsage=clientAuth\n' >"$ext"
  fi
  openssl x509 -req -in "${PKI}/${name}.csr" -CA "${PKI}/ca.crt" -CAkey "${PKI}/ca.key" -CAcreateserial \
    -days 365 -extfile "$ext" -out "${PKI}/${name}.crt" 2>/dev/null
}
if [[ ! -s "${PKI}/ca.crt" ]]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 -subj /CN=cluster-ca \
    -keyout "${PKI}/ca.key" -out "${PKI}/ca.crt" 2>/dev/null
  openssl ecparam -name prime256v1 -genkey -noout -out "${PKI}/sa.key" 2>/dev/null
  openssl ec -in "${PKI}/sa.key" -pubout -out "${PKI}/sa.pub" 2>/dev/null
fi
cert apiserver kube-apiserver "" "IP:127.0.0.1,IP:${HOST_IP},IP:${SVC_API_IP},DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
cert apiserver-kubelet-client kube-apiserver-kubelet-client system:masters
cert admin cluster-admin system:masters
cert controller-manager system:kube-controller-manager
cert scheduler system:kube-scheduler
cert proxy system:kube-proxy
cert kubelet "system:node:${NODE}" system:nodes "DNS:${NODE},IP:${HOST_IP}"

kubeconfig() { # NAME: a kubeconfig for the client certificate NAME.
  cat >"${STATE}/$1.kubeconfig" <<YAML
apiVersion: v1
kind: Config
clusters:
- name: local
  cluster: {server: "https://${HOST_IP}:6443", certificate-authority: "${PKI}/ca.crt"}
users:
- name: $1
  user: {client-certificate: "${PKI}/$1.crt", client-key: "${PKI}/$1.key"}
contexts:
- name: local
  context: {cluster: local, user: $1}
current-context: local
YAML
}
for n in admin controller-manager scheduler proxy kubelet; do kubeconfig "$n"; done
export KUBECONFIG="${STATE}/admin.kubeconfig"
KUBECTL=("${BIN}/kubectl")

start() { # NAME CMD...: runs CMD in the background, logging to logs/NAME.log.
  local name=$1; shift
  # In its own session, so Ctrl-C reaches only this script, which then stops them in order
  # (all at once, etcd goes first and kube-apiserver hangs in its shutdown).
  setsid "$@" >"${LOGS}/${name}.log" 2>&1 9>&- &
  PIDS+=($!)
}

supervise() { # NAME CMD...: like start, but CMD runs again when it exits, as a kubelet restarts a
  # static Pod, unless hold/NAME exists: then it waits until the file is removed. run/NAME.pid holds
  # the PID of CMD (not of this loop), for tests that stop the API server on purpose.
  local name=$1; shift
  setsid bash -c '
    name=$1 state=$2; shift 2
    child=""
    trap '"'"'[[ -n "$child" ]] && kill "$child" 2>/dev/null; wait; exit 0'"'"' TERM
    while :; do
      while [[ -e "${state}/hold/${name}" ]]; do sleep 0.2; done
      "$@" >>"${state}/logs/${name}.log" 2>&1 &
      child=$!
      echo "${child}" >"${state}/run/${name}.pid"
      wait "${child}" || true
      child=""
      sleep 0.5
    done' supervise "${name}" "${STATE}" "$@" </dev/null >/dev/null 2>&1 9>&- &
  PIDS+=($!)
}

wait_for() { # WHAT TIMEOUT CMD...: retries CMD until it succeeds.
  local what=$1 timeout=$2; shift 2
  local t0=$SECONDS
  until "$@" >/dev/null 2>&1; do
    ((SECONDS - t0 < timeout)) || die "${what} not ready after ${timeout} s (logs in ${LOGS})"
    sleep 1
  done
  log "${what} ready ($((SECONDS - START)) s)"
}

# --- containerd -----------------------------------------------------------------------------------
cat >"${STATE}/containerd/config.toml" <<TOML
version = 2
root = "${STATE}/containerd/root"
state = "${STATE}/containerd/state"
[grpc]
  address = "${CTR_SOCK}"
[plugins."io.containerd.internal.v1.opt"]
  path = "${STATE}/containerd/opt"
[ttrpc]
  address = "${CTR_SOCK}.ttrpc"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "${PAUSE_IMAGE}"
  # The VM lacks CAP_SYS_RESOURCE: without this, lowering a container's oom_score_adj fails.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "${STATE}/cni/net.d"
TOML
cat >"${STATE}/cni/net.d/10-bridge.conflist" <<JSON
{
  "cniVersion": "1.0.0",
  "name": "cluster",
  "plugins": [
    {"type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": true, "hairpinMode": true,
     "ipam": {"type": "host-local", "dataDir": "${STATE}/cni/ipam",
              "ranges": [[{"subnet": "${POD_CIDR}"}]], "routes": [{"dst": "0.0.0.0/0"}]}},
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
JSON
start containerd containerd --config "${STATE}/containerd/config.toml"
wait_for containerd 30 ctr --address "${CTR_SOCK}" version
ctr --address "${CTR_SOCK}" -n k8s.io images ls -q | grep -qx "${PAUSE_IMAGE}" || {
  mkdir -p "${ROOT}/bin/cluster"
  (cd "${ROOT}" && CGO_ENABLED=0 go build -trimpath -buildvcs=false -ldflags="-s -w" -o bin/cluster/pause ./hack/cluster/pause &&
    go run ./hack/image -binary bin/cluster/pause -name "${PAUSE_IMAGE}" -out bin/cluster/pause.tar >/dev/null)
  ctr --address "${CTR_SOCK}" -n k8s.io images import "${ROOT}/bin/cluster/pause.tar" >/dev/null
}

# --- control plane --------------------------------------------------------------------------------
start etcd "${BIN}/etcd" --data-dir "${STATE}/etcd" --listen-client-urls http://127.0.0.1:23790 \
  --advertise-client-urls http://127.0.0.1:23790 --listen-peer-urls http://127.0.0.1:23800 \
  --initial-advertise-peer-urls http://127.0.0.1:23800 --initial-cluster default=http://127.0.0.1:23800
# The API server reaches the kubelet (kubectl logs, exec) at the node's IP: its name does not resolve here.
supervise kube-apiserver "${BIN}/kube-apiserver" --etcd-servers http://127.0.0.1:23790 \
  --advertise-address "${HOST_IP}" --bind-address 0.0.0.0 --secure-port 6443 \
  --tls-cert-file "${PKI}/apiserver.crt" --tls-private-key-file "${PKI}/apiserver.key" \
  --client-ca-file "${PKI}/ca.crt" --service-cluster-ip-range "${SVC_CIDR}" \
  --service-account-issuer https://kubernetes.default.svc --service-account-key-file "${PKI}/sa.pub" \
  --service-account-signing-key-file "${PKI}/sa.key" --authorization-mode Node,RBAC \
  --kubelet-client-certificate "${PKI}/apiserver-kubelet-client.crt" \
  --kubelet-client-key "${PKI}/apiserver-kubelet-client.key" --allow-privileged=true \
  --kubelet-preferred-address-types InternalIP,Hostname
wait_for kube-apiserver 120 "${KUBECTL[@]}" get --raw /readyz
# Supervised too: after a test restarts the API server it restarts these (their informers can stay
# stale for a minute after the API server's return; in a real cluster their leader election makes
# them exit and the kubelet restarts them).
supervise kube-controller-manager "${BIN}/kube-controller-manager" --kubeconfig "${STATE}/controller-manager.kubeconfig" \
  --authentication-kubeconfig "${STATE}/controller-manager.kubeconfig" \
  --authorization-kubeconfig "${STATE}/controller-manager.kubeconfig" \
  --service-account-private-key-file "${PKI}/sa.key" --root-ca-file "${PKI}/ca.crt" \
  --use-service-account-credentials --leader-elect=false --bind-address 127.0.0.1
supervise kube-scheduler "${BIN}/kube-scheduler" --kubeconfig "${STATE}/scheduler.kubeconfig" \
  --authentication-kubeconfig "${STATE}/scheduler.kubeconfig" --authorization-kubeconfig "${STATE}/scheduler.kubeconfig" \
  --leader-elect=false --bind-address 127.0.0.1

# --- node -----------------------------------------------------------------------------------------
cat >"${STATE}/kubelet/config.yaml" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
failCgroupV1: false
cgroupDriver: cgroupfs
# true makes the kubelet refuse to start on this host (vm.overcommit_memory 0, kernel.panic 1,
# kernel.panic_on_oops 0), so it rewrites them and cleanup restores them from sysctl.before.
protectKernelDefaults: false
containerRuntimeEndpoint: unix://${CTR_SOCK}
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: "${PKI}/ca.crt"}
authorization: {mode: Webhook}
tlsCertFile: "${PKI}/kubelet.crt"
tlsPrivateKeyFile: "${PKI}/kubelet.key"
address: ${HOST_IP}
healthzBindAddress: 127.0.0.1
clusterDomain: cluster.local
failSwapOn: false
resolvConf: /etc/resolv.conf
podLogsDir: "${STATE}/pod-logs"
evictionHard: {memory.available: "50Mi", nodefs.available: "1%", imagefs.available: "1%"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
serializeImagePulls: false
YAML
start kubelet "${BIN}/kubelet" --config "${STATE}/kubelet/config.yaml" --kubeconfig "${STATE}/kubelet.kubeconfig" \
  --root-dir "${STATE}/kubelet/root" --hostname-override "${NODE}" --node-ip "${HOST_IP}"
cat >"${STATE}/kube-proxy.yaml" <<YAML
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: nftables
clientConnection: {kubeconfig: "${STATE}/proxy.kubeconfig"}
clusterCIDR: ${POD_CIDR}
hostnameOverride: ${NODE}
bindAddress: 127.0.0.1
metricsBindAddress: 127.0.0.1:10249
healthzBindAddress: 127.0.0.1:10256
# Zero leaves the host's conntrack sysctls alone.
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
YAML
start kube-proxy "${BIN}/kube-proxy" --config "${STATE}/kube-proxy.yaml"
wait_for "node ${NODE}" 180 "${KUBECTL[@]}" wait --for=condition=Ready "node/${NODE}" --timeout=5s
log "cluster up in $((SECONDS - START)) s; KUBECONFIG=${KUBECONFIG}"

export CTR_SOCK CLUSTER_STATE="${STATE}" CLUSTER_HOST_IP="${HOST_IP}"
if (($#)); then
  # Without the lock's fd: a process CMD leaves behind (a test killed mid-way) must not hold the
  # host-wide lock after this script has stopped the cluster.
  "$@" 9>&-
else
  log "Ctrl-C stops it"
  while sleep 3600; do :; done
fi
