#!/bin/sh
# Installs every build and test dependency of meterd from Debian's packages.
# Non-interactive and idempotent: does nothing when all are present.
set -eu

PACKAGES="build-essential cmake pkg-config clang-format
librdkafka-dev libcurl4-openssl-dev libssl-dev libjemalloc-dev
libxxhash-dev libcjson-dev libsqlite3-dev sqlite3 libmicrohttpd-dev
libcmocka-dev kcat python3 python3-botocore python3-kafka python3-yaml
python3-prometheus-client"

missing=""
for p in $PACKAGES; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
        missing="$missing $p"
done

if [ -z "$missing" ]; then
    echo "install-deps: all dependencies present"
    exit 0
fi

echo "install-deps: installing:$missing"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing
