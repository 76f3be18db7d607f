#!/usr/bin/env bash
# Makes kiln's end-to-end goldens with llama.cpp (the reference implementation), CPU only, 2 threads:
#   tests/fixtures/generate/<model>.json    greedy continuations (32 token ids, text, logit margins)
#                                          of 10 plain-completion prompts and selected extras, prompt ids, and
#                                          extra tokenization cases
#   tests/fixtures/perplexity/<model>.json  llama-perplexity on tests/fixtures/perplexity/text.txt
#                                          at -c 128 and -c 256, per-chunk values, the text's ids
# for <model> in SmolLM2-135M-Instruct.Q4_1 and gemma-3-270m-q4_k_m. Each fixture records its
# provenance (llama.cpp version and source, commands, threads, sampler, CPU features, date).
#
# Usage: tools/make_goldens.sh [all|generate|perplexity]      (from anywhere; default all)
# Environment:
#   LLAMA_BIN     llama.cpp CPU build's bin/ with llama-server, llama-completion, llama-perplexity
#                 (default ~/.cache/kiln-anchors/llama.cpp/build-cpu/bin)
#   KILN_MODELS   directory with the two models (default <repo>/models; tools/fetch-models.sh)
#   LLAMA_SOURCE  one line saying where that llama.cpp came from, recorded in the fixtures
# Needs python3 with the gguf package (python3 -m pip install gguf). Generation runs llama-server
# on 127.0.0.1 at a free port and checks every continuation against llama-completion and two
# other llama.cpp evaluation schedules; see tools/goldens.py.
# Rerunning reproduces the fixtures byte for byte (a fixture whose content did not change keeps
# its file, date included). Takes about an hour on 2 cores (44 prompts, each run six ways).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
what=${1:-all}
LLAMA_BIN=${LLAMA_BIN:-$HOME/.cache/kiln-anchors/llama.cpp/build-cpu/bin}
models=${KILN_MODELS:-$root/models}
source_desc=${LLAMA_SOURCE:-"llama.cpp as vendored in the PyPI sdist llama-cpp-python==0.3.36 (vendor/llama.cpp), built with cmake -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON -DLLAMA_CURL=OFF (CPU backend only)"}
helper=(python3 "$root/tools/goldens.py")
text=tests/fixtures/perplexity/text.txt
TEXT_SHA=fb75ed883f5af6f07c36ef45bd663c3caaf11858f45bdffda2622b90b1384d26
MODELS=(SmolLM2-135M-Instruct.Q4_1 gemma-3-270m-q4_k_m)

case "$what" in all|generate|perplexity) ;; *) echo "usage: $0 [all|generate|perplexity]" >&2; exit 2 ;; esac
for b in llama-server llama-completion llama-perplexity; do
  [ -x "$LLAMA_BIN/$b" ] || { echo "make_goldens: $LLAMA_BIN/$b not found (set LLAMA_BIN)" >&2; exit 1; }
done
for m in "${MODELS[@]}"; do
  [ -f "$models/$m.gguf" ] || { echo "make_goldens: $models/$m.gguf not found (set KILN_MODELS)" >&2; exit 1; }
done
echo "$TEXT_SHA  $text" | sha256sum -c --quiet - || { echo "make_goldens: $text changed" >&2; exit 1; }

tmp=$(mktemp -d)
server_pids=()
cleanup() {
  stop_servers
  rm -rf "$tmp"
}
trap cleanup EXIT

# The server command as recorded ($MODEL and $PORT stand for the model path and the free port).
# --ctx-checkpoints 0: for SWA models (gemma3) the server otherwise splits each prompt into two
# ubatches to snapshot its cache; greedy tokens depend on that split (see the fixtures'
# stable_tokens), so the prompt goes in one ubatch and the generated tokens one at a time, which is
# exactly what llama-completion does, and the cross-check compares like with like.
SERVER_ARGS='--host 127.0.0.1 --port $PORT -c 512 -t 2 --temp 0 -np 1 --ctx-checkpoints 0 --no-webui -lv 4'

# Alternative evaluation schedules of the same greedy run, each in its own server: every token
# (prompt included) decoded alone with ggml's plain kernels (-ub 1; the server needs a batch of
# at least 2 for its warm-up, so -b 2); attention without flash attention. goldens.py measures
# how far llama.cpp's logits move between them (tie_margin in the fixture).
ALT_ARGS=("-ub 1 -b 2 --no-repack" "-fa off")

start_server() { # model-path log [extra args]; sets $url
  local port pid
  port=$("${helper[@]}" freeport)
  # shellcheck disable=SC2086 # $3 is a list of flags
  "$LLAMA_BIN/llama-server" -m "$1" --host 127.0.0.1 --port "$port" -c 512 -t 2 --temp 0 -np 1 --ctx-checkpoints 0 \
    --no-webui -lv 4 ${3:-} >"$2" 2>&1 &
  pid=$!
  server_pids+=("$pid")
  url="http://127.0.0.1:$port"
  "${helper[@]}" wait "$url" "$pid"
}

stop_servers() {
  local pid
  for pid in "${server_pids[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  server_pids=()
}

for m in "${MODELS[@]}"; do
  model="$models/$m.gguf"
  echo "make_goldens: $m"
  start_server "$model" "$tmp/server-$m.log"
  main_url=$url
  "${helper[@]}" ppl-tokens --url "$main_url" --text "$text" --out "$tmp/tokens-$m.json"
  if [ "$what" != perplexity ]; then
    alt=()
    for i in "${!ALT_ARGS[@]}"; do
      start_server "$model" "$tmp/server-$m-alt$i.log" "${ALT_ARGS[$i]}"
      alt+=(--alt-url "$url" --alt-server-command "\$LLAMA_BIN/llama-server -m \$MODEL $SERVER_ARGS ${ALT_ARGS[$i]}")
    done
    "${helper[@]}" generate --bin "$LLAMA_BIN" --model "$model" --source "$source_desc" \
      --url "$main_url" --server-log "$tmp/server-$m.log" \
      --server-command "\$LLAMA_BIN/llama-server -m \$MODEL $SERVER_ARGS" "${alt[@]}" \
      --out "tests/fixtures/generate/$m.json"
  fi
  stop_servers

  [ "$what" = generate ] && continue
  runs=()
  for c in 128 256; do
    # One chunk is one batch: -b equal to -c.
    args=(-f "$text" -c "$c" -b "$c" -t 2 -lv 4)
    "$LLAMA_BIN/llama-perplexity" -m "$model" "${args[@]}" \
      >"$tmp/ppl-$m-$c.out" 2>"$tmp/ppl-$m-$c.err" </dev/null
    "$LLAMA_BIN/llama-perplexity" -m "$model" "${args[@]}" --ppl-output-type 1 \
      >"$tmp/ppl1-$m-$c.out" 2>"$tmp/ppl1-$m-$c.err" </dev/null
    runs+=(--run "$c,$tmp/ppl-$m-$c.out,$tmp/ppl-$m-$c.err,$tmp/ppl1-$m-$c.out,$tmp/ppl1-$m-$c.err,\$LLAMA_BIN/llama-perplexity -m \$MODEL ${args[*]}")
  done
  # The spread of llama.cpp itself: the -c 128 run with other kernels.
  args=(-f "$text" -c 128 -b 128 -t 2 -lv 4 -fa off --no-repack)
  "$LLAMA_BIN/llama-perplexity" -m "$model" "${args[@]}" >"$tmp/alt-$m.out" 2>"$tmp/alt-$m.err" </dev/null
  runs+=(--alt "128,$tmp/alt-$m.out,$tmp/alt-$m.err,\$LLAMA_BIN/llama-perplexity -m \$MODEL ${args[*]}")
  "${helper[@]}" perplexity --bin "$LLAMA_BIN" --model "$model" --source "$source_desc" \
    --text "$text" --tokens "$tmp/tokens-$m.json" "${runs[@]}" \
    --out "tests/fixtures/perplexity/$m.json"
done
echo "make_goldens: done"
