#!/usr/bin/env python3
"""Make the independent oracle fixtures for kiln's CPU quant codecs (src/quant/).

Nothing here comes from kiln. Values are decoded and encoded by the `gguf` Python package
(gguf-py: llama.cpp's own numpy implementation of the GGUF formats) and, for the quantizers
gguf-py lacks, by ggml's C reference functions in a libggml-base.so built from llama.cpp.
tests/quant_oracle.rs checks kiln::quant against every case.

Command (from the repository root; rerunning it rewrites byte-identical files):

    python3 -m pip install gguf numpy
    python3 tools/quant_oracle.py --models models \\
        --ggml-lib ~/.cache/kiln-anchors/llama.cpp/build-cpu/bin/libggml-base.so

`--models` is the directory holding SmolLM2-135M-Instruct.Q4_1.gguf and
gemma-3-270m-q4_k_m.gguf (tools/fetch-models.sh). Without `--ggml-lib`, ggml_quantize.json is
left as it is. With it, the script also cross-checks every dequantize case against ggml's
`dequantize_row_*` and prints the result (the fixtures themselves keep gguf-py's values).

Files written to tests/fixtures/quant/. All are JSON; every binary field is lowercase hex of the
raw little-endian bytes (f32 arrays included, so values are bit-exact):

    {"provenance": {"command", "gguf", "numpy", "python", "seed", ...},
     "inputs": {name: f32 hex, ...},          # quantize files only
     "cases": [case, ...]}

random_blocks.json  gguf-py `gguf.quants.dequantize` of random raw blocks of every kiln type.
    case: {"type": ggml name, "name", "n": elements, "bytes": hex, "values": n f32 hex,
    "oracle": the decoder used}. Quant blocks have random qs/qh/scales bytes and f16 scale
    fields of magnitude 2^U(-10,-4) (never NaN, inf or subnormal), negative only where ggml's
    quantizer can produce a negative value; Q8_1's `s` and Q8_K's `bsums` are made consistent.
    Float types hold random bit patterns (NaNs replaced) plus infinities, -0 and subnormals.
    gguf-py has no Q8_1 or Q8_K decoder: Q8_1 blocks are decoded by gguf-py's Q8_0 after
    dropping the `s` field (same d and qs layout); Q8_K (f32 d, i8 qs) by the numpy line
    `qs.astype(float32) * d` written here (and cross-checked with ggml's dequantize_row_q8_K).
model_rows.json  gguf-py dequantize of rows of real tensors of both test models (read with
    gguf.GGUFReader): every tensor type they contain. case adds "model", "model_sha256",
    "tensor", "row", "file_offset" (byte offset of the row in the model file).
gguf_py_quantize.json  `gguf.quants.quantize` of fixed inputs for every type gguf-py can
    quantize (F16 via numpy, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0). case: {"type", "input",
    "bytes"}. numpy's f16 cast keeps NaN payloads where ggml writes 0x7E00, so the F16 cases
    use only NaN-free input.
ggml_quantize.json  ggml's `quantize_row_*_ref` (all quant types), `ggml_fp32_to_fp16_row`
    and `ggml_fp32_to_bf16_row_ref` from the given libggml-base.so; same case layout.
    Provenance records the library's sha256 and `ggml_version()`. The committed file comes
    from llama.cpp's CMake Release build of ggml 0.25.3 (the snapshot vendored in
    llama-cpp-python 0.3.36): ggml-base is compiled with `-O3 -std=gnu11` and no `-march`, so
    x86-64 SSE2 f32 arithmetic without fused multiply-add, the semantics kiln reproduces. A
    build that contracts `a*b + c` into FMA (GCC's default on aarch64) may write other K-quant
    bytes; ggml does not promise bit-identical quantization across platforms.
"""

import argparse
import ctypes
import hashlib
import json
import os
import platform
import shlex
import sys
from importlib import metadata

import numpy as np
import gguf
from gguf import GGMLQuantizationType as T
from gguf.quants import dequantize, quantize

SEED = 20250607
OUT_DIR = os.path.join("tests", "fixtures", "quant")
SMOL = "SmolLM2-135M-Instruct.Q4_1.gguf"
GEMMA = "gemma-3-270m-q4_k_m.gguf"

FLOAT_TYPES = ["F32", "F16", "BF16"]
QUANT_TYPES = ["Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q8_1",
               "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "Q8_K"]

# f16 scale fields of each block: (byte offset, may be negative). Signs follow what ggml's
# reference quantizer can write: d = max/-8 (Q4_0, Q5_0), 1/iscale (Q3_K, Q6_K) and the Q4_1/
# Q5_1 min take either sign; amax/127 and the K-quant super-scales are never negative.
F16_FIELDS = {
    "Q4_0": [(0, True)], "Q4_1": [(0, False), (2, True)],
    "Q5_0": [(0, True)], "Q5_1": [(0, False), (2, True)],
    "Q8_0": [(0, False)], "Q8_1": [(0, False)],
    "Q2_K": [(80, False), (82, False)], "Q3_K": [(108, True)],
    "Q4_K": [(0, False), (2, False)], "Q5_K": [(0, False), (2, False)],
    "Q6_K": [(208, True)],
}

MODEL_ROWS = [  # (model, tensor, expected type, rows; -1 is the last row)
    (SMOL, "blk.0.ffn_gate.weight", "Q4_1", [0, 1, -1]),
    (SMOL, "token_embd.weight", "Q8_0", [0, 4321, -1]),
    (SMOL, "blk.0.attn_norm.weight", "F32", [0]),
    (GEMMA, "blk.0.attn_output.weight", "Q4_K", [0, 1, -1]),
    (GEMMA, "blk.0.ffn_down.weight", "Q6_K", [0, -1]),
    (GEMMA, "blk.0.attn_k.weight", "Q5_0", [0, 1, -1]),
    (GEMMA, "blk.0.attn_v.weight", "Q8_0", [0, -1]),
    (GEMMA, "output_norm.weight", "F32", [0]),
]


def hexf32(a):
    return np.asarray(a, dtype="<f4").tobytes().hex()


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def block_size(name):
    """(elements, bytes) per block. gguf-py 0.19 still lists Q8_1 as 40 bytes (f32 d and s, the
    layout before 2023); ggml-common.h static_asserts 36 (two f16 and 32 quants)."""
    if name == "Q8_1":
        return (32, 36)
    return gguf.GGML_QUANT_SIZES[T[name]]


def provenance(command, **extra):
    p = {"command": command, "gguf": metadata.version("gguf"), "numpy": np.__version__,
         "python": platform.python_version(), "seed": SEED}
    p.update(extra)
    return p


# ---------------------------------------------------------------- random raw blocks

def random_float_bits(rng, name, n):
    if name == "F32":
        b = rng.integers(0, 1 << 32, n, dtype=np.uint64).astype(np.uint32)
        nan = (b & 0x7F800000 == 0x7F800000) & (b & 0x007FFFFF != 0)
        b = np.where(nan, b ^ 0x40000000, b)
        special = [0x7F800000, 0xFF800000, 0x80000000, 0x00000001, 0x807FFFFF, 0x7F7FFFFF]
        return np.concatenate([b, np.array(special, np.uint32)]).astype("<u4").tobytes()
    b = rng.integers(0, 1 << 16, n, dtype=np.uint32).astype(np.uint16)
    exp, man = (0x7C00, 0x03FF) if name == "F16" else (0x7F80, 0x007F)
    nan = (b & exp == exp) & (b & man != 0)
    b = np.where(nan, b ^ 0x4000, b)
    special = [exp, 0x8000 | exp, 0x8000, 0x0001, 0x8000 | man]
    return np.concatenate([b, np.array(special, np.uint16)]).astype("<u2").tobytes()


def sane_scale(rng, signed):
    v = 2.0 ** rng.uniform(-10.0, -4.0)
    if signed and rng.integers(2):
        v = -v
    return v


def random_quant_blocks(rng, name, n_blocks):
    bs, ts = block_size(name)
    raw = bytearray(rng.integers(0, 256, n_blocks * ts, dtype=np.uint16).astype(np.uint8).tobytes())
    for b in range(n_blocks):
        blk = memoryview(raw)[b * ts:(b + 1) * ts]
        if name == "Q8_K":
            d = np.float32(sane_scale(rng, True))
            blk[0:4] = d.astype("<f4").tobytes()
            qs = np.frombuffer(bytes(blk[4:260]), dtype=np.int8).astype(np.int32)
            blk[260:292] = qs.reshape(16, 16).sum(axis=1).astype("<i2").tobytes()
            continue
        for off, signed in F16_FIELDS[name]:
            blk[off:off + 2] = np.float16(sane_scale(rng, signed)).astype("<f2").tobytes()
        if name == "Q8_1":
            d = np.frombuffer(bytes(blk[0:2]), dtype="<f2").astype(np.float32)[0]
            qsum = int(np.frombuffer(bytes(blk[4:36]), dtype=np.int8).astype(np.int32).sum())
            blk[2:4] = np.float16(np.float32(qsum) * d).astype("<f2").tobytes()
    return bytes(raw)


def oracle_dequantize(name, data):
    """(values, oracle description) for raw bytes `data` of type `name`."""
    arr = np.frombuffer(data, dtype=np.uint8)
    if name == "Q8_1":
        blocks = arr.reshape(-1, 36)
        as_q8_0 = np.concatenate([blocks[:, 0:2], blocks[:, 4:36]], axis=1).reshape(-1)
        return dequantize(as_q8_0, T.Q8_0), "gguf.quants.dequantize Q8_0 of the block without s"
    if name == "Q8_K":
        blocks = arr.reshape(-1, 292)
        d = blocks[:, 0:4].copy().view("<f4").astype(np.float32)
        qs = blocks[:, 4:260].copy().view(np.int8).astype(np.float32)
        return (qs * d).reshape(-1), "numpy qs.astype(float32) * d (gguf-py has no Q8_K)"
    return dequantize(arr, T[name]).reshape(-1), f"gguf.quants.dequantize {name}"


def random_blocks_cases():
    cases = []
    for i, name in enumerate(FLOAT_TYPES + QUANT_TYPES):
        rng = np.random.default_rng([SEED, 1, i])
        if name in FLOAT_TYPES:
            data = random_float_bits(rng, name, 64)
        else:
            data = random_quant_blocks(rng, name, 8 if block_size(name)[0] == 32 else 4)
        values, oracle = oracle_dequantize(name, data)
        cases.append({"type": name, "name": f"random {name}", "n": int(values.size),
                      "bytes": data.hex(), "values": hexf32(values), "oracle": oracle})
    return cases


# ---------------------------------------------------------------- real model rows

def model_rows_cases(models_dir):
    cases = []
    readers, hashes = {}, {}
    for model, tensor, want_type, rows in MODEL_ROWS:
        path = os.path.join(models_dir, model)
        if model not in readers:
            readers[model] = gguf.GGUFReader(path)
            hashes[model] = sha256(path)
        t = next(t for t in readers[model].tensors if t.name == tensor)
        name = t.tensor_type.name
        if name != want_type:
            sys.exit(f"{model} {tensor}: type {name}, expected {want_type}")
        data = np.asarray(t.data)
        raw = data.view(np.uint8).reshape(data.shape[0] if data.ndim > 1 else 1, -1)
        for row in rows:
            r = row % raw.shape[0]
            row_bytes = raw[r].tobytes()
            values, oracle = oracle_dequantize(name, row_bytes)
            cases.append({"type": name, "name": f"{model} {tensor} row {r}", "n": int(values.size),
                          "bytes": row_bytes.hex(), "values": hexf32(values), "oracle": oracle,
                          "model": model, "model_sha256": hashes[model], "tensor": tensor,
                          "row": r, "file_offset": int(t.data_offset) + r * raw.shape[1]})
    return cases


# ---------------------------------------------------------------- quantizer inputs

def quantize_inputs():
    rng = np.random.default_rng([SEED, 2])
    i = np.arange(256, dtype=np.float32)
    signal = (0.1 + 2.0 * np.cos(i)).astype(np.float32)  # ggml's test-quantize-fns signal
    tail = rng.standard_t(3, 256) * 0.05
    spike = np.zeros(32)
    spike[5] = 3.0
    ties = rng.integers(-254, 255, 32) / 2.0  # x.5 values with d = 1: roundf's ties
    ties[0] = 127.0
    big = rng.standard_normal(32) * 1000.0
    big[7] = 1.0e5
    edge = np.concatenate([
        np.zeros(32), np.full(32, 0.75), spike, rng.uniform(0.1, 1.0, 32),
        rng.uniform(-1.0, -0.1, 32), rng.standard_normal(32) * 1e-6, ties, big])
    mixed = np.concatenate([signal, rng.standard_normal(256) * 0.02, tail, edge])
    gauss = rng.standard_normal(1024) * 0.05

    floats = rng.standard_normal(64) * 100.0
    floats[:16] = [np.inf, -np.inf, -0.0, 65504.0, 65519.99, 65520.0, 1e-8, 2.0 ** -25,
                   3.0 * 2.0 ** -25, 1.0 + 2.0 ** -11, 1.0 + 3.0 * 2.0 ** -11,
                   np.float32(3.4e38), -1e-40, 1e-45, 5.960464477539063e-08, 0.1]
    floats = floats.astype(np.float32)
    bits = floats.view(np.uint32).copy()
    bits[16:20] = [0x3F808000, 0x3F818000, 0x3F808001, 0xBF7FFFFF]  # bf16 ties and carries
    floats = bits.view(np.float32)
    nan_bits = bits.copy()
    nan_bits[20:24] = [0x7FC00000, 0x7F800001, 0xFFC00001, 0x7FBFFFFF]
    return {"mixed": mixed.astype(np.float32), "gauss": gauss.astype(np.float32),
            "floats": floats, "floats_nan": nan_bits.view(np.float32)}


def gguf_py_quantize_cases(inputs):
    plan = [("F16", "mixed"), ("F16", "floats"), ("BF16", "mixed"), ("BF16", "floats"),
            ("BF16", "floats_nan")]
    plan += [(t, inp) for t in ["Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0"] for inp in ["mixed", "gauss"]]
    cases = []
    for name, inp in plan:
        with np.errstate(over="ignore"):  # 65520 and 3.4e38 overflow f16 on purpose
            out = quantize(inputs[inp], T[name])
        cases.append({"type": name, "input": inp, "bytes": np.asarray(out).view(np.uint8).tobytes().hex()})
    return cases


# ---------------------------------------------------------------- ggml's C reference

class Ggml:
    def __init__(self, path):
        self.path = os.path.realpath(path)
        self.lib = ctypes.CDLL(self.path)
        self.lib.ggml_version.restype = ctypes.c_char_p

    def version(self):
        return self.lib.ggml_version().decode()

    def _call(self, fn, src, n_out_bytes, n):
        out = ctypes.create_string_buffer(n_out_bytes)  # zeroed
        f = getattr(self.lib, fn)
        f.restype = None
        f.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64]
        f(src.ctypes.data, ctypes.addressof(out), n)
        return out.raw

    def quantize(self, name, x):
        x = np.ascontiguousarray(x, dtype=np.float32)
        bs, ts = block_size(name)
        fn = {"F16": "ggml_fp32_to_fp16_row", "BF16": "ggml_fp32_to_bf16_row_ref"}.get(
            name, f"quantize_row_{name.lower().replace('_k', '_K')}_ref")
        return self._call(fn, x, x.size // bs * ts, x.size)

    def dequantize(self, name, data):
        bs, ts = block_size(name)
        n = len(data) // ts * bs
        src = np.frombuffer(data, dtype=np.uint8).copy()
        fn = f"dequantize_row_{name.lower().replace('_k', '_K')}"
        return np.frombuffer(self._call(fn, src, 4 * n, n), dtype="<f4")


def ggml_quantize_cases(ggml, inputs):
    plan = [("F16", inp) for inp in ["mixed", "floats", "floats_nan"]]
    plan += [("BF16", inp) for inp in ["mixed", "floats", "floats_nan"]]
    plan += [(t, inp) for t in QUANT_TYPES for inp in ["mixed", "gauss"]]
    return [{"type": name, "input": inp, "bytes": ggml.quantize(name, inputs[inp]).hex()}
            for name, inp in plan]


def cross_check(ggml, cases):
    """Prints whether ggml's dequantize_row_* agrees bit for bit with the fixture values."""
    for c in cases:
        if c["type"] in FLOAT_TYPES or c["type"] == "Q8_1":  # ggml has no Q8_1 decoder
            continue
        got = ggml.dequantize(c["type"], bytes.fromhex(c["bytes"])).tobytes().hex()
        status = "agrees" if got == c["values"] else "DIFFERS"
        print(f"  ggml dequantize_row {status}: {c['name']}")


def write(name, obj):
    path = os.path.join(OUT_DIR, name)
    with open(path, "w") as f:
        json.dump(obj, f, indent=1)
        f.write("\n")
    print(f"wrote {path} ({os.path.getsize(path)} bytes)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", required=True, help="directory holding the two test models")
    ap.add_argument("--ggml-lib", help="libggml-base.so of a llama.cpp build")
    args = ap.parse_args()
    command = "python3 tools/quant_oracle.py " + shlex.join(sys.argv[1:])
    os.makedirs(OUT_DIR, exist_ok=True)

    blocks = random_blocks_cases()
    rows = model_rows_cases(args.models)
    inputs = quantize_inputs()
    hex_inputs = {k: v.astype("<f4").tobytes().hex() for k, v in inputs.items()}
    write("random_blocks.json", {"provenance": provenance(command), "cases": blocks})
    write("model_rows.json", {"provenance": provenance(command), "cases": rows})
    write("gguf_py_quantize.json", {"provenance": provenance(command), "inputs": hex_inputs,
                                    "cases": gguf_py_quantize_cases(inputs)})
    if args.ggml_lib:
        ggml = Ggml(args.ggml_lib)
        extra = {"ggml_lib_sha256": sha256(ggml.path), "ggml_version": ggml.version(),
                 "machine": platform.machine()}
        write("ggml_quantize.json", {"provenance": provenance(command, **extra),
                                     "inputs": hex_inputs, "cases": ggml_quantize_cases(ggml, inputs)})
        print("cross-check of the dequantize fixtures against ggml:")
        cross_check(ggml, blocks + rows)


if __name__ == "__main__":
    main()
