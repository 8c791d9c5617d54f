#!/usr/bin/env bash
# Runs every benchmark against the release build in $1 and writes the tables
# to bench/results/ (and stdout).
set -euo pipefail
build=${1:-build}
cd "$(dirname "$0")/.."
mkdir -p bench/results
out=bench/results/modbus-$(date -u +%Y%m%dT%H%M%SZ).md
{
    echo "# Modbus TCP collection benchmark ($(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores)"
    echo
    echo "## 100 devices x 1,000 registers, polled as fast as possible (10 ms interval)"
    echo
    "$build/bench_modbus" "$build/airlock" 100 1000 10 10
    echo
    echo "## The same with every value recorded in the historian (batched durability)"
    echo
    "$build/bench_modbus" "$build/airlock" 100 1000 10 10 history
} | tee "$out"
echo "written to $out"

# The historian: bytes per point (real ALP series and a generated plant mix)
# against Gorilla, ingest and read rates, the one-year hourly aggregate.
# Stores go to a temporary directory under ${TMPDIR:-/tmp}, removed at the end.
datasets=${AIRLOCK_DATASETS:-../shared/datasets/alp}
out=bench/results/historian-$(date -u +%Y%m%dT%H%M%SZ).md
{
    echo "# Historian benchmark ($(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores)"
    echo
    "$build/bench_historian" --alp "$datasets" --tmp "${TMPDIR:-/tmp}"
} | tee "$out"
echo "written to $out"

# Publishing to MQTT: UNS JSON and Sparkplug B throughput through mosquitto on
# loopback, spool replay, latency at 50,000 values/s (bench/bench_north.c).
out=bench/results/north-$(date -u +%Y%m%dT%H%M%SZ).md
{
    echo "# Publishing benchmark ($(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores)"
    echo
    "$build/bench_north" "$build/airlock" 10
} | tee "$out"
echo "written to $out"

# OPC UA: Publish response decoding per core, then values/s from the
# node-opcua test server with 10,000 monitored items at 100 ms, CPU of both
# sides and memory per monitored item (bench/bench_opcua.c).
out=bench/results/opcua-$(date -u +%Y%m%dT%H%M%SZ).md
{
    echo "# OPC UA benchmark ($(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores)"
    echo
    "$build/bench_opcua" "$build/airlock" 10000 10
} | tee "$out"
echo "written to $out"

# Authentication: requests/s with a token, a session, refused requests and
# logins/s, with wrk against the demo gateway (bench/bench_auth.sh).
out=bench/results/auth-$(date -u +%Y%m%dT%H%M%SZ).md
{
    echo "# HTTP authentication benchmark ($(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores)"
    echo
    bench/bench_auth.sh "$build" 10
} | tee "$out"
echo "written to $out"

# One-way link (phase "oneway"): values/s from link_sender to link_receiver
# between two network namespaces (loopback when they cannot be created, said
# in the output), loss, CPU of each side (bench/bench_oneway.c).
out=bench/results/oneway-$(date -u +%Y%m%dT%H%M%SZ).md
{
    echo "# One-way link benchmark ($(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores)"
    echo
    "$build/bench_oneway" 5
} | tee "$out"
echo "written to $out"
