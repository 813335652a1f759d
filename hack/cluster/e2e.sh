#!/usr/bin/env bash
# The node's tests, run by `hack/cluster/cluster.sh hack/cluster/e2e.sh` (make test-cluster): the
# smoke check, then test/node (the production install as Pods). NODE_RUN picks tests (go test -run).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
"${ROOT}/hack/cluster/smoke.sh"
cd "${ROOT}"
go test ./test/node -count=1 -v -timeout "${NODE_TEST_TIMEOUT:-40m}" ${NODE_RUN:+-run "${NODE_RUN}"}
