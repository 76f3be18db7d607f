//! The `tojson` filter of chat templates, printing exactly what Python's
//! `json.dumps(x, ensure_ascii=False, indent=…, separators=…, sort_keys=…)` prints — the filter
//! `transformers` installs — so tool schemas and arguments reach the model byte for byte as in
//! training. (minijinja's own `tojson` is compact and HTML-escapes `<`, `>`, `&` and `'`.)
//!
//! Invariant: output depends only on the value and the options; map order is insertion order
//! unless `sort_keys`; nesting deeper than [`MAX_DEPTH`] is an error, not a stack overflow.

use minijinja::value::{Value, ValueKind};
use minijinja::{Error, ErrorKind};

/// Deepest nesting `tojson` follows; template data is a few levels deep.
const MAX_DEPTH: usize = 128;

struct Style {
    /// `None`: one line. `Some(unit)`: newline and `unit` per level (Python's `indent`).
    indent: Option<String>,
    /// Python's `ensure_ascii`: escape everything outside printable ASCII as `\uXXXX`.
    ensure_ascii: bool,
    item_sep: String,
    key_sep: String,
    sort_keys: bool,
}

/// Serialises `value` as `json.dumps` would with these keyword arguments.
pub(super) fn to_python_json(
    value: &Value,
    indent: Option<&Value>,
    separators: Option<Vec<String>>,
    sort_keys: bool,
    ensure_ascii: bool,
) -> Result<String, Error> {
    let indent = match indent {
        None => None,
        Some(v) if v.is_none() || v.is_undefined() => None,
        // Python repeats a space `indent` times; a negative count gives no indentation.
        Some(v) if v.is_integer() => {
            Some(" ".repeat(v.as_i64().unwrap_or(0).clamp(0, 64) as usize))
        }
        Some(v) => match v.as_str() {
            Some(s) => Some(s.to_owned()),
            None => return Err(invalid("tojson: indent must be an integer or a string")),
        },
    };
    let (item_sep, key_sep) = match separators.as_deref() {
        None if indent.is_some() => (",".to_owned(), ": ".to_owned()),
        None => (", ".to_owned(), ": ".to_owned()),
        Some([item, key]) => (item.clone(), key.clone()),
        Some(_) => return Err(invalid("tojson: separators must be two strings")),
    };
    let style = Style { indent, ensure_ascii, item_sep, key_sep, sort_keys };
    let mut out = String::new();
    write_value(&mut out, value, 0, &style)?;
    Ok(out)
}

fn write_value(out: &mut String, v: &Value, depth: usize, style: &Style) -> Result<(), Error> {
    if depth > MAX_DEPTH {
        return Err(invalid("tojson: value nested too deeply"));
    }
    match v.kind() {
        ValueKind::None => out.push_str("null"),
        ValueKind::Bool => out.push_str(if v.is_true() { "true" } else { "false" }),
        ValueKind::Number if v.is_integer() => out.push_str(&v.to_string()),
        ValueKind::Number => out.push_str(&python_float(f64::try_from(v.clone())?)),
        ValueKind::String => write_string(out, v.as_str().unwrap_or_default(), style),
        ValueKind::Seq | ValueKind::Iterable => {
            let items: Vec<Value> = v.try_iter()?.collect();
            write_container(out, ('[', ']'), items.len(), depth, style, |out, i| {
                write_value(out, &items[i], depth + 1, style)
            })?;
        }
        ValueKind::Map => {
            let mut entries: Vec<(String, Value)> = Vec::new();
            for key in v.try_iter()? {
                let item = v.get_item(&key)?;
                entries.push((key_text(&key)?, item));
            }
            if style.sort_keys {
                entries.sort_by(|a, b| a.0.cmp(&b.0));
            }
            write_container(out, ('{', '}'), entries.len(), depth, style, |out, i| {
                write_string(out, &entries[i].0, style);
                out.push_str(&style.key_sep);
                write_value(out, &entries[i].1, depth + 1, style)
            })?;
        }
        kind => return Err(invalid(format!("tojson: a value of type {kind} is not JSON"))),
    }
    Ok(())
}

/// Writes `open`, the `n` items (separators and indentation as Python places them), `close`.
fn write_container(
    out: &mut String,
    (open, close): (char, char),
    n: usize,
    depth: usize,
    style: &Style,
    mut item: impl FnMut(&mut String, usize) -> Result<(), Error>,
) -> Result<(), Error> {
    out.push(open);
    for i in 0..n {
        if i > 0 {
            out.push_str(&style.item_sep);
        }
        newline(out, style, depth + 1);
        item(out, i)?;
    }
    if n > 0 {
        newline(out, style, depth);
    }
    out.push(close);
    Ok(())
}

fn newline(out: &mut String, style: &Style, level: usize) {
    if let Some(unit) = &style.indent {
        out.push('\n');
        for _ in 0..level {
            out.push_str(unit);
        }
    }
}

/// Python turns non-string keys into their JSON text (`1` → `"1"`, `None` → `"null"`).
fn key_text(key: &Value) -> Result<String, Error> {
    match key.kind() {
        ValueKind::String => Ok(key.as_str().unwrap_or_default().to_owned()),
        ValueKind::None => Ok("null".into()),
        ValueKind::Bool => Ok(if key.is_true() { "true" } else { "false" }.into()),
        ValueKind::Number if key.is_integer() => Ok(key.to_string()),
        ValueKind::Number => Ok(python_float(f64::try_from(key.clone())?)),
        kind => Err(invalid(format!("tojson: keys must be strings, not {kind}"))),
    }
}

/// JSON string as `json.dumps` writes it: `"`, `\` and control characters escaped, and with
/// `ensure_ascii` every character outside ' '..='~' as `\uXXXX` (UTF-16 surrogate pairs).
fn write_string(out: &mut String, s: &str, style: &Style) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || (style.ensure_ascii && !(' '..='~').contains(&c)) => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Python's `repr(float)`: shortest round-trip digits, `1.0` not `1`, exponent form
/// (`1e-05`, `1e+16`) below 1e-4 and from 1e16, and `NaN`/`Infinity` as json.dumps writes them.
fn python_float(x: f64) -> String {
    if x.is_nan() {
        return "NaN".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    let a = x.abs();
    if a != 0.0 && !(1e-4..1e16).contains(&a) {
        // Rust's `{:e}` gives the same shortest digits as `1.5e-7`; Python writes `1.5e-07`.
        let s = format!("{x:e}");
        let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
        let (sign, digits) = exp.strip_prefix('-').map_or(("+", exp), |d| ("-", d));
        return format!("{mantissa}e{sign}{digits:0>2}");
    }
    let s = format!("{x}");
    if s.contains('.') { s } else { format!("{s}.0") }
}

fn invalid(msg: impl Into<std::borrow::Cow<'static, str>>) -> Error {
    Error::new(ErrorKind::InvalidOperation, msg)
}

#[cfg(test)]
mod tests {
    use super::python_float;

    #[test]
    fn floats_print_like_python_repr() {
        let cases = [
            (1.0, "1.0"),
            (0.1, "0.1"),
            (-2.5, "-2.5"),
            (1e-5, "1e-05"),
            (1.5e-7, "1.5e-07"),
            (0.0001, "0.0001"),
            (1e16, "1e+16"),
            (123456789012345.0, "123456789012345.0"),
            (0.0, "0.0"),
        ];
        for (x, want) in cases {
            assert_eq!(python_float(x), want, "{x}");
        }
    }
}
