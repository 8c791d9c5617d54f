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
} | tee "$out"
echo "written to $out"
