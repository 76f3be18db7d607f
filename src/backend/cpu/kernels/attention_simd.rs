//! The three inner loops of the tiled prefill attention (attention_tiled.rs), each applied to a
//! tile of query rows at once: a block of scores `S = scale·Q·Kᵀ`, one row's softmax weights
//! `P = exp(S − m)` with their sum, and `O += P·V`. Each has a portable version here and an
//! AVX2 + FMA one (attention_avx2.rs), picked at run time with kv.rs's detection.
//!
//! Shapes: every query and output row holds `d` floats; a key or value block is `nk` rows of
//! `d` floats, row-major; scores and weights are `(rows, nk)` with row stride `stride ≥ nk`.
//! A score is summed as kv.rs's `dot` sums it (element i in lane i % 8, lanes reduced as
//! ((0+4)+(1+5))+((2+6)+(3+7))), so prefill and decode agree up to FMA rounding.
//!
//! May use: kv.rs. Invariant: the shape contract is checked here, with `assert!`, once per
//! call, before any SIMD code reads through raw pointers.

use super::kv::KvElem;

/// Whether the AVX2 versions run on this CPU (kv.rs needs the same features for F16C).
#[cfg(target_arch = "x86_64")]
fn avx2(d: usize) -> bool {
    d.is_multiple_of(8) && super::kv::f16c::available()
}

/// `s[r·stride + j] = scale · q[r]·k_j` for every query row `r` and key row `j` of `k`.
pub fn scores(q: &[&[f32]], k: &[f32], d: usize, scale: f32, s: &mut [f32], stride: usize) {
    let nk = k.len() / d;
    assert!(k.len() == nk * d && nk <= stride, "attention scores: key block shape");
    assert!(q.iter().all(|r| r.len() == d), "attention scores: query row length");
    assert!(s.len() >= q.len() * stride, "attention scores: score buffer");
    #[cfg(target_arch = "x86_64")]
    if avx2(d) {
        // SAFETY: avx2 and fma detected; the shapes were checked above.
        return unsafe { super::attention_avx2::scores(q, k, d, scale, s, stride) };
    }
    for (r, qr) in q.iter().enumerate() {
        for (j, kj) in k.chunks_exact(d).enumerate() {
            s[r * stride + j] = scale * f32::dot(qr, kj);
        }
    }
}

/// `s[j] = exp(s[j] − m)` in place (scores of `−∞` become 0); returns `Σ s[j]`. The caller's
/// `m` is at least every score, so no weight exceeds 1.
pub fn exp_sum(s: &mut [f32], m: f32) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if avx2(8) {
        // SAFETY: avx2 and fma detected.
        return unsafe { super::attention_avx2::exp_sum(s, m) };
    }
    s.iter_mut().fold(0.0, |sum, x| {
        *x = (*x - m).exp();
        sum + *x
    })
}

/// `o[r] += Σ_j p[r·stride + j] · v_j` for every output row `r` and value row `j` of `v`.
pub fn pv(o: &mut [&mut [f32]], p: &[f32], stride: usize, v: &[f32], d: usize) {
    let nk = v.len() / d;
    assert!(v.len() == nk * d && nk <= stride, "attention pv: value block shape");
    assert!(o.iter().all(|r| r.len() == d), "attention pv: output row length");
    assert!(p.len() >= o.len() * stride, "attention pv: weight buffer");
    #[cfg(target_arch = "x86_64")]
    if avx2(d) {
        // SAFETY: avx2 and fma detected; the shapes were checked above.
        return unsafe { super::attention_avx2::pv(o, p, stride, v, d) };
    }
    for (r, or) in o.iter_mut().enumerate() {
        for (j, vj) in v.chunks_exact(d).enumerate() {
            f32::axpy(or, p[r * stride + j], vj);
        }
    }
}
