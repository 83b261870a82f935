#!/usr/bin/env bash
# Installs Debian's Chromium for the browser tests when it is missing and we may.
set -u
if command -v chromium >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing Debian's chromium for the browser tests" >&2
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
    || echo "could not install chromium; the browser tests will be skipped" >&2
else
  echo "chromium is not installed; the browser tests will be skipped" >&2
fi
exit 0
