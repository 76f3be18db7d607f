//! The three inner loops of the tiled prefill attention (attention_tiled.rs), each over a tile
//! of query rows at once: a block of scores `S = scale·Q·Kᵀ`, the online-softmax step that
//! turns them into weights `P = exp(S − m)`, and `O += P·V`. Each has a portable version here
//! and an AVX2 + FMA one (attention_avx2.rs), picked at run time with kv.rs's detection.
//!
//! Shapes: query and output rows hold `d` floats; a key or value block is `nk` rows of `d`
//! floats; scores and weights are key-major, `s[j·rs + r]` for key j and query row r, with
//! `rs` (a multiple of 8, at least the row count) so one key's scores for 8 rows are one
//! vector and the softmax step works across rows. A score is summed as kv.rs's `dot` (element
//! i in lane i % 8, lanes reduced as ((0+4)+(1+5))+((2+6)+(3+7))): prefill and decode scores
//! agree up to FMA rounding.
//!
//! May use: kv.rs. Invariant: the shape contract is checked here with `assert!`, once per
//! call, before any SIMD code reads through raw pointers.

use super::kv::KvElem;

/// Whether the AVX2 versions run on this CPU (kv.rs needs the same features for F16C).
#[cfg(target_arch = "x86_64")]
fn avx2(d: usize) -> bool {
    d.is_multiple_of(8) && super::kv::f16c::available()
}

/// `s[j·rs + r] = scale · q[r]·k_j` for every query row `r` and key row `j` of `k`. Rows
/// `q.len()..rs` of `s` may be overwritten.
pub fn scores(q: &[&[f32]], k: &[f32], d: usize, scale: f32, s: &mut [f32], rs: usize) {
    let nk = k.len() / d;
    assert!(k.len() == nk * d && !q.is_empty(), "attention scores: key block shape");
    assert!(q.iter().all(|r| r.len() == d), "attention scores: query row length");
    assert!(q.len() <= rs && rs.is_multiple_of(8) && s.len() >= nk * rs, "attention scores");
    #[cfg(target_arch = "x86_64")]
    if avx2(d) {
        // SAFETY: avx2 and fma detected; the shapes were checked above.
        return unsafe { super::attention_avx2::scores(q, k, d, scale, s, rs) };
    }
    for (j, kj) in k.chunks_exact(d).enumerate() {
        for (r, qr) in q.iter().enumerate() {
            s[j * rs + r] = scale * f32::dot(qr, kj);
        }
    }
}

/// One online-softmax step over a block `s` of `s.len() / rs` keys, for each row r < rs:
/// the new running max `m' = max(m[r], max_j s[j·rs + r])`, `alpha[r] = exp(m[r] − m')` (by
/// which the caller rescales the row's output; 1 when the max stayed), `s[j·rs + r] =
/// exp(s[j·rs + r] − m')` (a score of −∞ weighs 0), and `l[r] = l[r]·alpha[r] + Σ_j` weight.
pub fn softmax(s: &mut [f32], rs: usize, m: &mut [f32], l: &mut [f32], alpha: &mut [f32]) {
    assert!(rs.is_multiple_of(8) && s.len().is_multiple_of(rs), "attention softmax: shape");
    assert!(m.len() == rs && l.len() == rs && alpha.len() == rs, "attention softmax: rows");
    #[cfg(target_arch = "x86_64")]
    if avx2(8) {
        // SAFETY: avx2 and fma detected; the shapes were checked above.
        return unsafe { super::attention_avx2::softmax(s, rs, m, l, alpha) };
    }
    for r in 0..rs {
        let bm = s.iter().skip(r).step_by(rs).fold(m[r], |a, &b| a.max(b));
        alpha[r] = (m[r] - bm).exp();
        let mut sum = 0.0;
        for x in s.iter_mut().skip(r).step_by(rs) {
            *x = (*x - bm).exp();
            sum += *x;
        }
        (m[r], l[r]) = (bm, l[r] * alpha[r] + sum);
    }
}

/// `o[r] += Σ_j p[j·rs + r] · v_j` for every output row `r` and value row `j` of `v`.
pub fn pv(o: &mut [&mut [f32]], p: &[f32], rs: usize, v: &[f32], d: usize) {
    let nk = v.len() / d;
    assert!(v.len() == nk * d && o.len() <= rs, "attention pv: value block shape");
    assert!(o.iter().all(|r| r.len() == d), "attention pv: output row length");
    assert!(p.len() >= nk * rs, "attention pv: weight buffer");
    #[cfg(target_arch = "x86_64")]
    if avx2(d) {
        // SAFETY: avx2 and fma detected; the shapes were checked above.
        return unsafe { super::attention_avx2::pv(o, p, rs, v, d) };
    }
    for (j, vj) in v.chunks_exact(d).enumerate() {
        for (r, or) in o.iter_mut().enumerate() {
            f32::axpy(or, p[j * rs + r], vj);
        }
    }
}
