#!/usr/bin/env bash
# Runs gridkit-server (release build) in the background for the demo.
#
#   scripts/server.sh start DATABASE_URL PORT   (re)start it, wait until healthy
#   scripts/server.sh stop                      stop it (SIGTERM: requests in flight finish)
set -euo pipefail
cd "$(dirname "$0")/.."
run=.local/server
pidfile=$run/server.pid

stop() {
    if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
        kill -TERM "$(cat "$pidfile")"
        for _ in $(seq 100); do kill -0 "$(cat "$pidfile")" 2>/dev/null || break; sleep 0.1; done
    fi
    rm -f "$pidfile"
}

case "${1:?usage: server.sh start DATABASE_URL PORT | stop}" in
start)
    url=${2:?database url}
    port=${3:?port}
    stop
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        echo "port $port is in use by another program, so gridkit-server cannot listen there;" >&2
        echo "choose another with GRIDKIT_HTTP_PORT (e.g. GRIDKIT_HTTP_PORT=8081 make demo)" >&2
        exit 1
    fi
    mkdir -p "$run"
    DATABASE_URL="$url" GRIDKIT_WEB_DIR="$PWD/web" nohup target/release/gridkit-server \
        --listen "127.0.0.1:$port" >"$run/server.log" 2>&1 &
    echo $! >"$pidfile"
    for _ in $(seq 100); do
        if curl -sf "http://127.0.0.1:$port/health" >/dev/null 2>&1; then exit 0; fi
        kill -0 "$(cat "$pidfile")" 2>/dev/null || break
        sleep 0.1
    done
    echo "gridkit-server did not start; see $run/server.log" >&2
    cat "$run/server.log" >&2
    exit 1 ;;
stop)
    stop ;;
*)
    echo "unknown command $1" >&2; exit 2 ;;
esac
