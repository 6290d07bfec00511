#!/usr/bin/env bash
# compare.sh runs the same lock benchmark against three etcd processes
# and three lockd processes on loopback, one system at a time, alternating,
# and prints what each reported. See README.md.
#
#   bench/etcd/compare.sh [rounds] [duration]
#
# Cases: CASES="clients:conns:mode ..." (default below). Ports used:
# etcd 2371-2373 and 2381-2383, lockd 7001-7003, 7101-7103, 7201-7203.
set -euo pipefail

rounds=${1:-2}
duration=${2:-5s}
cases=${CASES:-"1:1:uncontended 16:16:uncontended 64:64:uncontended 64:1:uncontended 16:16:contended"}

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
work=$(mktemp -d)
pids=()
cleanup() {
	if ((${#pids[@]})); then kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; fi
	rm -rf "$work"
}
trap cleanup EXIT

echo "building etcd, etcdbench, lockd and lockctl into $work" >&2
(cd "$here" && go build -o "$work/etcd" go.etcd.io/etcd/server/v3 && go build -o "$work/etcdbench" .)
(cd "$root" && go build -o "$work/lockd" ./cmd/lockd && go build -o "$work/lockctl" ./cmd/lockctl)

stop() {
	kill "${pids[@]}" 2>/dev/null || true
	wait 2>/dev/null || true
	pids=()
}

# waitfor URL...: until every URL answers 200, at most 20 s.
waitfor() {
	local deadline=$((SECONDS + 20)) u
	for u in "$@"; do
		until curl -fs -o /dev/null "$u"; do
			if ((SECONDS > deadline)); then echo "compare: $u did not come up" >&2; return 1; fi
			sleep 0.2
		done
	done
}

run_etcd() { # clients conns mode
	local d="$work/etcd-data" i ic=""
	rm -rf "$d"
	for i in 1 2 3; do ic+="${ic:+,}e$i=http://127.0.0.1:238$i"; done
	for i in 1 2 3; do
		"$work/etcd" --name "e$i" --data-dir "$d/e$i" \
			--listen-client-urls "http://127.0.0.1:237$i" --advertise-client-urls "http://127.0.0.1:237$i" \
			--listen-peer-urls "http://127.0.0.1:238$i" --initial-advertise-peer-urls "http://127.0.0.1:238$i" \
			--initial-cluster "$ic" --initial-cluster-state new --log-level error >"$work/etcd$i.log" 2>&1 &
		pids+=($!)
	done
	waitfor http://127.0.0.1:2371/health http://127.0.0.1:2372/health http://127.0.0.1:2373/health
	"$work/etcdbench" --endpoints 127.0.0.1:2371,127.0.0.1:2372,127.0.0.1:2373 \
		--duration "$duration" --clients "$1" --conns "$2" --mode "$3"
	stop
}

run_lockd() { # clients conns mode
	local d="$work/lockd-data" i
	rm -rf "$d"
	for i in 1 2 3; do
		"$work/lockd" --id "n$i" --data-dir "$d/n$i" --peer-addr "127.0.0.1:710$i" \
			--client-addr "127.0.0.1:700$i" --http-addr "127.0.0.1:720$i" \
			--initial-cluster n1=127.0.0.1:7101,n2=127.0.0.1:7102,n3=127.0.0.1:7103 >"$work/lockd$i.log" 2>&1 &
		pids+=($!)
	done
	waitfor http://127.0.0.1:7201/readyz http://127.0.0.1:7202/readyz http://127.0.0.1:7203/readyz
	"$work/lockctl" --endpoints 127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003 bench \
		--duration "$duration" --clients "$1" --conns "$2" --mode "$3"
	stop
}

for ((r = 1; r <= rounds; r++)); do
	for c in $cases; do
		IFS=: read -r clients conns mode <<<"$c"
		echo "== round $r: etcd, $clients clients, $conns conns, $mode"
		run_etcd "$clients" "$conns" "$mode"
		echo "== round $r: lockd, $clients clients, $conns conns, $mode"
		run_lockd "$clients" "$conns" "$mode"
	done
done
