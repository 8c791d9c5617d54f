#!/usr/bin/env bash
# The cost of authentication per HTTP request (issue 6): requests/s of one
# small route with an API token, with a browser session, refused without
# credentials and with an unknown token, next to anonymous health; and
# logins/s (scrypt-bound). Uses wrk against `airlock run` (the demo plant)
# on loopback. Usage: bench/bench_auth.sh BUILD_DIR [SECONDS]
set -euo pipefail
build=${1:-build}
secs=${2:-10}
airlock="$build/airlock"
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)"; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/airlock-bench-auth-XXXXXX")
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
simbase=$(python3 -c 'import random; print(random.randint(30000,40000))')
"$airlock" run --data "$work/data" --http "127.0.0.1:$port" --sim-port-base "$simbase" \
    --log-level warn 2>"$work/stderr" &
gw=$!
trap 'kill $gw 2>/dev/null; wait $gw 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 100); do
    grep -q "dashboard and API at" "$work/stderr" 2>/dev/null && break
    sleep 0.1
done
password=$(grep -o "one-time password  [A-Za-z0-9]*" "$work/stderr" | awk '{print $3}')
token=$("$airlock" token create --user admin --name bench --data "$work/data" 2>/dev/null)
base="http://127.0.0.1:$port"
tag=acme/plant1/utilities/pumping/skid1/motor_current
cookie=$(curl -s -D - -o /dev/null -H 'Content-Type: application/json' \
    --data "{\"user\":\"admin\",\"password\":\"$password\"}" "$base/api/v1/login" |
    grep -i '^set-cookie:' | sed 's/^[Ss]et-[Cc]ookie: //; s/;.*//')
cat >"$work/login.lua" <<LUA
wrk.method = "POST"
wrk.body = '{"user":"admin","password":"$password"}'
wrk.headers["Content-Type"] = "application/json"
LUA

# One wrk run: prints "| what | req/s | p99 | non-2xx | gateway CPU |".
run() {
    local what=$1 conns=$2
    shift 2
    local t0 c0 c1
    c0=$(awk '{print $14+$15}' /proc/$gw/stat)
    t0=$(date +%s.%N)
    local out
    out=$(wrk -t2 -c"$conns" -d"${secs}s" --latency "$@")
    c1=$(awk '{print $14+$15}' /proc/$gw/stat)
    local t1
    t1=$(date +%s.%N)
    local rps p99 bad cpu
    rps=$(awk '/^Requests\/sec/ {printf "%.0f", $2}' <<<"$out")
    p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
    bad=$(awk '/Non-2xx/ {print $5}' <<<"$out")
    cpu=$(python3 -c "print(f'{($c1-$c0)/$(getconf CLK_TCK)/($t1-$t0)*100:.0f} %')")
    printf '| %s | %s | %s | %s | %s |\n' "$what" "$rps" "$p99" "${bad:-0}" "$cpu"
}

echo "## Authentication cost per request (wrk, 2 threads, ${secs} s each, loopback, $(nproc) cores shared with wrk)"
echo
echo "| request | requests/s | p99 latency | non-2xx | gateway CPU |"
echo "| --- | --- | --- | --- | --- |"
run "GET /api/v1/health, anonymous (no credential work)" 16 "$base/api/v1/health"
run "GET /api/v1/tags/{path} with an API token" 16 -H "Authorization: Bearer $token" "$base/api/v1/tags/$tag"
run "GET /api/v1/tags/{path} with a session cookie" 16 -H "Cookie: $cookie" "$base/api/v1/tags/$tag"
run "GET /api/v1/tags/{path} without credentials (401)" 16 "$base/api/v1/tags/$tag"
run "GET /api/v1/tags/{path} with an unknown token (401)" 16 -H "Authorization: Bearer alk_unknownunknownunknownunknownunknownunknownun" "$base/api/v1/tags/$tag"
run "POST /api/v1/login (scrypt N=2^15; at most 4 at once, others 429)" 4 -s "$work/login.lua" "$base/api/v1/login"
echo
echo "Non-2xx are expected where the request is refused (401) and for logins beyond the"
echo "concurrency limit (429). Logins/s is bound by scrypt on purpose."
