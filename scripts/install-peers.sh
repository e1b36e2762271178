#!/usr/bin/env bash
# install-peers.sh installs the third-party clients that the integration
# tests drive (DESIGN.md §11). It is idempotent: when every peer is present
# it changes nothing and does not touch the network.
#
# As root it installs with apt-get; otherwise with sudo when there is one.
# When it cannot install, it prints what is missing and fails only under
# CI=true: on a laptop the tests that need a missing peer skip with a
# message, in CI a skip would hide a gap.
set -euo pipefail

# Peers as "probe|debian-package". A probe is a command name, or
# "python3:MODULE" for a Python module. Only mosquitto-clients is needed
# today; the others are listed for the front-ends in progress and are
# enabled by uncommenting them when their tests land.
PEERS=(
	"mosquitto_pub|mosquitto-clients"
	"mosquitto_sub|mosquitto-clients"
	# "python3:stomp|python3-stomp"
	# "python3:proton|python3-qpid-proton"
	# "python3:paho.mqtt|python3-paho-mqtt"
)
# npm peers (mqtt, @stomp/stompjs, rhea) will be installed with
# `npm ci --prefix integration` from a lockfile, next to this list.

present() {
	local probe=$1
	case $probe in
	python3:*) command -v python3 >/dev/null && python3 -c "import ${probe#python3:}" 2>/dev/null ;;
	*) command -v "$probe" >/dev/null ;;
	esac
}

missing=()
for peer in "${PEERS[@]}"; do
	probe=${peer%%|*} pkg=${peer#*|}
	if ! present "$probe"; then
		[[ " ${missing[*]-} " == *" $pkg "* ]] || missing+=("$pkg")
	fi
done

if [ ${#missing[@]} -eq 0 ]; then
	echo "install-peers: all peers present"
	exit 0
fi

cannot() {
	echo "install-peers: missing Debian packages: ${missing[*]}" >&2
	echo "install-peers: $1; install them with: sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
	if [ "${CI:-}" = "true" ]; then
		exit 1
	fi
	echo "install-peers: continuing; tests that need them will skip" >&2
	exit 0
}

command -v apt-get >/dev/null || cannot "apt-get not found (not a Debian system)"
if [ "$(id -u)" -eq 0 ]; then
	sudo=()
elif command -v sudo >/dev/null; then
	sudo=(sudo)
else
	cannot "not root and sudo not found"
fi

echo "install-peers: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# One update per run, and only when something is missing.
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"

for peer in "${PEERS[@]}"; do
	probe=${peer%%|*}
	present "$probe" || { echo "install-peers: $probe still missing after install" >&2; exit 1; }
done
echo "install-peers: done"
