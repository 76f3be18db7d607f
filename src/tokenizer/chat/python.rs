//! What Jinja2 in `transformers`' chat environment offers and plain minijinja lacks or does
//! differently, installed into the chat sandbox: Python printing of `None`/`True`/`False`,
//! `raise_exception`, `strftime_now`, a `json.dumps`-exact `tojson`, Jinja2's `length` of an
//! undefined value (0), Python's `is iterable` (false for none), Python str/dict methods
//! (minijinja-contrib's pycompat), and the `{% generation %}` tag.
//!
//! Invariant: each item here exists because a real template rendered differently without it
//! (found by comparing the llama.cpp template corpus with Jinja2; see chat/tests.rs).

use minijinja::value::{Kwargs, Value, ValueKind};
use minijinja::{Environment, Error, ErrorKind, State};

use super::{pyjson, strftime};

pub(super) fn install(env: &mut Environment<'static>) {
    env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
    env.set_formatter(python_formatter);
    env.add_function("raise_exception", raise_exception);
    env.add_function("strftime_now", |fmt: &str| strftime::strftime_now(fmt));
    env.add_filter("tojson", tojson);
    env.add_filter("length", python_len);
    env.add_filter("count", python_len);
    env.add_test("iterable", |v: &Value| {
        v.kind() != ValueKind::None && (v.is_undefined() || v.try_iter().is_ok())
    });
}

/// Jinja2's `length`: an undefined value has length 0 (templates test optional fields such as
/// `message['tool_calls'] | length`); everything else as minijinja measures it.
fn python_len(v: &Value) -> Result<usize, Error> {
    if v.is_undefined() { Ok(0) } else { minijinja::filters::length(v) }
}

/// Rewrites transformers' `{% generation %}…{% endgeneration %}` (which marks assistant text
/// and renders its body unchanged) as `{% if true %}…{% endif %}`, keeping the whitespace-control
/// markers and the line numbers (minijinja has no such tag); raw blocks are left alone.
pub(super) fn without_generation_tags(source: &str) -> String {
    let mut out = String::with_capacity(source.len());
    let mut rest = source;
    while let Some(at) = rest.find("{%") {
        let (before, tag) = rest.split_at(at);
        out.push_str(before);
        let body = tag[2..].trim_start_matches(['-', '+']);
        let inner = body.trim_start();
        let word_len =
            inner.find(|c: char| !c.is_ascii_alphanumeric() && c != '_').unwrap_or(inner.len());
        let replacement = match &inner[..word_len] {
            "generation" => "if true",
            "endgeneration" => "endif",
            // A raw block is copied as is, up to the end of its `endraw` tag.
            "raw" => {
                let end = tag
                    .find("endraw")
                    .and_then(|e| tag[e..].find("%}").map(|c| e + c + 2))
                    .unwrap_or(tag.len());
                out.push_str(&tag[..end]);
                rest = &tag[end..];
                continue;
            }
            _ => {
                out.push_str("{%");
                rest = &tag[2..];
                continue;
            }
        };
        let head = tag.len() - inner.len();
        out.push_str(&tag[..head]);
        out.push_str(replacement);
        rest = &inner[word_len..];
    }
    out.push_str(rest);
    out
}

/// Prints `None`, `True` and `False` as Jinja2 (Python) does; everything else as minijinja does.
fn python_formatter(
    out: &mut minijinja::Output,
    state: &mut State,
    value: &Value,
) -> Result<(), Error> {
    let word = match value.kind() {
        ValueKind::None => "None",
        ValueKind::Bool if value.is_true() => "True",
        ValueKind::Bool => "False",
        _ => return minijinja::escape_formatter(out, state, value),
    };
    out.write_str(word).map_err(|_| Error::from(ErrorKind::WriteFailure))
}

/// Marks an error raised by the template itself, so its message is shown as is.
#[derive(Debug)]
struct Raised;

impl std::fmt::Display for Raised {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("raised by the template")
    }
}

impl std::error::Error for Raised {}

fn raise_exception(message: String) -> Result<Value, Error> {
    Err(Error::new(ErrorKind::InvalidOperation, message).with_source(Raised))
}

/// `value | tojson(indent=…, separators=…, sort_keys=…)` with `json.dumps` output.
fn tojson(value: &Value, kwargs: Kwargs) -> Result<String, Error> {
    let indent: Option<Value> = kwargs.get("indent")?;
    let separators: Option<Vec<String>> = kwargs.get("separators")?;
    let sort_keys: Option<bool> = kwargs.get("sort_keys")?;
    let ensure_ascii: Option<bool> = kwargs.get("ensure_ascii")?;
    kwargs.assert_all_used()?;
    let (sort_keys, ensure_ascii) = (sort_keys == Some(true), ensure_ascii == Some(true));
    pyjson::to_python_json(value, indent.as_ref(), separators, sort_keys, ensure_ascii)
}

/// True when `e` came from the template's own `raise_exception`.
pub(super) fn is_raised(e: &Error) -> bool {
    std::error::Error::source(e).is_some_and(|s| s.is::<Raised>())
}
