//! Special tokens: BOS/EOS/EOT and friends from metadata (validated, defaults included), the
//! ones llama.cpp recognises by their text, the end-of-generation set, and the attribute fixes
//! llama.cpp applies to them (`llama_vocab::impl::load`).
//!
//! May use: `gguf`, `error`, the sibling `vocab`. Invariant: every id held here is below the
//! vocabulary size; an out-of-range id from the file is reported and dropped, never used.

use super::vocab::{Vocab, attr};
use crate::error::Result;
use crate::gguf::GgufFile;

/// The special-token roles kiln tracks (index into [`Specials::ids`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Role {
    Bos,
    Eos,
    Eot,
    Eom,
    Unk,
    Sep,
    Pad,
    Mask,
    FimPre,
    FimSuf,
    FimMid,
    FimPad,
    FimRep,
    FimSep,
}

const N_ROLES: usize = 14;

/// Metadata keys, in llama.cpp's order: the deprecated FIM keys come last and so win.
const KEYS: [(&str, Role); 17] = [
    ("tokenizer.ggml.bos_token_id", Role::Bos),
    ("tokenizer.ggml.eos_token_id", Role::Eos),
    ("tokenizer.ggml.eot_token_id", Role::Eot),
    ("tokenizer.ggml.eom_token_id", Role::Eom),
    ("tokenizer.ggml.unknown_token_id", Role::Unk),
    ("tokenizer.ggml.seperator_token_id", Role::Sep), // sic: the GGUF key is misspelt
    ("tokenizer.ggml.padding_token_id", Role::Pad),
    ("tokenizer.ggml.mask_token_id", Role::Mask),
    ("tokenizer.ggml.fim_pre_token_id", Role::FimPre),
    ("tokenizer.ggml.fim_suf_token_id", Role::FimSuf),
    ("tokenizer.ggml.fim_mid_token_id", Role::FimMid),
    ("tokenizer.ggml.fim_pad_token_id", Role::FimPad),
    ("tokenizer.ggml.fim_rep_token_id", Role::FimRep),
    ("tokenizer.ggml.fim_sep_token_id", Role::FimSep),
    ("tokenizer.ggml.prefix_token_id", Role::FimPre),
    ("tokenizer.ggml.suffix_token_id", Role::FimSuf),
    ("tokenizer.ggml.middle_token_id", Role::FimMid),
];

/// Roles llama.cpp fills from token texts when the metadata leaves them unset. Source:
/// llama-vocab.cpp ("auto-detect special tokens by text"); the texts are model conventions.
#[rustfmt::skip]
const BY_TEXT: [(Role, &[&str]); 8] = [
    (Role::Eot, &[
        "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>",
        "<|end_of_text|>", "<EOT>", "_<EOT>", "[EOT]", "<｜end▁of▁sentence｜>",
        "<end_of_utterance>",
    ]),
    (Role::Eom, &["<|eom_id|>"]),
    (Role::FimPre, &[
        "<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<｜fim▁begin｜>", "<PRE>", "▁<PRE>",
        "<|code_prefix|>", "<|prefix|>",
    ]),
    (Role::FimSuf, &[
        "<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<｜fim▁hole｜>", "<SUF>", "▁<SUF>",
        "<|code_suffix|>", "<|suffix|>",
    ]),
    (Role::FimMid, &[
        "<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<｜fim▁end｜>", "<MID>", "▁<MID>",
        "<|code_middle|>", "<|middle|>",
    ]),
    (Role::FimPad, &["<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"]),
    (Role::FimRep, &["<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>"]),
    (Role::FimSep, &["<|file_sep|>"]),
];

/// Texts that end generation wherever they appear in a vocabulary (llama.cpp issue #9606).
#[rustfmt::skip]
const EOG_TEXTS: [&str; 22] = [
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>", "<|calls|>",
    "<end_of_turn>", "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]",
    "<|end_of_text|>", "<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>",
    "<｜end▁of▁sentence｜>", "[e~[",
];

/// Texts llama.cpp always renders as user-defined tokens (gpt-oss's harmony format).
const USER_DEFINED_TEXTS: [&str; 4] = ["<|channel|>", "<|message|>", "<|start|>", "<|constrain|>"];

/// Special-token ids by role, and the end-of-generation set.
#[derive(Debug, Clone)]
pub(super) struct Specials {
    ids: [Option<u32>; N_ROLES],
    /// Sorted, without repeats.
    pub eog: Vec<u32>,
}

impl Specials {
    pub fn get(&self, role: Role) -> Option<u32> {
        self.ids[role as usize]
    }

    /// Reads the ids, starting from `defaults` (the tokenizer model's), and fixes attributes in
    /// `vocab` the way llama.cpp does. Out-of-range ids are logged and disabled.
    pub fn load(g: &GgufFile, vocab: &mut Vocab, defaults: &[(Role, u32)]) -> Result<Specials> {
        let n = vocab.len();
        let mut ids = [None; N_ROLES];
        for &(role, id) in defaults {
            ids[role as usize] = Some(id);
        }
        for (key, role) in KEYS {
            let slot = &mut ids[role as usize];
            if let Some(id) = *slot
                && id as usize >= n
            {
                log::warn!(
                    "tokenizer: default {key} = {id} is out of the vocabulary, disabling it"
                );
                *slot = None;
            }
            if g.get(key).is_none() {
                continue;
            }
            let id = g.get_u32(key)?;
            if id as usize >= n {
                log::warn!(
                    "tokenizer: {key} = {id} is out of the vocabulary ({n} tokens), ignored"
                );
            } else {
                *slot = Some(id);
            }
        }
        // Roles still unset are found by text. llama.cpp takes the first match in hash-map
        // order (unspecified); kiln takes the lowest id, which is reproducible.
        for (role, texts) in BY_TEXT {
            if ids[role as usize].is_some() {
                continue;
            }
            if let Some(id) = texts.iter().filter_map(|t| vocab.id(t.as_bytes())).min() {
                ids[role as usize] = Some(id);
                vocab.attrs[id as usize] |= attr::CONTROL;
            }
        }
        let mut eog: Vec<u32> = [Role::FimPad, Role::FimRep, Role::FimSep]
            .iter()
            .filter_map(|&r| ids[r as usize])
            .collect();
        for text in EOG_TEXTS {
            if let Some(id) = vocab.id(text.as_bytes()) {
                eog.push(id);
                vocab.attrs[id as usize] |= attr::CONTROL;
            }
        }
        for text in USER_DEFINED_TEXTS {
            if let Some(id) = vocab.id(text.as_bytes()) {
                vocab.attrs[id as usize] = attr::USER_DEFINED;
            }
        }
        eog.extend([Role::Eos, Role::Eot, Role::Eom].iter().filter_map(|&r| ids[r as usize]));
        eog.sort_unstable();
        eog.dedup();
        let mut specials = Specials { ids, eog };
        specials.drop_false_eog(vocab);
        Ok(specials)
    }

    /// Two vocabularies reuse an EOG-looking text as an ordinary token: harmony's `<|end|>`
    /// (when `<|return|>`/`<|flush|>` and `<|call|>` exist) and `</s>` next to `<|tool_response>`
    /// or `<|plamo:eos|>`. llama.cpp takes them out of the set; so does kiln.
    fn drop_false_eog(&mut self, vocab: &mut Vocab) {
        let in_eog = |t: &str| vocab.id(t.as_bytes()).filter(|id| self.eog.contains(id));
        let has = |t: &str| in_eog(t).is_some();
        let call = has("<|call|>") || has("<|calls|>");
        if let Some(end) = in_eog("<|end|>")
            && call
            && (has("<|return|>") || has("<|flush|>"))
        {
            self.eog.retain(|&id| id != end);
            vocab.attrs[end as usize] = attr::USER_DEFINED;
        }
        let in_eog = |t: &str| vocab.id(t.as_bytes()).filter(|id| self.eog.contains(id));
        if let Some(s) = in_eog("</s>")
            && (in_eog("<|tool_response>").is_some() || in_eog("<|plamo:eos|>").is_some())
        {
            self.eog.retain(|&id| id != s);
            vocab.attrs[s as usize] = attr::NORMAL;
        }
    }
}

/// Phi-3's special tokens swallow the whitespace after them (llama.cpp sets this by model
/// name, `general.name` containing "phi-3" or "phi3").
pub(super) fn apply_name_rules(g: &GgufFile, vocab: &mut Vocab) {
    let name = g.get_string_lossy("general.name").map(|s| s.to_lowercase()).unwrap_or_default();
    if !(name.contains("phi-3") || name.contains("phi3")) {
        return;
    }
    let special = attr::CONTROL | attr::USER_DEFINED | attr::UNKNOWN;
    for a in vocab.attrs.iter_mut().filter(|a| **a & special != 0) {
        *a |= attr::RSTRIP;
    }
    for (text, on) in [("</s>", true), ("<unk>", false), ("<s>", false), ("<|endoftext|>", false)] {
        if let Some(id) = vocab.id(text.as_bytes()) {
            let a = &mut vocab.attrs[id as usize];
            *a = if on { *a | attr::RSTRIP } else { *a & !attr::RSTRIP };
        }
    }
}
