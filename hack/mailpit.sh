#!/usr/bin/env bash
# Builds mailpit (github.com/axllent/mailpit), the real SMTP server with an HTTP API that the
# e2e test test/e2e/mailpit_test.go sends invites through, into bin/mailpit/<version>/mailpit.
# It is a separate binary, not a dependency of this module: `go install pkg@version` builds it
# from the Go module proxy with its own go.mod. Idempotent: a built binary is kept.
# hack/test-deps.sh calls it, so `make test` and .ci/run have it. A cold build (none of its modules
# downloaded yet; modernc.org/sqlite dominates) took 113 s on 2 shared cores with go1.26; later runs
# return at once.
#
#   hack/mailpit.sh              build if missing, print nothing else
#   hack/mailpit.sh print-path   build if missing, then print the binary's path
set -euo pipefail

version="${MAILPIT_VERSION:-v1.33.1}"
root="$(cd "$(dirname "$0")/.." && pwd)"
dir="${root}/bin/mailpit/${version}"
bin="${dir}/mailpit"

if [ ! -x "${bin}" ]; then
  echo "[mailpit] building github.com/axllent/mailpit@${version} into ${dir} (a cold build takes minutes)" >&2
  mkdir -p "${dir}"
  start=$(date +%s)
  # Outside this module, so its go.mod neither constrains nor records the build.
  if ! (cd "${dir}" && GOBIN="${dir}" GOFLAGS=-mod=mod GOWORK=off go install "github.com/axllent/mailpit@${version}"); then
    echo "[mailpit] build failed; run: GOBIN=${dir} go install github.com/axllent/mailpit@${version}" >&2
    exit 1
  fi
  echo "[mailpit] built ${bin} in $(($(date +%s) - start))s" >&2
fi

if [ "${1:-}" = print-path ]; then
  echo "${bin}"
fi
