#!/usr/bin/env bash
# The system packages the tests need. As root they are installed when missing;
# otherwise we print the one command that installs them and fail: never skip silently.
set -euo pipefail
need=()
command -v redis-server >/dev/null || need+=(redis-server)
[ -x /usr/bin/chromium ] || need+=(chromium)
command -v npm >/dev/null || need+=(npm)
command -v ip >/dev/null || need+=(iproute2)
command -v turnserver >/dev/null || need+=(coturn)
[ -x /usr/sbin/nginx ] || need+=(nginx-light)
command -v espeak-ng >/dev/null || need+=(espeak-ng)  # a fake microphone that speaks
if [ ${#need[@]} -eq 0 ]; then exit 0; fi
if [ "$(id -u)" -eq 0 ]; then
  echo "system-deps: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # Packages such as nginx and coturn start a system service on install; the tests run
  # their own instances on free loopback ports, so keep the system ones from starting.
  made_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    made_policy=1
  fi
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  if [ "$made_policy" -eq 1 ]; then rm -f /usr/sbin/policy-rc.d; fi
else
  echo "system-deps: missing ${need[*]}. Install them with:" >&2
  echo "  sudo apt-get install -y ${need[*]}" >&2
  exit 1
fi
