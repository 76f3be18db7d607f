//! The three inner loops of the tiled prefill attention (attention_tiled.rs), each over a tile
//! of query rows at once: a block of scores `S = scale·Q·Kᵀ`, the online-softmax step that
//! turns them into weights `P = exp(S − m)`, and `O += P·V`. Each has a portable version here
//! and an AVX2 + FMA one (attention_avx2.rs), picked at run time with kv.rs's detection.
//!
//! Shapes: query and output rows hold `d` floats; a key or value block is `nk` rows of `d`
//! floats; scores and weights are key-major, `s[j·rs + r]` for key j and query row r, with
//! `rs` (a multiple of 8, at least the row count) so one key's scores for 8 rows are one
//! vector and the softmax step works across rows. A score is summed in eight lanes (element i
//! in lane i % 8) reduced by a depth-3 tree, as kv.rs's `dot`: the decode path's error bound,
//! (d/8 + 3)·u. The AVX2 `exp` is within a few ulp of the portable one (tests below).
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
    portable::scores(q, k, d, scale, s, rs);
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
    portable::softmax(s, rs, m, l, alpha);
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
    portable::pv(o, p, rs, v, d);
}

/// The portable versions, for CPUs without AVX2 + FMA and head dims that are no multiple
/// of 8; also the tests' oracle for the AVX2 ones.
mod portable {
    use super::KvElem;

    pub fn scores(q: &[&[f32]], k: &[f32], d: usize, scale: f32, s: &mut [f32], rs: usize) {
        for (j, kj) in k.chunks_exact(d).enumerate() {
            for (r, qr) in q.iter().enumerate() {
                s[j * rs + r] = scale * f32::dot(qr, kj);
            }
        }
    }

    pub fn softmax(s: &mut [f32], rs: usize, m: &mut [f32], l: &mut [f32], alpha: &mut [f32]) {
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

    pub fn pv(o: &mut [&mut [f32]], p: &[f32], rs: usize, v: &[f32], d: usize) {
        for (j, vj) in v.chunks_exact(d).enumerate() {
            for (r, or) in o.iter_mut().enumerate() {
                f32::axpy(or, p[j * rs + r], vj);
            }
        }
    }
}

/// The AVX2 versions against the portable ones on this CPU (skipped without AVX2 + FMA).
#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use super::super::testkit::uniform;
    use super::*;

    /// `|a − b| ≤ tol·(1 + |b|)` elementwise.
    fn close(what: &str, a: &[f32], b: &[f32], tol: f32) {
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            assert!((x - y).abs() <= tol * (1.0 + y.abs()), "{what}[{i}]: {x} vs {y}");
        }
    }

    #[test]
    fn scores_and_pv_match_the_portable_loops() {
        if !avx2(8) {
            return eprintln!("SKIP: no avx2 + fma");
        }
        // Row counts around the 4-row score and 6-row P·V tiles, key counts around 3-key tiles,
        // head dims with and without a last 8-column strip.
        for (nr, nk, d) in [(1, 1, 8), (5, 7, 64), (30, 64, 64), (47, 32, 256), (13, 10, 24)] {
            let rs = usize::next_multiple_of(nr, 8);
            let qv = uniform(nr * d, -1.0, 1.0, 1);
            let q: Vec<&[f32]> = qv.chunks_exact(d).collect();
            let k = uniform(nk * d, -1.0, 1.0, 2);
            let (mut s, mut want) = (vec![0f32; nk * rs], vec![0f32; nk * rs]);
            scores(&q, &k, d, 0.125, &mut s, rs);
            portable::scores(&q, &k, d, 0.125, &mut want, rs);
            let live =
                |x: &[f32]| -> Vec<f32> { x.chunks(rs).flat_map(|c| c[..nr].to_vec()).collect() };
            close("scores", &live(&s), &live(&want), 1e-6);
            let (mut o, mut o_want) = (uniform(nr * d, -1.0, 1.0, 3), vec![0f32; nr * d]);
            o_want.copy_from_slice(&o);
            let mut rows: Vec<&mut [f32]> = o.chunks_exact_mut(d).collect();
            let mut rows_want: Vec<&mut [f32]> = o_want.chunks_exact_mut(d).collect();
            pv(&mut rows, &s, rs, &k, d);
            portable::pv(&mut rows_want, &s, rs, &k, d);
            close("pv", &o, &o_want, 1e-6);
        }
    }

    #[test]
    fn softmax_step_matches_the_portable_one() {
        if !avx2(8) {
            return eprintln!("SKIP: no avx2 + fma");
        }
        let (rs, nk) = (16, 64);
        // Scores from −100 to 10 (exp down to its flush-to-zero edge), one masked key, and a
        // row whose running max was still the sentinel.
        let mut s = uniform(nk * rs, -100.0, 10.0, 4);
        s[3 * rs + 2] = f32::NEG_INFINITY;
        let mut m = uniform(rs, -5.0, 12.0, 5);
        m[7] = f32::MIN;
        let mut l = uniform(rs, 0.0, 3.0, 6);
        let (mut s2, mut m2, mut l2) = (s.clone(), m.clone(), l.clone());
        let (mut a, mut a2) = (vec![0f32; rs], vec![0f32; rs]);
        softmax(&mut s, rs, &mut m, &mut l, &mut a);
        portable::softmax(&mut s2, rs, &mut m2, &mut l2, &mut a2);
        assert_eq!(m, m2, "running max");
        // Cephes expf: within 2 ulp of libm's expf, except below 2^-126, where it flushes to 0.
        for (what, x, y) in [("weight", &s, &s2), ("rescale", &a, &a2)] {
            for (i, (x, y)) in x.iter().zip(y.iter()).enumerate() {
                let ok = (x - y).abs() <= 2.4e-7 * y.abs() + f32::MIN_POSITIVE;
                assert!(ok, "{what}[{i}]: {x} vs {y}");
            }
        }
        close("sums", &l, &l2, 5e-7);
        assert_eq!(s[3 * rs + 2], 0.0, "a masked key weighs 0");
    }
}
