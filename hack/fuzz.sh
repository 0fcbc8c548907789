#!/usr/bin/env bash
# Runs every Go fuzz target of the repository for FUZZTIME each (default 8s;
# `make fuzz` runs them longer) and prints the executions per target. The
# targets are listed by package below; the script fails when a Fuzz function
# in the tree is missing from the list, so a new one is never left out.
set -euo pipefail
cd "$(dirname "$0")/.."

FUZZTIME="${FUZZTIME:-8s}"
FUZZ_PARALLEL="${FUZZ_PARALLEL:-2}"

targets=(
	"./internal/contract FuzzParseTokenPath"
	"./internal/oauth FuzzParseParams FuzzClientCredentials FuzzResolveSource FuzzCheckRedirectURI"
	"./tokenserver FuzzTokenEndpoint FuzzIntrospectEndpoint FuzzRevokeEndpoint FuzzUserinfoEndpoint"
	"./tokenserver/browser FuzzAuthorizeEndpoint FuzzLoginEndpoint FuzzConsentEndpoint FuzzLogoutEndpoint"
)

listed=$(printf '%s\n' "${targets[@]}" | tr ' ' '\n' | grep '^Fuzz' | sort)
found=$(grep -rhoE '^func Fuzz[A-Za-z0-9_]+' --include='*_test.go' --exclude-dir=bin . | sed 's/^func //' | sort)
if [ "$listed" != "$found" ]; then
	echo "hack/fuzz.sh: the list of fuzz targets differs from the Fuzz functions in the tree:" >&2
	diff <(echo "$listed") <(echo "$found") >&2 || true
	exit 1
fi

summary=()
for entry in "${targets[@]}"; do
	read -r pkg names <<<"$entry"
	for name in $names; do
		out=$(mktemp)
		for attempt in 1 2; do
			if go test -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME" -parallel "$FUZZ_PARALLEL" "$pkg" >"$out" 2>&1; then
				break
			fi
			# The fuzzing engine itself sometimes reports "context deadline
			# exceeded" when -fuzztime ends while a worker is busy on a loaded
			# machine: no input failed and no reproducer was written. That is
			# run once more; any other failure is a finding.
			if [ "$attempt" = 1 ] && grep -q 'context deadline exceeded' "$out" && ! grep -q 'Failing input written' "$out"; then
				echo "hack/fuzz.sh: $name: the fuzzing engine timed out without a failing input; running it again" >&2
				continue
			fi
			cat "$out" >&2
			echo "hack/fuzz.sh: $name in $pkg failed (a reproducer is in $pkg/testdata/fuzz/$name/)" >&2
			rm -f "$out"
			exit 1
		done
		execs=$(grep -oE 'execs: [0-9]+' "$out" | tail -1 | grep -oE '[0-9]+' || echo 0)
		rm -f "$out"
		summary+=("$(printf '%-28s %-24s %10s execs in %s' "$name" "$pkg" "$execs" "$FUZZTIME")")
		echo "${summary[-1]}"
	done
done
