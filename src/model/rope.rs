//! RoPE cos/sin tables, computed on the host in f64 once per model (one per distinct base:
//! Gemma 3's local and global layers differ), so no shader evaluates sin/cos of a large angle.
//! Layout `(n_ctx, n_rot/2, 2)`: `[pos][i] = (cos θ, sin θ)`, θ = pos · s · base^(−2i/n_rot) / f_i
//! (s: linear frequency scale; f_i: per-pair frequency factors of `rope_freqs.weight`, Llama 3).

use super::hparams::HParams;
use super::weights::WeightLoader;
use crate::error::{Error, Result};

fn table(n_ctx: usize, n_rot: usize, base: f64, scale: f64, factors: Option<&[f32]>) -> Vec<f32> {
    let half = n_rot / 2;
    let mut t = Vec::with_capacity(n_ctx * half * 2);
    for pos in 0..n_ctx {
        for i in 0..half {
            let mut theta = pos as f64 * scale * base.powf(-2.0 * i as f64 / n_rot as f64);
            if let Some(f) = factors {
                theta /= f[i] as f64;
            }
            t.push(theta.cos() as f32);
            t.push(theta.sin() as f32);
        }
    }
    t
}

/// The global table first, then (when the model has sliding-window layers with another base)
/// the local one.
pub fn tables(hp: &HParams, w: &WeightLoader<'_>, n_ctx: usize) -> Result<Vec<Vec<f32>>> {
    let factors = if w.has("rope_freqs.weight") {
        let f = w.f32_values("rope_freqs.weight")?;
        if f.len() != hp.n_rot / 2 || f.iter().any(|v| !v.is_finite() || *v <= 0.0) {
            return Err(Error::Model(format!(
                "rope_freqs.weight must hold {} positive factors",
                hp.n_rot / 2
            )));
        }
        Some(f)
    } else {
        None
    };
    let mut out =
        vec![table(n_ctx, hp.n_rot, hp.rope_base, hp.rope_freq_scale, factors.as_deref())];
    if hp.swa_layers.iter().any(|&s| s) && hp.rope_base_swa != hp.rope_base {
        out.push(table(n_ctx, hp.n_rot, hp.rope_base_swa, 1.0, None));
    }
    Ok(out)
}
