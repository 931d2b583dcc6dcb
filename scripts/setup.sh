#!/usr/bin/env bash
# Installs what vessel needs on Debian 12, idempotently: apt packages that are
# missing, a virtualenv at .venv built from Debian's /usr/bin/python3, and the
# package itself (editable) with its test dependencies.  A second run installs
# nothing and takes well under a second.
set -euo pipefail
cd "$(dirname "$0")/.."

want=$(grep -v '^\s*#' scripts/apt-packages.txt | awk 'NF{print $1}')
missing=()
for pkg in $want; do
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    [[ "$status" == "install ok installed" ]] || missing+=("$pkg")
done
if ((${#missing[@]})); then
    echo "setup: installing apt packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    # docker-registry's package enables a registry service on :5000; the tests start their own on
    # loopback, so a registry that only we installed is not left serving the network
    if [[ " ${missing[*]} " == *" docker-registry "* ]] && command -v systemctl >/dev/null; then
        systemctl disable --now docker-registry >/dev/null 2>&1 || true
    fi
fi

if [[ ! -x .venv/bin/python ]]; then
    echo "setup: creating .venv from /usr/bin/python3"
    /usr/bin/python3 -m venv --system-site-packages .venv
fi

stamp=.venv/.vessel-installed
if [[ ! -f $stamp || pyproject.toml -nt $stamp ]]; then
    echo "setup: installing vessel into .venv"
    .venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'
    touch "$stamp"
fi
# Bytecode ahead of time: start-up matters (vessel-runtime is run per container
# operation) and PYTHONDONTWRITEBYTECODE may be set; up-to-date files are skipped.
.venv/bin/python -m compileall -q src >/dev/null
.venv/bin/python -c "from vessel._dccache import main; main()" >/dev/null   # compiled dataclass methods (start-up)
.venv/bin/python scripts/write_launchers.py
