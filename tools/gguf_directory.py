#!/usr/bin/env python3
"""Dump a GGUF file's directory with the `gguf` Python package, as a fixture for kiln's reader.

kiln's tests/gguf_real_models.rs opens the same model with kiln's own reader and checks that
the header counts, a few metadata values, and every tensor's name, ggml type, shape (ggml ne
order), byte size and offset agree with what this independent reader (ggml-org's gguf-py,
GGUFReader) saw. The exact command and the gguf package version are recorded in the output.

Usage (from the repository root; needs `python3 -m pip install gguf`):
    python3 tools/gguf_directory.py models/SmolLM2-135M-Instruct.Q4_1.gguf --name smollm2
    python3 tools/gguf_directory.py models/gemma-3-270m-q4_k_m.gguf --name gemma3
writes tests/fixtures/gguf_directory_<name>.json.
"""

import argparse
import hashlib
import importlib.metadata
import json
import os
import platform
import shlex
import sys

from gguf import GGUFReader, GGUFValueType

# Metadata recorded besides the counts: enough to catch a reader that misparses scalars,
# strings and arrays, without copying the (large) vocabulary into the repository.
GENERAL_KEYS = ["general.architecture", "general.name", "general.file_type",
                "general.quantization_version", "tokenizer.ggml.model"]
ARCH_SUFFIXES = ["block_count", "context_length", "embedding_length", "feed_forward_length",
                 "attention.head_count", "attention.head_count_kv", "rope.freq_base",
                 "attention.layer_norm_rms_epsilon"]
ARRAY_KEYS = ["tokenizer.ggml.tokens", "tokenizer.ggml.token_type", "tokenizer.ggml.scores",
              "tokenizer.ggml.merges"]


def array_summary(field):
    """Element type, length, and the first 4 elements of an array field."""
    items = field.contents()
    return {"elem_type": field.types[-1].name, "len": len(field.data), "head": items[:4]}


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", help="path to a .gguf file")
    ap.add_argument("--name", required=True, help="fixture name: gguf_directory_<name>.json")
    ap.add_argument("--out-dir", default="tests/fixtures")
    args = ap.parse_args()

    r = GGUFReader(args.model)
    arch = r.fields["general.architecture"].contents()
    metadata = {}
    for key in GENERAL_KEYS + [f"{arch}.{s}" for s in ARCH_SUFFIXES]:
        if key in r.fields:
            metadata[key] = r.fields[key].contents()  # strings come back decoded
    arrays = {k: array_summary(r.fields[k]) for k in ARRAY_KEYS if k in r.fields}

    tensors = [{
        "name": t.name,
        "type": t.tensor_type.name,
        "shape": [int(d) for d in t.shape],
        "n_bytes": int(t.n_bytes),
        "offset": int(t.data_offset - r.data_offset),
    } for t in r.tensors]

    out = {
        "provenance": {
            "command": "python3 " + " ".join(shlex.quote(a) for a in sys.argv),
            "reader": "gguf.GGUFReader (ggml-org/llama.cpp gguf-py)",
            "gguf_version": importlib.metadata.version("gguf"),
            "python": platform.python_version(),
        },
        "file": os.path.basename(args.model),
        "sha256": sha256(args.model),
        "file_size": os.path.getsize(args.model),
        "version": int(r.fields["GGUF.version"].contents()),
        "kv_count": int(r.fields["GGUF.kv_count"].contents()),
        "tensor_count": int(r.fields["GGUF.tensor_count"].contents()),
        "alignment": int(r.alignment),
        "data_offset": int(r.data_offset),
        "metadata": metadata,
        "arrays": arrays,
        "tensors": tensors,
    }
    os.makedirs(args.out_dir, exist_ok=True)
    path = os.path.join(args.out_dir, f"gguf_directory_{args.name}.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    print(f"{path}: {len(tensors)} tensors, {out['kv_count']} keys")


if __name__ == "__main__":
    main()
