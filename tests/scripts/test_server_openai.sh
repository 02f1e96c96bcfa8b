#!/bin/bash
# The `openai` npm client against `moelab serve` on tiny dense and MoE models.
set -euo pipefail
: "${MOELAB:?}" "${MOELAB_SOURCE_DIR:?}" "${MOELAB_WORK_DIR:?}"
JS="$MOELAB_SOURCE_DIR/tests/js"
if [ ! -d "$JS/node_modules/openai" ]; then
  echo "skipping: run 'npm install' in tests/js for the openai package" >&2
  exit 0
fi
mkdir -p "$MOELAB_WORK_DIR"
for preset in tiny-llama tiny-deepseek2; do
  model="$MOELAB_WORK_DIR/server-$preset.gguf"
  [ -f "$model" ] || "$MOELAB" make-model --preset "$preset" -o "$model" > /dev/null
  log="$MOELAB_WORK_DIR/server-openai-$preset.log"
  "$MOELAB" serve "$model" --port 0 -t 1 --api-key sk-js 2> "$log" &
  pid=$!
  trap 'kill $pid 2>/dev/null || true' EXIT
  port=""
  for _ in $(seq 1 300); do
    port=$(grep -o 'http://127.0.0.1:[0-9]*' "$log" | sed 's/.*://' || true)
    [ -n "$port" ] && break
    sleep 0.1
  done
  [ -n "$port" ] || { cat "$log"; exit 1; }
  timeout 120 node "$JS/server_openai.mjs" "http://127.0.0.1:$port/v1" sk-js
  kill -TERM $pid
  wait $pid
  trap - EXIT
done
echo ok
