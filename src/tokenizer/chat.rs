//! Chat templates: renders a model's `tokenizer.chat_template` (a Hugging Face Jinja template
//! from GGUF metadata) into the prompt text, in a sandbox.
//!
//! May use: `error` and external crates (minijinja, minijinja-contrib). Children: `pyjson`
//! (`tojson`), `strftime` (`strftime_now`), `tests`. Invariant: a template is
//! untrusted input (reliability.md item 40) — it gets no file system or network (no loader is
//! installed, so `include`/`import` fail), a fuel budget of instructions ([`FUEL_BASE`] +
//! [`FUEL_PER_MESSAGE`] per message), at most [`RECURSION_LIMIT`]
//! levels and [`MAX_OUTPUT`] bytes; breaking any limit is an [`Error::Template`], never a hang.
//!
//! Fidelity: the environment copies what `transformers`' `apply_chat_template` sets up —
//! `trim_blocks` and `lstrip_blocks`, loop controls, `raise_exception`, `strftime_now`, a
//! `tojson` that prints like Python's `json.dumps(ensure_ascii=False)`, Python string and dict
//! methods (minijinja-contrib's pycompat), and `None`/`True`/`False` printed the Python way —
//! and the variables `messages`, `add_generation_prompt`, `bos_token`, `eos_token`, `tools` and
//! `documents` (both none). Tests compare with the Jinja2 package on real templates.
//!
//! The rendered text mixes template scaffolding with user text: tokenize the message contents
//! with special-token parsing off (reliability.md item 43): [`ChatTemplate::render_spans`] says
//! where they are.

mod pyjson;
mod python;
mod strftime;

pub use strftime::strftime_now;
#[cfg(test)]
mod tests;

use std::io::Write;

use std::ops::Range;

use minijinja::value::Value;
use minijinja::{Environment, ErrorKind};

use crate::error::{Error, Result};

/// Instructions a render may execute, plus [`FUEL_PER_MESSAGE`] per message: an endless loop
/// stops after about 0.4 s. Measured on the llama.cpp template corpus with 200 messages, real
/// templates use under 200 per message, except Gemma 4's, which grows with the square of the
/// conversation (14 M instructions for 2 000 messages, still within this budget).
pub const FUEL_BASE: u64 = 5_000_000;
/// Fuel added per message of the conversation.
pub const FUEL_PER_MESSAGE: u64 = 20_000;
/// Nesting depth for loops, conditionals and macro calls.
pub const RECURSION_LIMIT: usize = 100;
/// Largest prompt text a render may produce: far beyond any context window.
pub const MAX_OUTPUT: usize = 16 << 20;

/// ChatML, the default when a model ships no template (llama.cpp falls back to the same
/// format): `<|im_start|>{role}\n{content}<|im_end|>\n` per message, then
/// `<|im_start|>assistant\n` when a reply is wanted. Prefer the model's own template: a model
/// not trained on ChatML sees unknown markers.
pub const FALLBACK_TEMPLATE: &str = "{% for m in messages %}<|im_start|>{{ m.role }}\n\
{{ m.content }}<|im_end|>\n{% endfor %}\
{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";

/// One turn of a conversation (`role` is usually system, user or assistant).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub role: String,
    pub content: String,
}

impl Message {
    pub fn new(role: impl Into<String>, content: impl Into<String>) -> Self {
        Message { role: role.into(), content: content.into() }
    }

    /// `{"role": …, "content": content}`, keys in that order (templates may iterate them).
    fn to_value(&self, content: &str) -> Value {
        Value::from_pairs([("role", self.role.as_str()), ("content", content)])
    }
}

/// A parsed chat template with the model's BOS and EOS token texts.
pub struct ChatTemplate {
    env: Environment<'static>,
    bos: String,
    eos: String,
}

const NAME: &str = "chat_template";

impl ChatTemplate {
    /// Parses `source`; a syntax error becomes [`Error::Template`] naming the line.
    pub fn new(source: &str, bos: &str, eos: &str) -> Result<Self> {
        let mut env = sandbox();
        env.add_template_owned(NAME, python::without_generation_tags(source))
            .map_err(|e| template_error(&e, 0))?;
        Ok(ChatTemplate { env, bos: bos.to_owned(), eos: eos.to_owned() })
    }

    /// The ChatML [`FALLBACK_TEMPLATE`], for models whose GGUF has no `tokenizer.chat_template`.
    pub fn fallback(bos: &str, eos: &str) -> Self {
        Self::new(FALLBACK_TEMPLATE, bos, eos)
            .expect("invariant: the built-in fallback template parses (tested)")
    }

    /// Renders the conversation; with `add_generation_prompt` the text ends where the
    /// assistant's reply begins.
    pub fn render(&self, messages: &[Message], add_generation_prompt: bool) -> Result<String> {
        let values = messages.iter().map(|m| m.to_value(&m.content)).collect();
        self.render_values(values, messages.len(), add_generation_prompt)
    }

    /// Renders like [`render`](Self::render) and also says where each message's content lies in
    /// the text, so a caller can tokenize user text with special-token parsing off
    /// (reliability.md item 43: `<|im_start|>` typed by a user must stay plain text).
    ///
    /// Works by rendering a second time with a marker in place of each content and checking
    /// that putting the contents back gives the same text. Templates that change contents
    /// (trim, slice, split off reasoning…) fail that check: then `contents` is `None`.
    pub fn render_spans(
        &self,
        messages: &[Message],
        add_generation_prompt: bool,
    ) -> Result<RenderedChat> {
        let text = self.render(messages, add_generation_prompt)?;
        let contents = self.locate_contents(messages, add_generation_prompt, &text);
        Ok(RenderedChat { text, contents })
    }

    fn locate_contents(
        &self,
        messages: &[Message],
        add_generation_prompt: bool,
        text: &str,
    ) -> Option<Vec<(usize, Range<usize>)>> {
        // Markers use private-use characters that must appear nowhere else.
        if text.contains(MARK_OPEN) || messages.iter().any(|m| m.content.contains(MARK_OPEN)) {
            return None;
        }
        let values = (0..messages.len())
            .map(|i| messages[i].to_value(&format!("{MARK_OPEN}{i}{MARK_CLOSE}")))
            .collect();
        let marked = self.render_values(values, messages.len(), add_generation_prompt).ok()?;
        let mut rebuilt = String::with_capacity(text.len());
        let mut spans = Vec::new();
        let mut rest = marked.as_str();
        while let Some(at) = rest.find(MARK_OPEN) {
            rebuilt.push_str(&rest[..at]);
            let after = &rest[at + MARK_OPEN.len_utf8()..];
            let end = after.find(MARK_CLOSE)?;
            let i: usize = after[..end].parse().ok()?;
            let content = &messages.get(i)?.content;
            spans.push((i, rebuilt.len()..rebuilt.len() + content.len()));
            rebuilt.push_str(content);
            rest = &after[end + MARK_CLOSE.len_utf8()..];
        }
        rebuilt.push_str(rest);
        (rebuilt == text).then_some(spans)
    }

    fn render_values(
        &self,
        messages: Vec<Value>,
        n_messages: usize,
        add_generation_prompt: bool,
    ) -> Result<String> {
        let ctx = minijinja::context! {
            messages => Value::from(messages),
            add_generation_prompt => add_generation_prompt,
            bos_token => &self.bos,
            eos_token => &self.eos,
            tools => (),
            documents => (),
        };
        // Fuel is per render and grows with the conversation; cloning the environment shares
        // the parsed template (an Arc), so this costs a few small allocations.
        let fuel = fuel_for(n_messages);
        let mut env = self.env.clone();
        env.set_fuel(Some(fuel));
        let tmpl = env.get_template(NAME).map_err(|e| template_error(&e, fuel))?;
        let mut out = CappedWriter { buf: Vec::new(), overflowed: false };
        match tmpl.render_captured_to(ctx, &mut out) {
            Ok(_) => {}
            Err(_) if out.overflowed => {
                return Err(Error::Template(format!(
                    "the rendered prompt exceeds {MAX_OUTPUT} bytes"
                )));
            }
            Err(e) => return Err(template_error(&e, fuel)),
        }
        String::from_utf8(out.buf)
            .map_err(|_| Error::Template("the rendered prompt is not valid UTF-8".into()))
    }
}

/// A rendered conversation and where the message contents lie in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedChat {
    pub text: String,
    /// `(message index, byte range of its content in text)` for every place a content appears,
    /// in text order (a template may drop a message or repeat one). `None` when the template
    /// transforms contents, so their places are not known exactly.
    pub contents: Option<Vec<(usize, Range<usize>)>>,
}

/// Marker delimiters for [`ChatTemplate::render_spans`] (Unicode private-use characters).
const MARK_OPEN: char = '\u{F8FE}';
const MARK_CLOSE: char = '\u{F8FF}';

fn fuel_for(n_messages: usize) -> u64 {
    FUEL_BASE.saturating_add(FUEL_PER_MESSAGE.saturating_mul(n_messages as u64))
}

/// The environment every template runs in (see the module doc for what it offers and denies).
fn sandbox() -> Environment<'static> {
    let mut env = Environment::new();
    let syntax = minijinja::syntax::SyntaxConfig::builder()
        .trim_blocks(true)
        .lstrip_blocks(true)
        .build()
        .expect("invariant: the default delimiters are valid");
    env.set_syntax(syntax);
    env.set_recursion_limit(RECURSION_LIMIT);
    env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
    python::install(&mut env);
    env
}

/// Collects the rendered text and refuses to grow past [`MAX_OUTPUT`].
struct CappedWriter {
    buf: Vec<u8>,
    overflowed: bool,
}

impl Write for CappedWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        if self.buf.len() + data.len() > MAX_OUTPUT {
            self.overflowed = true;
            return Err(std::io::Error::other("chat template output limit"));
        }
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Turns a minijinja error into [`Error::Template`] with the line and a plain reason.
fn template_error(e: &minijinja::Error, fuel: u64) -> Error {
    let at = e.line().map(|l| format!(" (template line {l})")).unwrap_or_default();
    let raised = python::is_raised(e);
    let what = match (e.kind(), e.detail()) {
        _ if raised => format!("the template raised an error: {}", e.detail().unwrap_or("")),
        (ErrorKind::OutOfFuel, _) => {
            format!("rendering stopped after {fuel} instructions (an endless loop?)")
        }
        (kind, Some(detail)) => format!("{kind}: {detail}"),
        (kind, None) => kind.to_string(),
    };
    Error::Template(format!("{what}{at}"))
}
