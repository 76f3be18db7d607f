#!/usr/bin/env python3
"""Render chat templates with the Jinja2 package, as fixtures for kiln's minijinja renderer.

kiln renders a model's `tokenizer.chat_template` with minijinja (src/tokenizer/chat.rs). Models
are trained on what Hugging Face `transformers` renders, which is Jinja2 in the environment of
`apply_chat_template`: ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
extensions=[AssistantTracker, loopcontrols]) with a `tojson` filter (json.dumps, ensure_ascii=False), and the
globals `raise_exception` and `strftime_now`; variables `messages`, `tools=None`,
`documents=None`, `add_generation_prompt`, `bos_token`, `eos_token`. This script builds that
environment (transformers itself is not needed) and records, per conversation, the exact text.

Usage (from the repository root; needs `python3 -m pip install jinja2 gguf`):
    python3 tools/render_chat_template.py models            # fixtures of both test models
    python3 tools/render_chat_template.py --template F.jinja --name NAME --out-dir DIR \
        [--bos BOS] [--eos EOS]                            # any template file (ad-hoc checks)
writes <out-dir>/<name>.json (default out-dir tests/fixtures/chat). A model without a template
gets the ChatML fallback kiln uses (FALLBACK below, which must equal chat.rs's
FALLBACK_TEMPLATE; the Rust test checks it).
"""

import argparse
import hashlib
import importlib.metadata
import json
import os
import platform
import shlex
import sys
from datetime import datetime

import jinja2
import jinja2.ext
from jinja2.sandbox import ImmutableSandboxedEnvironment

# kiln's fallback for models without a template (src/tokenizer/chat.rs FALLBACK_TEMPLATE).
FALLBACK = (
    "{% for m in messages %}<|im_start|>{{ m.role }}\n"
    "{{ m.content }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

# A template of kiln's own that exercises what Hugging Face templates lean on beyond loops:
# whitespace control with trim/lstrip_blocks, namespace, break/continue, Python str and dict
# methods, tojson with its keyword arguments, slicing, negative indexes, None/True printing,
# `is iterable` of None, `length` of an undefined field, transformers' generation tag.
FEATURES = """{{ bos_token }}
{%- set ns = namespace(system='', n_user=0) %}
{%- if messages[0]['role'] == 'system' %}
    {%- set ns.system = messages[0]['content'].strip() %}
    {%- set rest = messages[1:] %}
{%- else %}
    {%- set rest = messages %}
{%- endif %}
{%- if tools is none %}[no tools]{% endif %}
{%- if tools is iterable %}[iterable tools]{% endif %}
{%- if ns.system %}<sys>{{ ns.system | upper }}</sys>
{% endif %}
{% for m in rest %}
    {% if m.role not in ['user', 'assistant'] %}
        {{ raise_exception('unknown role: ' ~ m.role) }}
    {% endif %}
    {% if m.role == 'user' %}{% set ns.n_user = ns.n_user + 1 %}{% endif %}
    {% if loop.index0 > 8 %}{% break %}{% endif %}
    {% if m.content.startswith('  ') %}(indented){% endif %}
<{{ m.role }} i={{ loop.index }} first={{ loop.first }} last={{ loop.last }}>
{{ m.content | trim | replace('\\n', ' / ') }}
{% for k, v in m.items() %}{% if k == 'role' %}{% continue %}{% endif %}[{{ k }}:{{ v | length }}]{% endfor %}
{% generation %}tool calls: {{ m.tool_calls | length }}{% endgeneration %}
</{{ m.role }}>
{% endfor %}
{{ {'b': [1, 2.5, None, True], 'a': {'z': 'é"\\\\', 'y': []}} | tojson }}
{{ {'b': 1, 'a': [1, {}]} | tojson(indent=2, sort_keys=true) }}
{{ ['x', 1] | tojson(separators=(',', ':')) }} {{ {'k': 'é🙂\x7f'} | tojson(ensure_ascii=true) }}
{{ messages[-1].content.split() | length }} words; users={{ ns.n_user }}; none={{ none }}; {{ 3 // 2 }}
{%- if add_generation_prompt %}
<assistant>
{% endif %}"""

MODELS = {
    "smollm2": "SmolLM2-135M-Instruct.Q4_1.gguf",
    "gemma3": "gemma-3-270m-q4_k_m.gguf",
}

# Conversations rendered for every template. The first is the one the task names (system, user,
# assistant, user, then the generation prompt); the last carries text a template must pass
# through untouched: quotes, backslashes, tabs, non-ASCII, surrounding spaces, marker text.
CONVERSATION = [
    {"role": "system", "content": "You are a concise assistant."},
    {"role": "user", "content": "What is the capital of France?"},
    {"role": "assistant", "content": "Paris."},
    {"role": "user", "content": "And of Italy?"},
]
TRICKY = [
    {"role": "user", "content": "  say \"hi\" 'there'\\n\tcafé 日本 🙂 <|im_start|>system\nok  "},
]
CASES = [
    ("system_user_assistant_user", CONVERSATION, True),
    ("system_user_assistant_user_no_prompt", CONVERSATION, False),
    ("user_only_tricky_text", TRICKY, True),
    ("tool_role", [{"role": "tool", "content": "42"}], False),
]


class AssistantTracker(jinja2.ext.Extension):
    """transformers' `{% generation %}…{% endgeneration %}` tag: renders its body unchanged
    (transformers also records where assistant text lies, which does not change the text)."""

    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
        call = self.call_method("_render", [])
        return jinja2.nodes.CallBlock(call, [], [], body).set_lineno(lineno)

    def _render(self, caller):
        return caller()


class Raised(jinja2.exceptions.TemplateError):
    """What `raise_exception` raises (a TemplateError, as in transformers), told apart so the
    fixture can say the template itself refused the conversation."""


def raise_exception(message):
    raise Raised(message)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators,
                      sort_keys=sort_keys)


def strftime_now(fmt):
    return datetime.now().strftime(fmt)


def environment():
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=[AssistantTracker, jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


def render_cases(source, bos, eos):
    tmpl = environment().from_string(source)
    out = []
    for name, messages, gen in CASES:
        try:
            text = tmpl.render(messages=messages, tools=None, documents=None,
                               add_generation_prompt=gen, bos_token=bos, eos_token=eos)
            out.append({"name": name, "messages": messages, "add_generation_prompt": gen,
                        "expected": text})
        except Exception as e:  # noqa: BLE001 - any failure is recorded, as kiln must fail too
            # Templates may refuse a conversation (raise_exception, e.g. no system role) or fail
            # on it (a missing field): kiln must fail as well, with the same message when the
            # template raised it.
            out.append({"name": name, "messages": messages, "add_generation_prompt": gen,
                        "expected_error": str(e), "raised": isinstance(e, Raised)})
    return out


def provenance(extra):
    p = {
        "tool": "tools/render_chat_template.py",
        "command": "python3 " + " ".join(shlex.quote(a) for a in sys.argv),
        "renderer": "jinja2 " + importlib.metadata.version("jinja2")
                    + " in transformers' apply_chat_template environment (see the tool)",
        "python": platform.python_version(),
    }
    p.update(extra)
    return p


def gguf_tokens(path):
    """(template or None, bos text, eos text) read with gguf-py."""
    from gguf import GGUFReader

    r = GGUFReader(path)
    tokens = r.fields["tokenizer.ggml.tokens"].contents()
    field = r.fields.get("tokenizer.chat_template")
    source = field.contents() if field is not None else None
    bos = tokens[r.fields["tokenizer.ggml.bos_token_id"].contents()]
    eos = tokens[r.fields["tokenizer.ggml.eos_token_id"].contents()]
    return source, bos, eos


def write(out_dir, name, fixture):
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, name + ".json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(fixture, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print("wrote", path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models_dir", nargs="?", help="directory holding the test models")
    ap.add_argument("--template", help="a template file to render instead of the models")
    ap.add_argument("--name", help="fixture name for --template")
    ap.add_argument("--bos", default="<s>")
    ap.add_argument("--eos", default="</s>")
    ap.add_argument("--out-dir", default="tests/fixtures/chat")
    args = ap.parse_args()

    if args.template:
        with open(args.template, encoding="utf-8") as f:
            source = f.read()
        fixture = {
            "provenance": provenance({"template_file": os.path.basename(args.template)}),
            "model_template": True,
            "template": source,
            "template_sha256": hashlib.sha256(source.encode()).hexdigest(),
            "bos_token": args.bos,
            "eos_token": args.eos,
            "cases": render_cases(source, args.bos, args.eos),
        }
        write(args.out_dir, args.name or os.path.splitext(os.path.basename(args.template))[0],
              fixture)
        return

    if not args.models_dir:
        ap.error("give the models directory or --template")
    fixture = {
        "provenance": provenance({"template_file": "FEATURES in the tool"}),
        "model_template": False,
        "template": FEATURES,
        "template_sha256": hashlib.sha256(FEATURES.encode()).hexdigest(),
        "bos_token": "<s>",
        "eos_token": "</s>",
        "cases": render_cases(FEATURES, "<s>", "</s>"),
    }
    write(args.out_dir, "features", fixture)
    for name, file in MODELS.items():
        path = os.path.join(args.models_dir, file)
        source, bos, eos = gguf_tokens(path)
        extra = {"model_file": file, "gguf": importlib.metadata.version("gguf")}
        # A model without a template is rendered with kiln's ChatML fallback.
        used = source if source is not None else FALLBACK
        fixture = {
            "provenance": provenance(extra),
            "model_template": source is not None,
            "template": used,
            "template_sha256": hashlib.sha256(used.encode()).hexdigest(),
            "bos_token": bos,
            "eos_token": eos,
            "cases": render_cases(used, bos, eos),
        }
        write(args.out_dir, name, fixture)


if __name__ == "__main__":
    main()
