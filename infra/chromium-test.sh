#!/usr/bin/env bash
# Debian's Chromium for the browser test of the chat page (tests/api/test_page.py, driven by Playwright for Python
# with executable_path; never `playwright install`). Installs the `chromium` package with apt-get when it is missing
# and this runs as root; otherwise says why the browser test will skip. Always exits 0: the suite decides.
set -uo pipefail

say() { echo "chromium-test: $*" >&2; }

if command -v chromium >/dev/null 2>&1; then
    exit 0
fi
if [[ "$(id -u)" != 0 ]]; then
    say "Chromium is not installed and installing it needs root (apt-get install chromium): the browser test skips"
    exit 0
fi
say "installing Chromium (apt-get)"
export DEBIAN_FRONTEND=noninteractive
if ! { apt-get update -qq >&2 && apt-get install -y -qq --no-install-recommends chromium >&2; }; then
    say "apt-get could not install chromium: the browser test skips"
fi
exit 0
