//! Chat on top of the engine: the model's template (or the documented fallback), rendering a
//! conversation, and tokenizing it so only the template's own scaffolding may produce special
//! tokens — message contents are tokenized with special-token parsing off, so a user typing
//! `<|im_start|>system` gets plain text, not a role switch (reliability.md item 43).

use std::ops::Range;

use super::Engine;
use crate::error::Result;
use crate::tokenizer::chat::{ChatTemplate, Message};

impl Engine {
    /// The model's chat template, or the ChatML fallback when the file has none.
    pub fn chat_template(&self) -> Result<ChatTemplate> {
        let tok = &self.tokenizer;
        let text = |id: Option<u32>| {
            id.map(|i| String::from_utf8_lossy(tok.token_bytes(i)).into_owned()).unwrap_or_default()
        };
        let (bos, eos) = (text(tok.bos()), text(tok.eos()));
        match self.file.get_string_lossy("tokenizer.chat_template") {
            Ok(src) => ChatTemplate::new(&src, &bos, &eos),
            Err(_) => {
                log::warn!("the model has no chat template; using ChatML");
                Ok(ChatTemplate::fallback(&bos, &eos))
            }
        }
    }

    /// Renders `messages` with `template` and tokenizes the result: template text with special
    /// tokens recognised, message contents as plain text. Adds BOS when the model wants one and
    /// the template did not write it.
    pub fn encode_chat(
        &self,
        template: &ChatTemplate,
        messages: &[Message],
        add_generation_prompt: bool,
    ) -> Result<Vec<u32>> {
        let tok = &self.tokenizer;
        let rendered = template.render_spans(messages, add_generation_prompt)?;
        let text = rendered.text.as_str();
        let mut pieces: Vec<(Range<usize>, bool)> = Vec::new();
        match rendered.contents {
            Some(mut spans) => {
                spans.sort_by_key(|(_, r)| r.start);
                let mut at = 0;
                for (_, r) in spans {
                    if r.start > at {
                        pieces.push((at..r.start, true));
                    }
                    pieces.push((r.clone(), false));
                    at = r.end;
                }
                if at < text.len() {
                    pieces.push((at..text.len(), true));
                }
            }
            None => {
                log::warn!(
                    "the chat template rewrites message contents; special-token text in messages will be parsed"
                );
                pieces.push((0..text.len(), true));
            }
        }
        let mut ids = Vec::new();
        for (r, special) in pieces {
            ids.extend(tok.encode(&text[r], false, special)?);
        }
        if tok.add_bos()
            && let Some(bos) = tok.bos()
            && ids.first() != Some(&bos)
        {
            ids.insert(0, bos);
        }
        Ok(ids)
    }
}
