#!/usr/bin/env bash
# install-peers.sh installs the third-party clients that the integration
# tests drive (DESIGN.md §11): Debian packages with apt-get, and the npm
# packages of integration/js with npm ci from its lockfile (the npm
# registry only; nothing is downloaded at test time). It is idempotent:
# when every peer is present it changes nothing and does not touch the
# network.
#
# As root it installs with apt-get; otherwise with sudo when there is one.
# When it cannot install, it prints what is missing and fails only under
# CI=true: on a laptop the tests that need a missing peer skip with a
# message, in CI a skip would hide a gap.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian peers as "probe|debian-package". A probe is a command name, or
# "python3:MODULE" for a module of the system Python (Debian's python3-*
# packages install there, whatever python3 comes first in PATH).
# Node.js 20 and npm are on the standard image; the Debian packages are
# only a fallback where they are missing.
PEERS=(
	"mosquitto_pub|mosquitto-clients"
	"mosquitto_sub|mosquitto-clients"
	"python3:stomp|python3-stomp"
	"python3:proton|python3-qpid-proton"
	"chromium|chromium"
	"node|nodejs"
	"npm|npm"
	# "python3:paho.mqtt|python3-paho-mqtt"
)
# The npm peers (@stomp/stompjs, ws, rhea, playwright-core, which drives the
# system chromium above and downloads no browser) are listed in
# integration/js/package.json.
JS_DIR=integration/js

ci() { [ "${CI:-}" = "true" ]; }

# trouble reports a peer that cannot be installed: fatal under CI=true,
# a warning elsewhere (the tests that need it skip and say why).
trouble() {
	echo "install-peers: $*" >&2
	if ci; then
		exit 1
	fi
	echo "install-peers: continuing; tests that need it will skip" >&2
}

system_python() {
	if [ -x /usr/bin/python3 ]; then echo /usr/bin/python3; else command -v python3 || true; fi
}

present() {
	local probe=$1 py
	case $probe in
	python3:*)
		py=$(system_python)
		[ -n "$py" ] && "$py" -c "import ${probe#python3:}" 2>/dev/null
		;;
	*) command -v "$probe" >/dev/null ;;
	esac
}

install_debian() {
	local missing=() peer probe pkg sudo=()
	for peer in "${PEERS[@]}"; do
		probe=${peer%%|*} pkg=${peer#*|}
		if ! present "$probe"; then
			[[ " ${missing[*]-} " == *" $pkg "* ]] || missing+=("$pkg")
		fi
	done
	if [ ${#missing[@]} -eq 0 ]; then
		echo "install-peers: Debian peers present"
		return 0
	fi
	local hint="install them with: sudo apt-get install -y --no-install-recommends ${missing[*]}"
	if ! command -v apt-get >/dev/null; then
		trouble "missing Debian packages: ${missing[*]}; apt-get not found (not a Debian system); $hint"
		return 0
	fi
	if [ "$(id -u)" -ne 0 ]; then
		if ! command -v sudo >/dev/null; then
			trouble "missing Debian packages: ${missing[*]}; not root and sudo not found; $hint"
			return 0
		fi
		sudo=(sudo)
	fi
	echo "install-peers: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	# One update per run, and only when something is missing.
	if ! "${sudo[@]}" apt-get update -qq || ! "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"; then
		trouble "apt-get could not install ${missing[*]}"
		return 0
	fi
	for peer in "${PEERS[@]}"; do
		probe=${peer%%|*}
		present "$probe" || trouble "$probe still missing after installing ${missing[*]}"
	done
}

# install_npm runs npm ci in integration/js unless node_modules already
# matches the lockfile: a stamp holding the lockfile's hash is written after
# a successful install, so a second run changes nothing and stays offline.
install_npm() {
	local lock=$JS_DIR/package-lock.json stamp=$JS_DIR/node_modules/.rosetta-lock-sha256 want
	if [ -f "$lock" ]; then
		want=$(sha256sum "$lock" | cut -d' ' -f1)
	else
		want=$(sha256sum "$JS_DIR/package.json" | cut -d' ' -f1)
	fi
	if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
		echo "install-peers: npm peers present ($JS_DIR)"
		return 0
	fi
	if ! command -v npm >/dev/null; then
		trouble "npm not found; cannot install the npm peers of $JS_DIR"
		return 0
	fi
	echo "install-peers: installing the npm peers of $JS_DIR"
	local cmd=(npm ci)
	[ -f "$lock" ] || cmd=(npm install)
	# --prefer-offline uses npm's cache when it has the exact versions.
	if ! (cd "$JS_DIR" && "${cmd[@]}" --prefer-offline --no-audit --no-fund --loglevel=error); then
		trouble "${cmd[*]} failed in $JS_DIR"
		return 0
	fi
	echo "$want" >"$stamp"
}

install_debian
install_npm
echo "install-peers: done"
