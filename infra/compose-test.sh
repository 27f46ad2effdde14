#!/usr/bin/env bash
# Debian's docker-compose (1.29, Python) for tests/infra/test_compose.py: its `config -q` validates
# infra/docker-compose.yml offline, without a Docker daemon. Installs the `docker-compose` package with apt-get when
# it is missing and this runs as root; otherwise says why the compose test will skip. Always exits 0: the suite
# decides.
set -uo pipefail

say() { echo "compose-test: $*" >&2; }

if command -v docker-compose >/dev/null 2>&1; then
    exit 0
fi
if [[ "$(id -u)" != 0 ]]; then
    say "docker-compose is not installed and installing it needs root (apt-get install docker-compose): the compose test skips"
    exit 0
fi
say "installing docker-compose (apt-get)"
export DEBIAN_FRONTEND=noninteractive
if ! { apt-get update -qq >&2 && apt-get install -y -qq --no-install-recommends docker-compose >&2; }; then
    say "apt-get could not install docker-compose: the compose test skips"
fi
exit 0
