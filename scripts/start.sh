#!/usr/bin/env bash
# `npm start`: dependencies, etcd, build, then the local multi-region stack (`waymark up`).
set -euo pipefail
cd "$(dirname "$0")/.."

# A stack already running on this state folder: say so before rebuilding dist/ under it.
state_dir=.waymark
prev=
for arg in "$@"; do
  case "$arg" in
    --state-dir=*) state_dir="${arg#--state-dir=}" ;;
  esac
  [ "$prev" = "--state-dir" ] && state_dir="$arg"
  prev="$arg"
done
lock="$state_dir/stack.lock"
if [ -f "$lock" ]; then
  pid="$(head -n 1 "$lock" | tr -dc '0-9')"
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    echo "error: STACK_RUNNING: a Waymark stack is already running (pid $pid, see $state_dir/stack.json): stop it with Ctrl-C in its terminal or \`kill $pid\`, or start another with --state-dir DIR --base-port N" >&2
    exit 1
  fi
fi

bash scripts/deps.sh
bash scripts/ensure-etcd.sh
npm run --silent build
# exec: `waymark up` replaces this shell, so a signal to it reaches the stack itself.
exec node dist/cli/waymark.js up "$@"
