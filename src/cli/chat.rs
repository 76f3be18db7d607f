//! `kiln chat`: an interactive, multi-turn conversation with the model's chat template.
//! `/clear` starts over, `/exit` (or end of input) quits, Ctrl-C stops the current answer
//! (at the prompt it quits).

use std::io::{BufRead, Write};
use std::ops::ControlFlow;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Result, bail};
use clap::Args;

use super::common::{ModelArgs, print_timings};
use super::generate::SamplingArgs;
use crate::engine::{Message, Sampler, StopReason};

/// Chat with a model interactively.
#[derive(Debug, Args)]
pub struct ChatArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub sampling: SamplingArgs,
    /// System prompt
    #[arg(long)]
    pub system: Option<String>,
    /// Most tokens per answer (-1 = until the model ends its turn)
    #[arg(short = 'n', long = "n-predict", default_value_t = -1, allow_negative_numbers = true)]
    pub n_predict: i64,
}

pub fn run(args: &ChatArgs) -> Result<()> {
    let max = match args.n_predict {
        -1 => None,
        n if n >= 0 => Some(n as usize),
        n => bail!("-n {n}: must be -1 or ≥ 0"),
    };
    let mut engine = args.model.load()?;
    let template = engine.chat_template()?;
    let mut sampler = Sampler::new(args.sampling.params(engine.n_ctx())?)?;

    // Ctrl-C: stop the answer being generated; at the prompt, quit.
    let generating = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    {
        let (generating, stop) = (generating.clone(), stop.clone());
        ctrlc::set_handler(move || {
            if generating.load(Ordering::SeqCst) {
                stop.store(true, Ordering::SeqCst);
            } else {
                eprintln!();
                std::process::exit(130);
            }
        })?;
    }

    let mut messages: Vec<Message> = Vec::new();
    if let Some(s) = &args.system {
        messages.push(Message::new("system", s.clone()));
    }
    // Tokens currently in the KV cache, to reuse the shared prefix of the next turn.
    let mut cached: Vec<u32> = Vec::new();
    eprintln!("kiln chat: /clear starts over, /exit quits, Ctrl-C stops an answer");
    let stdin = std::io::stdin();
    let mut out = std::io::stdout();
    loop {
        write!(out, "> ")?;
        out.flush()?;
        let mut line = String::new();
        if stdin.lock().read_line(&mut line)? == 0 {
            writeln!(out)?;
            break;
        }
        let line = line.trim_end_matches(['\n', '\r']);
        match line.trim() {
            "" => continue,
            "/exit" | "/quit" => break,
            "/clear" => {
                messages.retain(|m| m.role == "system");
                engine.reset();
                sampler.reset();
                cached.clear();
                eprintln!("(conversation cleared)");
                continue;
            }
            _ => {}
        }
        messages.push(Message::new("user", line));
        let tokens = engine.encode_chat(&template, &messages, true)?;
        let shared = cached.iter().zip(&tokens).take_while(|(a, b)| a == b).count();
        // Re-evaluate at least the last token so fresh logits exist.
        let keep = shared.min(tokens.len() - 1);
        engine.truncate(keep);
        let new = &tokens[keep..];
        if tokens.len() >= engine.n_ctx() {
            eprintln!(
                "(the conversation no longer fits the {}-token context: /clear to start over)",
                engine.n_ctx()
            );
            messages.pop();
            continue;
        }

        stop.store(false, Ordering::SeqCst);
        generating.store(true, Ordering::SeqCst);
        let mut answer = String::new();
        let result = engine.generate(new, max, &mut sampler, |text| {
            answer.push_str(text);
            let _ = out.write_all(text.as_bytes());
            let _ = out.flush();
            if stop.load(Ordering::SeqCst) {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        });
        generating.store(false, Ordering::SeqCst);
        writeln!(out)?;
        let g = match result {
            Ok(g) => g,
            Err(e) => {
                eprintln!("(error: {e})");
                messages.pop();
                engine.reset();
                cached.clear();
                continue;
            }
        };
        match g.stop {
            StopReason::Cancelled => eprintln!("(stopped)"),
            StopReason::ContextFull => eprintln!("(context full: /clear to start over)"),
            StopReason::EndOfText | StopReason::Length => {}
        }
        cached = tokens[..keep].to_vec();
        cached.extend_from_slice(new);
        cached.extend_from_slice(&g.tokens);
        // The last generated token was sampled but never evaluated.
        cached.truncate(engine.pos());
        messages.push(Message::new("assistant", answer));
    }
    if args.model.verbose {
        print_timings(&engine.timings);
    }
    Ok(())
}
