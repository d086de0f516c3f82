#!/usr/bin/env bash
# deps.sh - install the Debian 12 packages riskd needs to build, test and
# run, skipping what is already installed. Needs root (or sudo).
set -euo pipefail
pkgs=(build-essential pkg-config git libpcre2-dev libcjson-dev libsqlite3-dev
      libcmocka-dev libmicrohttpd-dev libhiredis-dev libxxhash-dev libssl-dev
      redis-server sqlite3 valgrind wrk curl gnuplot-nox python3)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO=sudo
echo "deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
