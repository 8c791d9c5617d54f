#!/usr/bin/env bash
# Installs what airlock needs to build, run and test on Debian 12, only where missing.
# Debian packages through apt-get, test peers from npm into ./node_modules.
# Safe to run again: does nothing when everything is present.
set -euo pipefail
cd "$(dirname "$0")/.."

debs=(build-essential cmake pkg-config clang libclang-rt-14-dev
      libmodbus-dev libyaml-dev libjansson-dev libmicrohttpd-dev
      python3-pymodbus python3-serial python3-serial-asyncio python3-pytest chromium
      libmosquitto-dev mosquitto protobuf-c-compiler libprotobuf-c-dev
      libssl-dev openssl libsqlite3-dev sqlite3
      iproute2 nftables tcpdump wrk)
missing=()
for p in "${debs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node.js and npm may come from elsewhere (NodeSource ships npm inside its
# nodejs package, which conflicts with Debian's npm): ask for the commands,
# not for the Debian package names, and install Debian's only when absent.
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing Debian packages: ${missing[*]}"
    sudo_cmd=""
    [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if [ ! -d node_modules/playwright-core ] || [ ! -d node_modules/mqtt ] ||
   [ ! -d node_modules/sparkplug-payload ] || [ ! -d node_modules/node-opcua-server ]; then
    echo "setup: installing npm test peers (package-lock.json)"
    npm ci --no-audit --no-fund --loglevel=error
fi
