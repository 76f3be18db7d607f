//! Tokenizers built from GGUF metadata: SentencePiece BPE (`tokenizer.ggml.model = llama`,
//! Gemma, Llama 2) and byte-level BPE (`gpt2`, SmolLM2, Llama 3, Qwen 2), with special tokens,
//! BOS/EOS handling, end-of-generation ids and streaming decoding.
//!
//! May use: `gguf`, `error`. Invariant: for the same GGUF and flags, `encode` returns the ids
//! llama.cpp's `llama_tokenize` returns (checked by tests/tokenizer_golden.rs against
//! llama-tokenize); nothing a file or an input string contains makes this module panic.
//!
//! Files: `vocab` (tokens, scores, types), `special` (BOS/EOS/EOG ids), `partition` (cutting
//! input at special-token text), `spm` and `bpe` (the two merge algorithms), `pretokenize` +
//! `scanners` (BPE word splitting), `unicode` + `categories` (character classes), `decode`
//! (ids to text).

mod bpe;
mod categories;
pub mod chat;
mod decode;
mod partition;
mod pretokenize;
mod scanners;
mod special;
mod spm;
mod unicode;
mod vocab;

use crate::error::Result;
use crate::gguf::GgufFile;
use bpe::Merges;
use partition::{Frag, SpecialText};
use special::{Role, Specials};
use vocab::{Vocab, attr, tok_err};

pub use decode::StreamDecoder;
use pretokenize::PreConfig;
pub use pretokenize::PreKind;

/// The merge algorithm and its data.
enum Model {
    Spm,
    Bpe { merges: Merges, pre: PreConfig },
}

/// A tokenizer: text to ids and back, with the model's special tokens.
pub struct Tokenizer {
    vocab: Vocab,
    model: Model,
    specials: Specials,
    special_text: SpecialText,
    /// `token_to_piece(id, special = true)` of every token (see `decode::piece`).
    pieces: Vec<Box<[u8]>>,
    add_bos: bool,
    add_eos: bool,
    add_space_prefix: bool,
}

impl std::fmt::Debug for Tokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokenizer")
            .field("model", &self.model_name())
            .field("vocab_size", &self.vocab_size())
            .field("bos", &self.bos())
            .field("eos", &self.eos())
            .field("eog", &self.specials.eog)
            .field("add_bos", &self.add_bos)
            .finish()
    }
}

/// An optional bool key: absent is `None`, present with another type is an error.
fn opt_bool(g: &GgufFile, key: &str) -> Result<Option<bool>> {
    g.get(key).map(|_| g.get_bool(key)).transpose()
}

impl Tokenizer {
    /// Builds the tokenizer a GGUF file describes, validating its metadata first.
    pub fn from_gguf(g: &GgufFile) -> Result<Tokenizer> {
        let name = match g.get("tokenizer.ggml.model") {
            None => return Err(tok_err("the file has no tokenizer (tokenizer.ggml.model)".into())),
            Some(_) => g.get_string_lossy("tokenizer.ggml.model")?.into_owned(),
        };
        let pre = match name.as_str() {
            "llama" => None,
            "gpt2" => {
                let pre_name = match g.get("tokenizer.ggml.pre") {
                    None => None,
                    Some(_) => Some(g.get_string_lossy("tokenizer.ggml.pre")?.into_owned()),
                };
                Some(PreConfig::from_name(pre_name.as_deref())?)
            }
            other => {
                return Err(tok_err(format!(
                    "unknown tokenizer model '{other}' (tokenizer.ggml.model); kiln supports: \
                     llama (SentencePiece), gpt2 (byte-level BPE)"
                )));
            }
        };
        let mut vocab = Vocab::load(g)?;
        let model = match pre {
            None => Model::Spm,
            Some(pre) => Model::Bpe { merges: Merges::load(g)?, pre },
        };
        // Defaults before metadata, per model (llama.cpp's `load`).
        let defaults: &[(Role, u32)] = match model {
            Model::Spm => &[(Role::Bos, 1), (Role::Eos, 2), (Role::Unk, 0)],
            Model::Bpe { .. } => &[(Role::Bos, 11), (Role::Eos, 11)],
        };
        let (def_bos, def_prefix) = match &model {
            Model::Spm => (true, true),
            Model::Bpe { pre, .. } => (pre.add_bos, false),
        };
        let add_space_prefix =
            opt_bool(g, "tokenizer.ggml.add_space_prefix")?.unwrap_or(def_prefix);
        let specials = Specials::load(g, &mut vocab, defaults)?;
        let add_bos = opt_bool(g, "tokenizer.ggml.add_bos_token")?.unwrap_or(def_bos);
        let add_eos = opt_bool(g, "tokenizer.ggml.add_eos_token")?.unwrap_or(false);
        for (flag, on, role, what) in [
            ("add_bos_token", add_bos, Role::Bos, "BOS"),
            ("add_eos_token", add_eos, Role::Eos, "EOS"),
        ] {
            if on && specials.get(role).is_none() {
                return Err(tok_err(format!(
                    "tokenizer.ggml.{flag} is set but the vocabulary has no valid {what} token"
                )));
            }
        }
        let is_spm = matches!(model, Model::Spm);
        let pieces =
            (0..vocab.len() as u32).map(|id| decode::piece(&vocab, is_spm, id).into()).collect();
        special::apply_name_rules(g, &mut vocab);
        let special_text = SpecialText::new(&vocab);
        Ok(Tokenizer {
            vocab,
            model,
            specials,
            special_text,
            pieces,
            add_bos,
            add_eos,
            add_space_prefix,
        })
    }

    /// Text to ids. `add_special` adds BOS (and EOS) where the model's metadata asks for them;
    /// `parse_special` lets special-token text in `text` (`<|im_start|>`, `<start_of_turn>`)
    /// become those tokens. Keep it off for untrusted content such as chat messages.
    pub fn encode(&self, text: &str, add_special: bool, parse_special: bool) -> Result<Vec<u32>> {
        let bytes = text.as_bytes();
        let frags = self.special_text.split(&self.vocab, bytes, parse_special);
        let mut out = Vec::with_capacity(bytes.len() / 3 + 2);
        if add_special && self.add_bos {
            out.extend(self.bos());
        }
        let mut buf = Vec::new();
        // SentencePiece puts a space before text that starts the input or follows a special
        // token, when the vocabulary asks for a space prefix.
        let mut after_special = true;
        for f in frags {
            let (s, e) = match f {
                Frag::Token(id) => {
                    out.push(id);
                    after_special = true;
                    continue;
                }
                Frag::Text(s, e) => (s, e),
            };
            match &self.model {
                Model::Spm => {
                    buf.clear();
                    if self.add_space_prefix && after_special {
                        buf.extend_from_slice(spm::SPACE_MARK);
                    }
                    spm::escape_spaces(&bytes[s..e], &mut buf);
                    spm::encode(&self.vocab, &buf, &mut out)?;
                }
                Model::Bpe { merges, pre } => {
                    pretokenize::words(pre.kind, &bytes[s..e], |w| {
                        bpe::encode_word(&self.vocab, merges, pre.ignore_merges, w, &mut out)
                    });
                }
            }
            after_special = false;
        }
        if add_special && self.add_eos {
            out.extend(self.eos());
        }
        if out.len() > i32::MAX as usize {
            return Err(tok_err(format!("{} tokens: more than 2^31-1", out.len())));
        }
        Ok(out)
    }

    /// The bytes token `id` stands for (`token_to_piece` with special tokens rendered);
    /// empty for an id outside the vocabulary.
    pub fn token_bytes(&self, id: u32) -> &[u8] {
        self.pieces.get(id as usize).map_or(&[], |p| p)
    }

    /// The token's text as stored in the vocabulary (`▁Hello`, `ĠHello`), lossily as UTF-8.
    pub fn token_text_lossy(&self, id: u32) -> String {
        String::from_utf8_lossy(self.vocab.text(id)).into_owned()
    }

    /// Whether `id` is a control token (BOS, `<start_of_turn>` …), shown only on request.
    pub fn is_control(&self, id: u32) -> bool {
        self.vocab.has(id, attr::CONTROL)
    }

    pub fn vocab_size(&self) -> usize {
        self.vocab.len()
    }

    pub fn bos(&self) -> Option<u32> {
        self.specials.get(Role::Bos)
    }

    pub fn eos(&self) -> Option<u32> {
        self.specials.get(Role::Eos)
    }

    /// End of turn (`<end_of_turn>`, `<|im_end|>` …), from metadata or found by its text.
    pub fn eot(&self) -> Option<u32> {
        self.specials.get(Role::Eot)
    }

    /// Whether generating `id` ends generation (EOS, EOT and llama.cpp's list of such texts).
    pub fn is_eog(&self, id: u32) -> bool {
        self.specials.eog.binary_search(&id).is_ok()
    }

    /// Every end-of-generation id, sorted.
    pub fn eog_ids(&self) -> &[u32] {
        &self.specials.eog
    }

    /// Whether `encode(…, add_special = true, …)` starts with BOS.
    pub fn add_bos(&self) -> bool {
        self.add_bos
    }

    /// Whether `encode(…, add_special = true, …)` ends with EOS.
    pub fn add_eos(&self) -> bool {
        self.add_eos
    }

    /// `llama` or `gpt2`.
    pub fn model_name(&self) -> &'static str {
        match self.model {
            Model::Spm => "llama",
            Model::Bpe { .. } => "gpt2",
        }
    }

    /// The BPE pre-tokenizer, `None` for SentencePiece.
    pub fn pre_kind(&self) -> Option<PreKind> {
        match &self.model {
            Model::Spm => None,
            Model::Bpe { pre, .. } => Some(pre.kind),
        }
    }

    /// Number of BPE merges (0 for SentencePiece).
    pub fn n_merges(&self) -> usize {
        match &self.model {
            Model::Spm => 0,
            Model::Bpe { merges, .. } => merges.len(),
        }
    }

    /// Number of special tokens (control, user-defined, unknown) recognised in text.
    pub fn n_special_tokens(&self) -> usize {
        self.special_text.len()
    }
}
