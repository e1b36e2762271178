#!/usr/bin/env bash
# fuzz.sh runs every fuzz target in the module for FUZZTIME each (default
# 30s), one at a time (go test -fuzz takes one target per run). Targets are
# found with `go test -list`. New crashers land in the package's
# testdata/fuzz/<Target>/ and then run as regression tests in `make test`.
set -euo pipefail
cd "$(dirname "$0")/.."

FUZZTIME=${FUZZTIME:-30s}
# Minimizing a new input may take up to a minute by default, which would
# double the time budget of a short run without finding anything new.
FUZZMINIMIZETIME=${FUZZMINIMIZETIME:-10s}

targets=0
failed=()
for pkg in $(go list ./...); do
	dir=$(go list -f '{{.Dir}}' "$pkg")
	# Skip packages without a fuzz target cheaply, before compiling them.
	grep -qs '^func Fuzz' "$dir"/*_test.go || continue
	for target in $(go test -list '^Fuzz' "$pkg" | grep '^Fuzz' || true); do
		targets=$((targets + 1))
		echo "== $pkg $target ($FUZZTIME)"
		if ! go test -run '^$' -fuzz "^${target}\$" -fuzztime "$FUZZTIME" \
			-fuzzminimizetime "$FUZZMINIMIZETIME" "$pkg"; then
			failed+=("$pkg $target")
		fi
	done
done

echo "fuzz: $targets targets run, ${#failed[@]} failed"
if [ ${#failed[@]} -gt 0 ]; then
	printf '  %s\n' "${failed[@]}" >&2
	exit 1
fi
