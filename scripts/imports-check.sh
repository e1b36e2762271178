#!/usr/bin/env bash
# imports-check.sh enforces the dependency direction of docs/architecture.md:
#   1. core/... depends on none of protocols, storage, transform, plugins, cmd;
#   2. no protocol depends on another protocol or on storage (the shared
#      root package protocols, which declares Broker, and the helpers under
#      protocols/internal are allowed);
#   3. a protocol's codec packages (packet, frame, frames, encoding) depend
#      only on the standard library and on that protocol's own packages.
# Dependencies are transitive: .Deps is the list `go list -deps` prints, so
# an indirect import through a third package is caught too. Test-only
# imports are not checked (an external _test package may use storage/memory).
set -euo pipefail
cd "$(dirname "$0")/.."

mod=$(go list -m)
fail=0

# deps PATTERN prints "package dep dep ..." per package; nothing when the
# pattern matches no package yet.
deps() {
	go list -e -f '{{.ImportPath}}{{range .Deps}} {{.}}{{end}}' "$1" 2>/dev/null | grep -v '^$' || true
}

# check PATTERN DENY ALLOW RULE: a package of PATTERN that depends on a
# package matching the DENY regex and not the ALLOW regex violates RULE.
check() {
	local pattern=$1 deny=$2 allow=$3 rule=$4 line pkg bad
	while read -r line; do
		pkg=${line%% *}
		bad=$(tr ' ' '\n' <<<"${line#"$pkg"}" | grep -E "$deny" | grep -Ev "$allow" | sort -u | tr '\n' ' ' || true)
		if [ -n "$bad" ]; then
			echo "imports-check: $pkg depends on ${bad}: $rule" >&2
			fail=1
		fi
	done < <(deps "$pattern")
}

check "./core/..." "^${mod}/(protocols|storage|transform|plugins|cmd)(/|$)" '^$' \
	"core must not import protocols, storage, transform, plugins or cmd"

for dir in protocols/*/; do
	p=$(basename "$dir")
	[ -n "$(find "$dir" -name '*.go' -print -quit)" ] || continue
	check "./protocols/$p/..." "^${mod}/(storage|protocols/[^/]+)(/|$)" "^${mod}/protocols/(${p}|internal)(/|$)" \
		"a protocol must not import storage or another protocol"
	for codec in packet frame frames encoding; do
		[ -d "protocols/$p/$codec" ] || continue
		# The standard library has no dot in its first path element.
		check "./protocols/$p/$codec/..." '^[^/]*\.' "^${mod}/protocols/${p}/" \
			"codec packages import only the standard library and their own protocol's codecs"
	done
done

if [ "$fail" -ne 0 ]; then
	echo "imports-check: FAILED (see docs/architecture.md for the import rules)" >&2
	exit 1
fi
echo "imports-check: ok"
