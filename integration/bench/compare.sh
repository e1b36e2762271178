#!/usr/bin/env bash
# compare.sh runs the same `rosetta bench` scenarios against Mosquitto,
# RabbitMQ and Rosetta, alternately (A B C A B C ...), and prints the
# medians and the ratios. docs/benchmarks.md explains the scenarios.
#
#   integration/bench/compare.sh            # ROUNDS=3 full run
#   QUICK=1 integration/bench/compare.sh    # one short round: a smoke check
#
# Environment:
#   ROUNDS   rounds of A B C (default 3; QUICK: 1)
#   COUNT    messages per throughput run (default 100000; QUICK: 10000)
#   LATDUR   length of the fixed-rate latency run (default 10s; QUICK: 3s)
#   CONNS    idle MQTT connections (default 10000; QUICK: 1000)
#   BROKERS  which to run, a subset of "mosquitto rabbitmq rosetta"
#   KEEP=1   keep the temporary directory (configs, logs, JSON results)
#   TABLE=D  only print the table of the kept directory D again
#
# Mosquitto and RabbitMQ come from Debian (apt-get, when missing). Each
# broker runs on its own loopback ports with its config and data under a
# temporary directory; the system services are not touched, and every
# process this script starts is stopped by its PID on exit.
set -euo pipefail
cd "$(dirname "$0")/../.."

QUICK=${QUICK:-}
if [ -n "$QUICK" ]; then
	ROUNDS=${ROUNDS:-1} COUNT=${COUNT:-10000} LATDUR=${LATDUR:-3s} CONNS=${CONNS:-1000}
else
	ROUNDS=${ROUNDS:-3} COUNT=${COUNT:-100000} LATDUR=${LATDUR:-10s} CONNS=${CONNS:-10000}
fi
BROKERS=${BROKERS:-mosquitto rabbitmq rosetta}
RABBIT_BIN=/usr/lib/rabbitmq/bin

log() { printf '%s compare: %s\n' "$(date +%T)" "$*" >&2; }

# --- peers -----------------------------------------------------------------

install_missing() {
	local pkgs=()
	command -v mosquitto >/dev/null || [ -x /usr/sbin/mosquitto ] || pkgs+=(mosquitto)
	[ -x "$RABBIT_BIN/rabbitmq-server" ] || pkgs+=(rabbitmq-server)
	command -v jq >/dev/null || pkgs+=(jq)
	[ ${#pkgs[@]} -eq 0 ] && return
	log "installing ${pkgs[*]} (apt-get)"
	local sudo=
	[ "$(id -u)" -eq 0 ] || sudo=sudo
	# Packages whose postinst would start the system service must not:
	# a policy-rc.d that says 101 stops invoke-rc.d (Docker images ship
	# one already; otherwise one is put in place for the install only).
	local policy=/usr/sbin/policy-rc.d added=
	if [ ! -e "$policy" ]; then
		printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
		$sudo chmod +x "$policy"
		added=1
	fi
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
	[ -z "$added" ] || $sudo rm -f "$policy"
}

# --- brokers ---------------------------------------------------------------

T=$(mktemp -d "${TMPDIR:-/tmp}/rosetta-compare.XXXXXX")
PIDS=()          # processes to stop on exit
EPMD_STARTED=    # set when RabbitMQ started the Erlang port mapper

cleanup() {
	local pid
	for pid in "${PIDS[@]}"; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	for pid in "${PIDS[@]}"; do
		for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$pid" 2>/dev/null || true
	done
	[ -z "$EPMD_STARTED" ] || epmd -kill >/dev/null 2>&1 || true
	if [ -n "${KEEP:-}" ]; then log "kept $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# wait_port HOST:PORT SECONDS
wait_port() {
	local host=${1%:*} port=${1##*:}
	for _ in $(seq $(($2 * 10))); do
		(exec 3<>"/dev/tcp/$host/$port") 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

# Loopback ports, one block per broker.
MOSQ_MQTT=127.0.0.1:31883
RMQ_MQTT=127.0.0.1:32883 RMQ_STOMP=127.0.0.1:32613 RMQ_AMQP=127.0.0.1:32672 RMQ_DIST=32673
ROS_MQTT=127.0.0.1:33883 ROS_STOMP=127.0.0.1:33613 ROS_AMQP=127.0.0.1:33672

start_mosquitto() {
	mkdir -p "$T/mosquitto"
	# max_queued_messages 0: no cap on a subscriber's queue, as the
	# others (their caps are far above what a run queues).
	cat >"$T/mosquitto/mosquitto.conf" <<-EOF
		listener ${MOSQ_MQTT##*:} 127.0.0.1
		allow_anonymous true
		persistence false
		max_queued_messages 0
		user root
		log_dest stderr
		log_type error
		log_type warning
	EOF
	/usr/sbin/mosquitto -c "$T/mosquitto/mosquitto.conf" >"$T/mosquitto/log" 2>&1 &
	MOSQ_PID=$!
	PIDS+=("$MOSQ_PID")
	wait_port "$MOSQ_MQTT" 20 || { cat "$T/mosquitto/log" >&2; return 1; }
}

start_rabbitmq() {
	local d=$T/rabbitmq
	mkdir -p "$d/mnesia" "$d/log"
	cat >"$d/rabbitmq.conf" <<-EOF
		listeners.tcp.default = $RMQ_AMQP
		mqtt.listeners.tcp.default = $RMQ_MQTT
		stomp.listeners.tcp.1 = $RMQ_STOMP
		mqtt.allow_anonymous = true
		loopback_users = none
		log.console = false
		log.file.level = warning
	EOF
	# AMQP 1.0 is a plugin in 3.x and shares the AMQP 0-9-1 port.
	echo '[rabbitmq_mqtt,rabbitmq_stomp,rabbitmq_amqp1_0].' >"$d/enabled_plugins"
	: >"$d/rabbitmq-env.conf"
	epmd -names >/dev/null 2>&1 || EPMD_STARTED=1
	env HOME="$d" RABBITMQ_CONF_ENV_FILE="$d/rabbitmq-env.conf" \
		RABBITMQ_NODENAME=rosetta-compare@localhost RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 \
		RABBITMQ_NODE_PORT=${RMQ_AMQP##*:} RABBITMQ_DIST_PORT=$RMQ_DIST \
		RABBITMQ_CONFIG_FILE="$d/rabbitmq.conf" RABBITMQ_ADVANCED_CONFIG_FILE="$d/advanced.config" \
		RABBITMQ_ENABLED_PLUGINS_FILE="$d/enabled_plugins" RABBITMQ_MNESIA_BASE="$d/mnesia" \
		RABBITMQ_LOG_BASE="$d/log" RABBITMQ_PID_FILE="$d/pid" \
		"$RABBIT_BIN/rabbitmq-server" >"$d/stdout" 2>&1 &
	PIDS+=("$!")
	for p in "$RMQ_AMQP" "$RMQ_MQTT" "$RMQ_STOMP"; do
		wait_port "$p" 120 || { tail -50 "$d/stdout" >&2; return 1; }
	done
	RMQ_PID=$(cat "$d/pid")
	PIDS+=("$RMQ_PID") # the Erlang VM itself, in case the wrapper does not pass the signal on
}

start_rosetta() {
	mkdir -p "$T/rosetta"
	bin/rosetta serve --data-dir "$T/rosetta/data" --http off --log-level warn --log-format text \
		--mqtt "$ROS_MQTT" --stomp "$ROS_STOMP" --amqp "$ROS_AMQP" >"$T/rosetta/log" 2>&1 &
	ROS_PID=$!
	PIDS+=("$ROS_PID")
	for p in "$ROS_MQTT" "$ROS_STOMP" "$ROS_AMQP"; do
		wait_port "$p" 30 || { cat "$T/rosetta/log" >&2; return 1; }
	done
}

# --- scenarios -------------------------------------------------------------

SCENARIOS=(idle-rss mqtt-qos0 mqtt-qos1 mqtt-fanout10 stomp-queue stomp-topic amqp-settled amqp-unsettled
	mqtt-to-amqp mqtt-to-stomp latency-5k durable-confirm conns-idle)

# args SCENARIO BROKER ID: the bench arguments, or "skip: reason".
args() {
	local s=$1 b=$2 id=$3 m= s_= a= t q pid rk
	case $b in
	mosquitto) m=$MOSQ_MQTT pid=$MOSQ_PID ;;
	rabbitmq) m=$RMQ_MQTT s_=guest:guest@$RMQ_STOMP a=guest:guest@$RMQ_AMQP pid=$RMQ_PID ;;
	rosetta) m=$ROS_MQTT s_=$ROS_STOMP a=$ROS_AMQP pid=$ROS_PID ;;
	esac
	# Topic and queue names per broker: RabbitMQ maps the MQTT topic
	# b/x to the routing key b.x, which STOMP and AMQP 1.0 name as
	# /topic/b.x; Rosetta keeps the levels (/topic/b/x, /topics/b/x).
	t=b/$id rk=b.$id
	local stopic=/topic/$t atopic=/topics/$t aqueue=/queues/q$id
	if [ "$b" = rabbitmq ]; then stopic=/topic/$rk atopic=/topic/$rk aqueue=/queue/q$id; fi
	q="--broker-pid $pid -quiet --json"
	if [ "$b" = mosquitto ]; then
		case $s in
		mqtt-qos0 | mqtt-qos1 | mqtt-fanout10 | latency-5k | idle-rss | conns-idle) ;;
		durable-confirm) echo "skip: MQTT only, and no per-message durable store"; return ;;
		*) echo "skip: MQTT only"; return ;;
		esac
	fi
	case $s in
	mqtt-qos0) echo "$q -count $COUNT --pub mqtt://$m/$t?qos=0 --sub mqtt://$m/$t?qos=0" ;;
	mqtt-qos1) echo "$q -count $COUNT --pub mqtt://$m/$t?qos=1 --sub mqtt://$m/$t?qos=1" ;;
	mqtt-fanout10) echo "$q -count $((COUNT / 10)) -subscribers 10 --pub mqtt://$m/$t?qos=0 --sub mqtt://$m/$t?qos=0" ;;
	stomp-queue) echo "$q -count $COUNT --pub stomp://$s_/queue/q$id --sub stomp://$s_/queue/q$id" ;;
	stomp-topic) echo "$q -count $COUNT --pub stomp://$s_$stopic --sub stomp://$s_$stopic" ;;
	amqp-settled) echo "$q -count $COUNT --pub amqp://$a$aqueue --sub amqp://$a$aqueue" ;;
	amqp-unsettled) echo "$q -count $COUNT --pub amqp://$a$aqueue?settled=false --sub amqp://$a$aqueue?settled=false" ;;
	mqtt-to-amqp) echo "$q -count $COUNT --pub mqtt://$m/$t?qos=0 --sub amqp://$a$atopic" ;;
	mqtt-to-stomp) echo "$q -count $COUNT --pub mqtt://$m/$t?qos=0 --sub stomp://$s_$stopic" ;;
	latency-5k) echo "$q -rate 5000 -duration $LATDUR --pub mqtt://$m/$t?qos=0 --sub mqtt://$m/$t?qos=0" ;;
	durable-confirm) echo "$q -count $((COUNT / 5)) --pub amqp://$a$aqueue?settled=false&durable=true --sub amqp://$a$aqueue?settled=false" ;;
	idle-rss) echo "idle" ;;
	conns-idle) echo "$q --connections $CONNS --source-ips 50 -duration 3s -timeout 30s --pub mqtt://$m/idle" ;;
	esac
}

# settle PID: wait (up to 120 s) until the process uses under 5 % of a
# core, so one run's aftermath (RabbitMQ closing 10000 connections takes
# a minute on two cores) does not land on the next run.
settle() {
	local t0 t1
	for _ in $(seq 120); do
		t0=$(awk '{print $14+$15}' "/proc/$1/stat" 2>/dev/null) || return 0
		sleep 1
		t1=$(awk '{print $14+$15}' "/proc/$1/stat" 2>/dev/null) || return 0
		[ $((t1 - t0)) -lt 5 ] && return 0
	done
	log "pid $1 still busy after 120 s"
}

pid_of() { case $1 in mosquitto) echo "$MOSQ_PID" ;; rabbitmq) echo "$RMQ_PID" ;; rosetta) echo "$ROS_PID" ;; esac; }

run_one() { # SCENARIO BROKER ROUND
	local s=$1 b=$2 r=$3 out=$T/results/$1.$2.$3.json a
	a=$(args "$s" "$b" "r$r${s//-/}")
	case $a in
	skip:*) echo "{\"skip\":\"${a#skip: }\"}" >"$out"; return ;;
	idle) # the broker's RSS before any load: read in round 1, on the
		# freshly started broker; later rounds repeat that reading (after a
		# round the RSS says what the load left, not what idling costs)
		if [ "$r" = 1 ]; then
			echo "{\"broker\":{\"rss_after_kib\":$(awk '/^VmRSS/{print $2}' "/proc/$(pid_of "$b")/status")}}" >"$out"
		else
			cp "$T/results/$s.$b.1.json" "$out"
		fi
		return ;;
	esac
	# Word splitting of the argument list is wanted; globbing (the '?'
	# in the URLs) is not.
	set -f
	# shellcheck disable=SC2086
	if ! bin/rosetta bench $a >"$out" 2>"$out.err"; then
		log "$s on $b: bench reported errors: $(jq -c '.errors' "$out" 2>/dev/null || cat "$out.err")"
	fi
	set +f
}

# --- table -----------------------------------------------------------------

# median FILE...: the median over the files of the jq expression in $F.
median() {
	local files=() f
	for f in "$@"; do [ -s "$f" ] && files+=("$f"); done
	[ ${#files[@]} -gt 0 ] || return 0
	jq -r "$F // empty" "${files[@]}" 2>/dev/null | grep -E '^-?[0-9.e+]+$' | sort -g |
		awk '{a[NR]=$1} END {if (NR==0) print ""; else if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'
}

table() {
	local s b metric unit F vals v
	printf '\n| scenario | metric |'
	for b in $BROKERS; do printf ' %s |' "$b"; done
	case " $BROKERS " in *" rosetta "*) for b in $BROKERS; do [ "$b" = rosetta ] || printf ' rosetta/%s |' "$b"; done ;; esac
	printf '\n|---|---|'
	for b in $BROKERS; do printf -- '---:|'; done
	case " $BROKERS " in *" rosetta "*) for b in $BROKERS; do [ "$b" = rosetta ] || printf -- '---:|'; done ;; esac
	printf '\n'
	for s in "${SCENARIOS[@]}"; do
		case $s in
		latency-5k) metrics=("p50 ms:.latency.p50_ns/1e6" "p99 ms:.latency.p99_ns/1e6" "p99.9 ms:.latency.p999_ns/1e6" "broker µs/msg:.broker.cpu_per_msg_us") ;;
		idle-rss) metrics=("RSS MiB:.broker.rss_after_kib/1024") ;;
		conns-idle) metrics=("RSS MiB:.broker.rss_after_kib/1024" "KiB/conn:(.broker.rss_after_kib-.broker.rss_before_kib)/.connections_open" "open s:.connect_s") ;;
		*) metrics=("msg/s:.receive_rate" "lost:.lost" "broker µs/msg:.broker.cpu_per_msg_us" "client µs/msg:.client_cpu_per_msg_us") ;;
		esac
		for metric in "${metrics[@]}"; do
			unit=${metric%%:*} F=${metric#*:}
			declare -A med=()
			printf '| %s | %s |' "$s" "$unit"
			for b in $BROKERS; do
				if [ -n "$(jq -r '.skip // empty' "$T/results/$s.$b.1.json" 2>/dev/null)" ]; then
					med[$b]=skip
				else
					med[$b]=$(median "$T"/results/"$s.$b".*.json)
				fi
				v=${med[$b]}
				case $v in skip | "") printf ' %s |' "${v:-n/a}" ;; *) printf ' %s |' "$(awk -v x="$v" 'BEGIN{ if (x>=100) printf "%.0f", x; else printf "%.3g", x }')" ;; esac
			done
			case " $BROKERS " in *" rosetta "*)
				for b in $BROKERS; do
					[ "$b" = rosetta ] && continue
					case "${med[$b]}:${med[rosetta]}" in
					skip:* | :* | *: | *:skip) printf ' – |' ;;
					*) printf ' %s |' "$(awk -v a="${med[rosetta]}" -v c="${med[$b]}" 'BEGIN{ if (c==0) print "–"; else printf "%.2f", a/c }')" ;;
					esac
				done ;;
			esac
			printf '\n'
			unset med
		done
	done
	for b in $BROKERS; do
		grep -l '"skip"' "$T"/results/*."$b".1.json 2>/dev/null | while read -r f; do
			f=${f##*/}
			printf '%s on %s skipped: %s\n' "${f%%.*}" "$b" "$(jq -r .skip "$T/results/$f")"
		done
	done
}

# --- main ------------------------------------------------------------------

if [ -n "${TABLE:-}" ]; then
	rm -rf "$T"
	T=$TABLE KEEP=1
	ROUNDS=$(find "$T/results" -name 'idle-rss.*.json' -printf '%f\n' | sed 's/.*\.\([0-9]*\)\.json/\1/' | sort -n | tail -1)
	echo "Medians of $ROUNDS round(s) from $T."
	table
	exit 0
fi
install_missing
log "building bin/rosetta"
make -s build
mkdir -p "$T/results"
for b in $BROKERS; do
	log "starting $b"
	"start_$b"
done
log "brokers up: $(for b in $BROKERS; do printf '%s=%s ' "$b" "$(pid_of "$b")"; done)"
log "rounds=$ROUNDS count=$COUNT latency=$LATDUR conns=$CONNS; results in $T/results"
for r in $(seq "$ROUNDS"); do
	sleep 2 # let the brokers settle (idle RSS is read first)
	for s in "${SCENARIOS[@]}"; do
		for b in $BROKERS; do
			settle "$(pid_of "$b")"
			log "round $r/$ROUNDS $s on $b"
			run_one "$s" "$b" "$r"
		done
	done
done
echo
echo "Medians of $ROUNDS round(s); $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), Linux $(uname -r)."
echo "Versions: $(/usr/sbin/mosquitto -h 2>/dev/null | head -1 | cut -d' ' -f1-3 || true); RabbitMQ $(dpkg-query -W -f '${Version}' rabbitmq-server 2>/dev/null || echo '?'); $(bin/rosetta version)"
table
