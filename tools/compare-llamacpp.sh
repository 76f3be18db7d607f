#!/usr/bin/env bash
# Measures kiln against llama.cpp on the same model, threads and machine, side by side: kiln
# bench and llama-bench run alternately (ROUNDS rounds, each one repetition set), so drift in a
# shared machine's load hits both alike; then prints each runtime's mean t/s per test and the
# ratio kiln / llama.cpp.
#
# Usage: tools/compare-llamacpp.sh [--vulkan] MODEL.gguf [-p 512] [-n 128] [-r 3] [-t 2] [--rounds 3]
#   default:   kiln's CPU backend vs llama.cpp's CPU build
#   --vulkan:  kiln's wgpu backend (--device gpu) vs llama.cpp's Vulkan build (-ngl 99) on the
#              same Vulkan adapter (lavapipe on a machine without a GPU)
# Environment:
#   LLAMA_CPU_BIN  llama.cpp CPU build's bin/ (default ~/.cache/kiln-anchors/llama.cpp/build-cpu/bin)
#   LLAMA_VK_BIN   llama.cpp Vulkan build's bin/ (default ~/.cache/kiln-anchors/llama.cpp/build-vk/bin)
#   KILN           the kiln binary (default: target/release/kiln, built if missing)
# Both are built by ../shared/tools/llamacpp.sh (cpu | vulkan). Needs python3.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
vulkan=0
if [ "${1:-}" = --vulkan ]; then vulkan=1; shift; fi
model=${1:?usage: $0 [--vulkan] MODEL.gguf [-p N] [-n N] [-r N] [-t N] [--rounds N]}
shift
p=512 n=128 r=3 t=2 rounds=3
while [ $# -gt 0 ]; do
  case "$1" in
    -p) p=$2; shift 2 ;;
    -n) n=$2; shift 2 ;;
    -r) r=$2; shift 2 ;;
    -t) t=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    *) echo "compare-llamacpp: unknown argument $1" >&2; exit 2 ;;
  esac
done
[ -f "$model" ] || { echo "compare-llamacpp: $model not found" >&2; exit 1; }

kiln=${KILN:-$root/target/release/kiln}
if [ -z "${KILN:-}" ]; then (cd "$root" && cargo build --release --quiet); fi
if [ "$vulkan" = 1 ]; then
  bin=${LLAMA_VK_BIN:-$HOME/.cache/kiln-anchors/llama.cpp/build-vk/bin}
  # llama.cpp's Vulkan backend skips CPU-type adapters such as lavapipe unless told to use them.
  llama=(env GGML_VK_VISIBLE_DEVICES=0 "$bin/llama-bench" -ngl 99)
  kiln_dev=(--device gpu)
  label="kiln wgpu vs llama.cpp Vulkan"
else
  bin=${LLAMA_CPU_BIN:-$HOME/.cache/kiln-anchors/llama.cpp/build-cpu/bin}
  llama=("$bin/llama-bench")
  kiln_dev=(--device cpu)
  label="kiln CPU vs llama.cpp CPU"
fi
[ -x "$bin/llama-bench" ] || { echo "compare-llamacpp: $bin/llama-bench not found (../shared/tools/llamacpp.sh)" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for i in $(seq 1 "$rounds"); do
  echo "compare-llamacpp: round $i/$rounds" >&2
  "$kiln" bench -m "$model" -p "$p" -n "$n" -r "$r" -t "$t" "${kiln_dev[@]}" -o json >"$tmp/kiln-$i.json"
  "${llama[@]}" -m "$model" -p "$p" -n "$n" -r "$r" -t "$t" -o json >"$tmp/llama-$i.json" 2>"$tmp/llama-$i.err" \
    || { cat "$tmp/llama-$i.err" >&2; exit 1; }
done

python3 - "$tmp" "$rounds" "$label" "$model" "$t" <<'PY'
import json, os, statistics, sys, platform, datetime
tmp, rounds, label, model, threads = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
def load(who):
    rates = {}
    for i in range(1, rounds + 1):
        for rec in json.load(open(os.path.join(tmp, f"{who}-{i}.json"))):
            name = f"pp{rec['n_prompt']}" if rec["n_gen"] == 0 else f"tg{rec['n_gen']}"
            rates.setdefault(name, []).extend(rec["samples_ts"])
    return rates
k, l = load("kiln"), load("llama")
cpu = next((x.split(":", 1)[1].strip() for x in open("/proc/cpuinfo") if x.startswith("model name")), platform.machine())
print(f"{label}: {os.path.basename(model)}, {threads} threads, {cpu}, "
      f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d}, {rounds} alternating rounds")
print()
print("| test | kiln t/s | llama.cpp t/s | kiln / llama.cpp |")
print("| ---- | -------: | ------------: | ---------------: |")
for name in k:
    if name not in l:
        continue
    km, ks = statistics.mean(k[name]), statistics.pstdev(k[name])
    lm, ls = statistics.mean(l[name]), statistics.pstdev(l[name])
    print(f"| {name} | {km:.2f} ± {ks:.2f} | {lm:.2f} ± {ls:.2f} | {km / lm:.2f}x |")
PY
