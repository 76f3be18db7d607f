#!/usr/bin/env bash
# Measures layer offloading at several GPU memory budgets: for each budget, `kiln bench` in
# each mode (--offload stream, cpu and auto), alternating modes within each round so drift in a
# shared machine's load hits all three alike; then prints, per budget and test (pp, tg), the
# tokens/s of each mode, the plan auto chose, and auto's rate as a fraction of the best manual
# mode. Exit status 3 when auto falls more than 10% below the best manual mode anywhere.
#
# Usage: tools/offload-sweep.sh MODEL.gguf [--budgets 1GiB,64MiB,16MiB] [-p 32] [-n 8] [-r 2]
#                               [-t 2] [--rounds 3] [--device gpu]
# Budgets are --gpu-memory values; pick them from `kiln generate -v` or `kiln inspect` so they
# leave all, about half and about a tenth of the layers on the GPU. Three rounds by default: a
# tg8 run lasts well under a second, and one round read 0.79x where three read 0.99x.
# Environment: KILN  the kiln binary (default: target/release/kiln, built if missing). Needs python3.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
model=${1:?usage: $0 MODEL.gguf [--budgets A,B,C] [-p N] [-n N] [-r N] [-t N] [--rounds N] [--device D]}
shift
budgets=1GiB,64MiB,16MiB p=32 n=8 r=2 t=2 rounds=3 device=gpu
while [ $# -gt 0 ]; do
  case "$1" in
    --budgets) budgets=$2; shift 2 ;;
    -p) p=$2; shift 2 ;;
    -n) n=$2; shift 2 ;;
    -r) r=$2; shift 2 ;;
    -t) t=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --device) device=$2; shift 2 ;;
    *) echo "offload-sweep: unknown argument $1" >&2; exit 2 ;;
  esac
done
[ -f "$model" ] || { echo "offload-sweep: $model not found" >&2; exit 1; }

kiln=${KILN:-$root/target/release/kiln}
if [ -z "${KILN:-}" ]; then (cd "$root" && cargo build --release --quiet); fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for i in $(seq 1 "$rounds"); do
  for mode in stream cpu auto; do
    echo "offload-sweep: round $i/$rounds, --offload $mode" >&2
    "$kiln" bench -m "$model" -p "$p" -n "$n" -r "$r" -t "$t" --device "$device" \
      --gpu-memory "$budgets" --offload "$mode" -o json >"$tmp/$mode-$i.json"
  done
done

python3 - "$tmp" "$rounds" "$model" "$t" <<'PY'
import datetime, json, os, statistics, sys
tmp, rounds, model, threads = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
modes = ["stream", "cpu", "auto"]
rates, plans, order = {}, {}, []
for mode in modes:
    for i in range(1, rounds + 1):
        for rec in json.load(open(os.path.join(tmp, f"{mode}-{i}.json"))):
            test = f"pp{rec['n_prompt']}" if rec["n_gen"] == 0 else f"tg{rec['n_gen']}"
            key = (rec["gpu_memory"], test)
            if key not in order:
                order.append(key)
            rates.setdefault((key, mode), []).extend(rec["samples_ts"])
            plans[(key, mode)] = rec.get("offload") or "all resident"
            plans[(key, "layers")] = rec.get("n_resident_layers")
def mib(b):
    return "-" if b is None else f"{b / 2**20:.0f} MiB"
print(f"kiln offload sweep: {os.path.basename(model)}, {threads} threads, "
      f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d}, {rounds} round(s)")
print()
print("| gpu mem | test | resident layers | stream t/s | cpu t/s | auto t/s | auto plan | auto / best |")
print("| ------: | ---- | --------------: | ---------: | ------: | -------: | --------- | ----------: |")
worst = None
for key in order:
    mean = {m: statistics.mean(rates[(key, m)]) for m in modes if (key, m) in rates}
    best = max(mean.get("stream", 0), mean.get("cpu", 0))
    ratio = mean["auto"] / best if best else float("nan")
    worst = ratio if worst is None else min(worst, ratio)
    cells = " | ".join(f"{mean[m]:.2f}" for m in modes)
    layers = plans[(key, "layers")]
    print(f"| {mib(key[0])} | {key[1]} | {'all' if layers is None else layers} | {cells} | "
          f"{plans[(key, 'auto')]} | {ratio:.2f}x |")
print()
ok = worst is not None and worst >= 0.9
print(f"auto is within 10% of the best manual mode at every point: {'yes' if ok else 'NO'} "
      f"(worst {worst:.2f}x)")
sys.exit(0 if ok else 3)
PY
