#!/usr/bin/env bash
# bench.sh is `make bench`: the operator with its token server on the
# embedded control plane (the demo), driven by the load generator from a
# second process, reporting requests/s, latency percentiles and the token
# server's CPU per request for every scenario.
#
# Knobs: BENCH_DURATION (10s per scenario), BENCH_CONCURRENCY (8),
# BENCH_JSON=1 for JSON output.
set -euo pipefail
cd "$(dirname "$0")/.."
state="$(mktemp -d)"
demo_pid=""
cleanup() {
  if [ -n "$demo_pid" ] && kill -0 "$demo_pid" 2>/dev/null; then
    kill -INT "$demo_pid" 2>/dev/null || true
    wait "$demo_pid" 2>/dev/null || true
  fi
  rm -rf "$state"
}
trap cleanup EXIT

echo "bench: building the demo and the load generator" >&2
go build -o "$state/demo" ./hack/demo
go build -o "$state/loadgen" ./hack/loadgen
KUBEBUILDER_ASSETS="$(bash hack/setup-envtest.sh)"
export KUBEBUILDER_ASSETS

# The load test signs one user in thousands of times: raise the cap on live
# refresh-token families (--max-families-per-user) that protects a real cluster.
"$state/demo" -state-dir "$state" -port 0 -max-families-per-user 10000000 >"$state/demo.out" 2>&1 </dev/null &
demo_pid=$!
for _ in $(seq 1 600); do
  [ -f "$state/credentials.env" ] && break
  if ! kill -0 "$demo_pid" 2>/dev/null; then
    cat "$state/demo.out" >&2
    echo "bench: the demo stopped before it was ready" >&2
    exit 1
  fi
  sleep 0.5
done
[ -f "$state/credentials.env" ] || { cat "$state/demo.out" >&2; echo "bench: the demo was not ready in 5 minutes" >&2; exit 1; }
# shellcheck disable=SC1091
. "$state/credentials.env"

lg=("$state/loadgen" -url "$ISSUER" -server-pid "$DEMO_PID"
    -duration "${BENCH_DURATION:-10s}" -concurrency "${BENCH_CONCURRENCY:-8}")
[ -n "${BENCH_JSON:-}" ] && lg+=(-json)
echo "bench: $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')); the API server, etcd, the operator and the load generator share them" >&2
# client_credentials three ways in one run: client_secret_basic, the
# ServiceAccount token (reviewed once, then cached) and private_key_jwt (a
# fresh assertion per request).
"${lg[@]}" -scenarios client_credentials,client_credentials_sa,client_credentials_pkjwt,introspect,jwks \
  -client-id "$SERVICE_CLIENT_ID" -client-secret "$SERVICE_CLIENT_SECRET" \
  -assertion-client-id "$WORKLOAD_CLIENT_ID" -sa-token-file "$WORKLOAD_SA_TOKEN_FILE" \
  -client-key-file "$WORKLOAD_KEY_FILE" -client-key-id "$WORKLOAD_KEY_ID"
"${lg[@]}" -scenarios password,refresh_token \
  -client-id "$CLI_CLIENT_ID" -client-secret "$CLI_CLIENT_SECRET" -username "$USERNAME" -password "$PASSWORD" \
  -scope "openid offline_access reports.read"
