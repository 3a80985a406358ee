#!/usr/bin/env bash
# Installs the tools the benchmarks drive the server with: wrk (HTTP load) and nginx (the
# machine's ceiling). apt-get needs root; without it, the benchmark says what is missing and skips
# what needs it. Debian's nginx package starts a system service on port 80: the benchmark runs its
# own instance, so that service is stopped again.
set -u
missing=()
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
command -v nginx >/dev/null 2>&1 || [[ -x /usr/sbin/nginx ]] || missing+=(nginx-light)
((${#missing[@]})) || exit 0
if [[ $(id -u) != 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
  echo "bench/setup.sh: cannot install ${missing[*]} (needs root and apt-get); those rows will be skipped"
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -q "${missing[@]}" >/dev/null 2>&1 ||
  { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q "${missing[@]}" >/dev/null 2>&1; } ||
  echo "bench/setup.sh: installing ${missing[*]} failed; those rows will be skipped"
if [[ " ${missing[*]} " == *" nginx-light "* ]]; then
  (service nginx stop || nginx -s stop) >/dev/null 2>&1 || true
fi
exit 0
