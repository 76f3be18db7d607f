#!/usr/bin/env python3
"""Make the tokenization goldens kiln's tokenizer must match: llama.cpp's `llama-tokenize`
run on every piece of tests/fixtures/tokenizer/corpus/ for both real test models.

Nothing here comes from kiln. For each model, piece and parse-special mode the script runs

    llama-tokenize -m MODEL -f PIECE --no-escape --log-disable --ids [--no-parse-special]

and once more without --ids to get each token's piece (`common_token_to_piece(…, special =
true)`, printed as `%6d -> '%s'`). How llama-tokenize reads its input (tools/tokenize/
tokenize.cpp in the llama.cpp of llama-cpp-python 0.3.36): `-f` reads the file verbatim, a
trailing newline included; escapes (`\\n`) would be processed unless `--no-escape` is given;
BOS/EOS are added exactly when the model's `tokenizer.ggml.add_bos_token` is true
(add_special = add_bos); special-token text is parsed unless `--no-parse-special`. The Rust
test mirrors that: encode(file bytes, add_special = add_bos(), parse_special).

The special ids llama.cpp settles on (BOS, EOS, EOT, the end-of-generation set) are read from
its verbose load log (`print_info: … token = ID '…'`).

Command (from the repository root; needs the models, see tools/fetch-models.sh):

    ../shared/tools/llamacpp.sh cpu        # builds llama-tokenize if missing
    python3 -m pip install gguf            # writes the pre-tokenizer variants below
    python3 tools/make_tokenizer_goldens.py --models models \\
        --llama-tokenize ~/.cache/kiln-anchors/llama.cpp/build-cpu/bin/llama-tokenize

Writes tests/fixtures/tokenizer/<model file stem>.json:

    {"provenance": {...}, "model": file name, "model_sha256": ...,
     "llama_cpp": {"bos", "eos", "eot", "eog": [...], "add_bos"},
     "cases": [{"piece": name, "text": the piece, "parse_special": bool, "ids": [...],
                "roundtrip": bool}],
     "token_bytes": {id: lowercase hex of the token's piece}}

`roundtrip` says whether llama.cpp's pieces (after a leading BOS it added) concatenate back to
the input bytes exactly. llama-tokenize prints pieces with printf("%s"), which stops at a NUL
byte: token_bytes are therefore the piece up to its first NUL (the test cuts kiln's the same
way), and `roundtrip` is null for input that contains NUL.

Also writes tests/fixtures/tokenizer/smollm2-pre-<name>.json for the pre-tokenizers no test
model uses (llama-bpe, qwen2, default, gpt-2): SmolLM2's metadata with tokenizer.ggml.pre
replaced, in a tensor-less GGUF that llama-tokenize loads as a vocabulary (`cases` only).
The Rust test builds the same variant with kiln's GgufWriter.
"""
import argparse
import datetime
import hashlib
import json
import os
import re
import subprocess
import sys

MODELS = ["SmolLM2-135M-Instruct.Q4_1.gguf", "gemma-3-270m-q4_k_m.gguf"]
# Pre-tokenizers no real test model uses: SmolLM2's vocabulary and merges with
# tokenizer.ggml.pre replaced, so llama.cpp's other word splitters get goldens too.
PRE_VARIANTS = ["llama-bpe", "qwen2", "default", "gpt-2"]
CORPUS = "tests/fixtures/tokenizer/corpus"
OUT_DIR = "tests/fixtures/tokenizer"
LLAMA_CPP_SOURCE = "llama.cpp vendored in the PyPI sdist llama-cpp-python==0.3.36"


def run(cmd):
    res = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
    if res.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({res.returncode}): {res.stderr.decode(errors='replace')[-2000:]}")
    return res.stdout, res.stderr


def parse_ids(out):
    text = out.decode("utf-8").strip()
    if not (text.startswith("[") and text.endswith("]")):
        sys.exit(f"unexpected --ids output: {text[:200]!r}")
    body = text[1:-1].strip()
    return [int(x) for x in body.split(",")] if body else []


def parse_pieces(out, ids):
    """Splits `%6d -> '%s'\\n` records, knowing the ids (pieces may contain newlines and quotes)."""
    pieces, pos = [], 0
    for i, tid in enumerate(ids):
        head = b"%6d -> '" % tid
        if not out.startswith(head, pos):
            sys.exit(f"piece record {i} does not start with {head!r}: {out[pos:pos + 40]!r}")
        start = pos + len(head)
        if i + 1 < len(ids):
            end = out.find(b"'\n" + (b"%6d -> '" % ids[i + 1]), start)
        else:
            end = len(out) - 2
            if not out.endswith(b"'\n"):
                sys.exit("last piece record does not end with '\\n")
        if end < start:
            sys.exit(f"cannot find the end of piece record {i}")
        pieces.append(out[start:end])
        pos = end + 2
    return pieces


def specials_from_log(tool, model):
    _, err = run([tool, "-m", model, "-p", "x", "-v"])
    log = err.decode("utf-8", errors="replace")
    found = {"eog": []}
    for role, tid in re.findall(r"print_info: (BOS|EOS|EOT|EOG) token\s+= (\d+) ", log):
        if role == "EOG":
            found["eog"].append(int(tid))
        else:
            found[role.lower()] = int(tid)
    return found


def dumps(out):
    """JSON with one case and one token per line: diffs stay readable."""
    lines = ["{"]
    for key in ("provenance", "model", "model_sha256", "pre", "llama_cpp"):
        if key in out:
            lines.append(f" {json.dumps(key)}: {json.dumps(out[key], ensure_ascii=False)},")
    lines.append(' "cases": [')
    lines.append(",\n".join("  " + json.dumps(c) for c in out["cases"]))
    if "token_bytes" in out:
        lines.append(" ],")
        lines.append(' "token_bytes": {')
        lines.append(",\n".join(f"  {json.dumps(k)}: {json.dumps(v)}" for k, v in out["token_bytes"].items()))
        lines.append(" }")
    else:
        lines.append(" ]")
    lines.append("}")
    return "\n".join(lines) + "\n"


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_variant(src, dst, pre):
    """Copies every metadata key of `src` (no tensors) with tokenizer.ggml.pre set to `pre`."""
    import gguf

    reader = gguf.GGUFReader(src)
    writer = gguf.GGUFWriter(dst, reader.fields["general.architecture"].contents())
    for name, field in reader.fields.items():
        if name.startswith("GGUF.") or name == "general.architecture":
            continue
        value = pre if name == "tokenizer.ggml.pre" else field.contents()
        vtype = field.types[0]
        sub = field.types[-1] if vtype == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(name, value, vtype, sub_type=sub)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.close()


def variants(tool, models_dir, names, version):
    import tempfile

    src = os.path.join(models_dir, MODELS[0])
    for pre in PRE_VARIANTS:
        with tempfile.TemporaryDirectory() as tmp:
            model = os.path.join(tmp, "variant.gguf")
            write_variant(src, model, pre)
            cases = []
            for name in names:
                path = os.path.join(CORPUS, name + ".txt")
                ids = parse_ids(run([tool, "-m", model, "-f", path, "--no-escape", "--log-disable", "--ids"])[0])
                cases.append({"piece": name, "text": open(path, "rb").read().decode("utf-8"),
                              "parse_special": True, "ids": ids, "roundtrip": None})
        out = {
            "provenance": {
                "tool": "llama-tokenize (" + "; ".join(version) + ")",
                "llama_cpp": LLAMA_CPP_SOURCE,
                "variant": f"every metadata key of models/{MODELS[0]}, tokenizer.ggml.pre = {pre!r}, "
                           "no tensors (written by gguf-py's GGUFWriter; llama-tokenize loads the vocabulary only)",
                "commands": [f"llama-tokenize -m VARIANT -f {CORPUS}/PIECE.txt --no-escape --log-disable --ids"],
                "script": "tools/make_tokenizer_goldens.py",
                "date": datetime.date.today().isoformat(),
            },
            "model": MODELS[0],
            "model_sha256": sha256(src),
            "pre": pre,
            "cases": cases,
        }
        dest = os.path.join(OUT_DIR, f"smollm2-pre-{pre}.json")
        with open(dest, "w", encoding="utf-8") as f:
            f.write(dumps(out))
        print(f"wrote {dest}: {len(cases)} cases")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="models")
    ap.add_argument("--llama-tokenize", default=os.path.expanduser(
        "~/.cache/kiln-anchors/llama.cpp/build-cpu/bin/llama-tokenize"))
    args = ap.parse_args()
    tool = args.llama_tokenize
    version = run([tool, "--version"])[1].decode().strip().splitlines()
    names = sorted(f[:-4] for f in os.listdir(CORPUS) if f.endswith(".txt"))
    variants(tool, args.models, names, version)
    for model_file in MODELS:
        model = os.path.join(args.models, model_file)
        cases, token_bytes = [], {}
        base = [tool, "-m", model, "-f", "PIECE", "--no-escape", "--log-disable"]
        shown = ["llama-tokenize", "-m", f"models/{model_file}", "-f", f"{CORPUS}/PIECE.txt",
                 "--no-escape", "--log-disable"]
        empty = os.path.join(CORPUS, "15-empty.txt")
        adds_bos = parse_ids(run([empty if a == "PIECE" else a for a in base] + ["--ids"])[0]) != []
        for name in names:
            path = os.path.join(CORPUS, name + ".txt")
            data = open(path, "rb").read()
            for parse_special in (True, False):
                flags = [] if parse_special else ["--no-parse-special"]
                cmd = [path if a == "PIECE" else a for a in base] + flags
                ids = parse_ids(run(cmd + ["--ids"])[0])
                pieces = parse_pieces(run(cmd)[0], ids)
                for tid, p in zip(ids, pieces):
                    token_bytes[str(tid)] = p.hex()
                joined = b"".join(pieces[1:] if adds_bos else pieces)
                # printf stops at NUL, so a piece holding one is shown cut short: no verdict.
                roundtrip = None if b"\0" in data else joined == data
                cases.append({"piece": name, "text": data.decode("utf-8"), "parse_special": parse_special,
                              "ids": ids, "roundtrip": roundtrip})
        out = {
            "provenance": {
                "tool": "llama-tokenize (" + "; ".join(version) + ")",
                "llama_cpp": LLAMA_CPP_SOURCE,
                "commands": [" ".join(shown + ["--ids"]), " ".join(shown + ["--ids", "--no-parse-special"]),
                             "the same two without --ids, for token_bytes",
                             f"llama-tokenize -m models/{model_file} -p x -v (load log, for llama_cpp)"],
                "script": "tools/make_tokenizer_goldens.py",
                "date": datetime.date.today().isoformat(),
            },
            "model": model_file,
            "model_sha256": sha256(model),
            "llama_cpp": dict(specials_from_log(tool, model), add_bos=adds_bos),
            "cases": cases,
            "token_bytes": dict(sorted(token_bytes.items(), key=lambda kv: int(kv[0]))),
        }
        dest = os.path.join(OUT_DIR, model_file.rsplit(".gguf", 1)[0] + ".json")
        with open(dest, "w", encoding="utf-8") as f:
            f.write(dumps(out))
        print(f"wrote {dest}: {len(cases)} cases, {len(token_bytes)} distinct tokens")


if __name__ == "__main__":
    main()
