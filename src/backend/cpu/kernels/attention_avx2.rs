//! AVX2 + FMA versions of the prefill attention loops (attention_simd.rs has the contracts,
//! the portable versions and the dispatch).
//!
//! Register tiles (16 ymm): scores take [`SR`] query rows × [`SC`] keys per pass over `d`
//! (12 accumulators, the 3 key vectors, one query vector: 7 loads per 12 FMAs; 3 rows × 4
//! keys spilled), and reduce each key's 4 rows into one vector of key-major scores; `O +=
//! P·V` takes [`PR`] output rows × 16 columns (12 accumulators, 2 value vectors, one
//! broadcast weight), keeping the output tile in registers across the whole key block.
//! `exp` is exp_avx2.rs's (Cephes `expf`, arguments below ln 2^-126 flushed to 0).
//!
//! May use: std::arch, exp_avx2.rs. Invariant: callers checked avx2 and fma, and the shapes as
//! attention_simd.rs does (`d % 8 == 0`, rows of `d`, whole key blocks), so every raw read and
//! write below stays inside its slice.

use std::arch::x86_64::*;

use super::exp_avx2::exp8;

/// Query rows and keys per score tile (a key's 4 rows are reduced together).
const SR: usize = 4;
const SC: usize = 3;
/// Output rows per `O += P·V` tile.
const PR: usize = 6;

/// Caller: see the module invariant.
#[target_feature(enable = "avx2,fma")]
pub unsafe fn scores(q: &[&[f32]], k: &[f32], d: usize, scale: f32, s: &mut [f32], rs: usize) {
    let nk = k.len() / d;
    let scale = _mm_set1_ps(scale);
    for r0 in (0..q.len()).step_by(SR) {
        // A short tile repeats its last row or key: the extra rows land in the padding rows
        // `q.len()..rs`, the extra keys are not stored.
        let qp: [*const f32; SR] = std::array::from_fn(|i| q[(r0 + i).min(q.len() - 1)].as_ptr());
        for j0 in (0..nk).step_by(SC) {
            let kp: [*const f32; SC] =
                std::array::from_fn(|c| k[(j0 + c).min(nk - 1) * d..].as_ptr());
            // SAFETY: every pointer starts a row of `d` readable floats; d % 8 == 0.
            let sums = unsafe { dot_tile(&qp, &kp, d) };
            for (c, &sum) in sums.iter().enumerate().take(nk - j0) {
                let at = &mut s[(j0 + c) * rs + r0..][..SR];
                // SAFETY: `at` holds SR = 4 floats (r0 + 4 ≤ rs, rs % 4 == 0).
                unsafe { _mm_storeu_ps(at.as_mut_ptr(), _mm_mul_ps(scale, sum)) };
            }
        }
    }
}

/// `[q[0]·k[c], …, q[3]·k[c]]` for each key c over `d` floats, each an 8-lane sum reduced as
/// kv.rs's `dot`.
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn dot_tile(q: &[*const f32; SR], k: &[*const f32; SC], d: usize) -> [__m128; SC] {
    let mut acc = [[_mm256_setzero_ps(); SR]; SC];
    let mut i = 0;
    while i < d {
        let mut kv = [_mm256_setzero_ps(); SC];
        for (v, k) in kv.iter_mut().zip(k) {
            // SAFETY: i + 8 ≤ d (caller).
            *v = unsafe { _mm256_loadu_ps(k.add(i)) };
        }
        for (r, q) in q.iter().enumerate() {
            // SAFETY: as above.
            let qv = unsafe { _mm256_loadu_ps(q.add(i)) };
            for (a, &kv) in acc.iter_mut().zip(&kv) {
                a[r] = _mm256_fmadd_ps(qv, kv, a[r]);
            }
        }
        i += 8;
    }
    acc.map(|a| hsum4(a[0], a[1], a[2], a[3]))
}

/// The four 8-lane sums `[Σa, Σb, Σc, Σd]`, each as ((0+1)+(2+3))+((4+5)+(6+7)): a tree of
/// kv.rs's depth, in 4 instructions instead of 11.
#[target_feature(enable = "avx2,fma")]
#[inline]
fn hsum4(a: __m256, b: __m256, c: __m256, d: __m256) -> __m128 {
    // [a01 a23 b01 b23 | a45 a67 b45 b67], then [a0123 b0123 c0123 d0123 | a4567 …].
    let abcd = _mm256_hadd_ps(_mm256_hadd_ps(a, b), _mm256_hadd_ps(c, d));
    _mm_add_ps(_mm256_castps256_ps128(abcd), _mm256_extractf128_ps::<1>(abcd))
}

/// Caller: avx2 and fma; `rs % 8 == 0`, `m`, `l`, `alpha` hold `rs` floats, `s` `nk·rs`.
#[target_feature(enable = "avx2,fma")]
pub unsafe fn softmax(s: &mut [f32], rs: usize, m: &mut [f32], l: &mut [f32], alpha: &mut [f32]) {
    let nk = s.len() / rs;
    for r in (0..rs).step_by(8) {
        // SAFETY (this block): r + 8 ≤ rs, and every (key, row) index j·rs + r + 7 < nk·rs.
        unsafe {
            let mut bm = _mm256_loadu_ps(m.as_ptr().add(r));
            for j in 0..nk {
                bm = _mm256_max_ps(bm, _mm256_loadu_ps(s.as_ptr().add(j * rs + r)));
            }
            let a = exp8(_mm256_sub_ps(_mm256_loadu_ps(m.as_ptr().add(r)), bm));
            let mut sum = _mm256_setzero_ps();
            for j in 0..nk {
                let at = s.as_mut_ptr().add(j * rs + r);
                let p = exp8(_mm256_sub_ps(_mm256_loadu_ps(at), bm));
                _mm256_storeu_ps(at, p);
                sum = _mm256_add_ps(sum, p);
            }
            let lr = l.as_mut_ptr().add(r);
            _mm256_storeu_ps(lr, _mm256_fmadd_ps(_mm256_loadu_ps(lr), a, sum));
            _mm256_storeu_ps(m.as_mut_ptr().add(r), bm);
            _mm256_storeu_ps(alpha.as_mut_ptr().add(r), a);
        }
    }
}

/// Caller: see the module invariant.
#[target_feature(enable = "avx2,fma")]
pub unsafe fn pv(o: &mut [&mut [f32]], p: &[f32], rs: usize, v: &[f32], d: usize) {
    for (i, rows) in o.chunks_mut(PR).enumerate() {
        let p = &p[i * PR..];
        // SAFETY: `p` holds weight (r, j) at j·rs + r for r < rows.len(), j < nk; `v` holds
        // nk rows of d.
        unsafe {
            match rows.len() {
                6 => pv_rows::<6>(rows, p, rs, v, d),
                5 => pv_rows::<5>(rows, p, rs, v, d),
                4 => pv_rows::<4>(rows, p, rs, v, d),
                3 => pv_rows::<3>(rows, p, rs, v, d),
                2 => pv_rows::<2>(rows, p, rs, v, d),
                _ => pv_rows::<1>(rows, p, rs, v, d),
            }
        }
    }
}

/// `O += P·V` for `R` rows, 16 columns (then a last 8) at a time, over all `v.len() / d` keys.
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn pv_rows<const R: usize>(o: &mut [&mut [f32]], p: &[f32], rs: usize, v: &[f32], d: usize) {
    let o = std::array::from_fn(|r| o[r].as_mut_ptr());
    let t = PvTile { o, p: p.as_ptr(), rs, v: v.as_ptr(), d, nk: v.len() / d };
    let mut c0 = 0;
    while c0 + 16 <= d {
        // SAFETY: c0 + 16 ≤ d.
        unsafe { pv_cols::<R, 2>(&t, c0) };
        c0 += 16;
    }
    if c0 < d {
        // SAFETY: d % 8 == 0, so c0 + 8 ≤ d.
        unsafe { pv_cols::<R, 1>(&t, c0) };
    }
}

/// `R` output rows, weight (r, j) at `p[j·rs + r]`, `nk` value rows of `d` floats at `v`.
struct PvTile<const R: usize> {
    o: [*mut f32; R],
    p: *const f32,
    rs: usize,
    v: *const f32,
    d: usize,
    nk: usize,
}

/// Columns `c0..c0 + 8·W` of `O += P·V`, the output tile held in registers over all keys.
/// Caller: c0 + 8·W ≤ d.
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn pv_cols<const R: usize, const W: usize>(t: &PvTile<R>, c0: usize) {
    let mut acc = [[_mm256_setzero_ps(); W]; R];
    // SAFETY (this block): output rows hold d floats; weight (r, j) is at j·rs + r; value row
    // j at j·d, j < nk.
    unsafe {
        for (a, o) in acc.iter_mut().zip(t.o) {
            for (w, a) in a.iter_mut().enumerate() {
                *a = _mm256_loadu_ps(o.add(c0 + 8 * w));
            }
        }
        for j in 0..t.nk {
            let vj = t.v.add(j * t.d + c0);
            let pj = t.p.add(j * t.rs);
            let mut vv = [_mm256_setzero_ps(); W];
            for (w, v) in vv.iter_mut().enumerate() {
                *v = _mm256_loadu_ps(vj.add(8 * w));
            }
            for (r, a) in acc.iter_mut().enumerate() {
                let pw = _mm256_broadcast_ss(&*pj.add(r));
                for (a, &v) in a.iter_mut().zip(&vv) {
                    *a = _mm256_fmadd_ps(pw, v, *a);
                }
            }
        }
        for (a, o) in acc.iter().zip(t.o) {
            for (w, &a) in a.iter().enumerate() {
                _mm256_storeu_ps(o.add(c0 + 8 * w), a);
            }
        }
    }
}
