//! A llama forward pass over kernels-ref (f64) that carries, next to every value, a bound on
//! how far a wgpu backend's value can be from it, for any backend whose kernels meet their
//! rows of tests/common/tol.rs on the inputs they really get.
//!
//! Error sources: each op's own error on each output (its row, at the largest inputs the op
//! can see, `|v| + bound`) and each f16 rounding of a KV store. Sources are carried to every
//! value through the model's Jacobian twice: as a worst case `e = Σ|c|·b` and as a Hoeffding
//! proxy `q = Σ c²·b²` (probabilistic rounding error analysis, Higham & Mary, SIAM J. Sci.
//! Comput. 41(5), 2019). If the sources are independent and zero-mean,
//! `P(|error| > λ·√q) ≤ 2·exp(−λ²/2)` (tol.rs `MODEL_LAMBDA`), so `min(e, λ·√q)` bounds the
//! error with that probability. Each nonlinear op is linearised and the remainder of its
//! linearisation, bounded at its inputs' bounds, is added to both.

use kernels_ref::attention::{self as ref_attention, AttentionParams};
use kernels_ref::elementwise::silu;
use kiln::quant::DType;

use crate::common::tol::{self, MODEL_LAMBDA as LAMBDA, Tol};

/// What a backend does beyond its kernels' rows.
#[derive(Clone, Copy, Debug)]
pub struct Setup {
    /// Storing K and V rounds to f16 within this bound (`None`: f32 caches, stored exactly).
    pub kv_store: Option<Tol>,
}

/// The error of one value: worst case `e` and Hoeffding proxy `q`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Err {
    pub e: f64,
    pub q: f64,
}

impl Err {
    /// Carries an input's error with Jacobian coefficient `c`.
    fn carry(&mut self, c: f64, from: Err) {
        self.e += c.abs() * from.e;
        self.q += c * c * from.q;
    }

    /// Adds an independent source bounded by `b`.
    fn source(&mut self, b: f64) {
        self.e += b;
        self.q += b * b;
    }

    /// Adds a deterministic remainder `r` to both bounds.
    fn remainder(&mut self, r: f64) {
        self.e += r;
        self.q = ((LAMBDA * self.q.sqrt() + r) / LAMBDA).powi(2);
    }

    pub fn bound(&self) -> f64 {
        self.e.min(LAMBDA * self.q.sqrt())
    }
}

/// An activation, row-major: values and their errors.
#[derive(Clone, Debug, Default)]
pub struct Bounded {
    pub v: Vec<f64>,
    pub err: Vec<Err>,
}

impl Bounded {
    pub fn exact(v: Vec<f64>) -> Bounded {
        Bounded { err: vec![Err::default(); v.len()], v }
    }

    /// Columns `lo..hi` of each row of `cols`.
    pub fn columns(&self, cols: usize, lo: usize, hi: usize) -> Bounded {
        let v = self.v.chunks(cols).flat_map(|r| r[lo..hi].to_vec()).collect();
        let err = self.err.chunks(cols).flat_map(|r| r[lo..hi].to_vec()).collect();
        Bounded { v, err }
    }

    /// Elements `from..` (the last rows).
    pub fn tail(&self, from: usize) -> Bounded {
        Bounded { v: self.v[from..].to_vec(), err: self.err[from..].to_vec() }
    }

    pub fn extend(&mut self, o: Bounded) {
        self.v.extend(o.v);
        self.err.extend(o.err);
    }

    pub fn bound(&self, i: usize) -> f64 {
        self.err[i].bound()
    }

    /// `|v| + bound`: the largest magnitude the backend's value has.
    fn mag(&self, i: usize) -> f64 {
        self.v[i].abs() + self.bound(i)
    }
}

/// A weight matrix `(rows, cols)`: the dequantized weights and `|scaled| + |offset|` (the
/// natural scale of kernels that sum the two parts apart).
pub struct Matrix {
    pub rows: usize,
    pub cols: usize,
    w: Vec<f64>,
    wabs: Vec<f64>,
}

impl Matrix {
    pub fn new(dt: DType, rows: usize, cols: usize, bytes: &[u8]) -> Matrix {
        let (s, o) = kernels_ref::quant::dequantize_parts(dt.name(), bytes);
        let w = s.iter().zip(&o).map(|(s, o)| s + o).collect();
        let wabs = s.iter().zip(&o).map(|(s, o)| s.abs() + o.abs()).collect();
        Matrix { rows, cols, w, wabs }
    }

    pub fn values(&self) -> &[f64] {
        &self.w
    }
}

/// One product `x·Wᵀ` per token, each `(n, rows)`: value, x's error carried through W, and
/// the natural scale `S = Σ(|scaled| + |offset|)·|x'|` of the kernel's own error.
fn product(x: &Bounded, w: &Matrix) -> (Vec<f64>, Vec<Err>, Vec<f64>) {
    let (c, n) = (w.cols, x.v.len() / w.cols);
    let mut out = (vec![0.0; n * w.rows], vec![Err::default(); n * w.rows], vec![0.0; n * w.rows]);
    for t in 0..n {
        let mag: Vec<f64> = (t * c..(t + 1) * c).map(|i| x.mag(i)).collect();
        let (xv, xe) = (&x.v[t * c..][..c], &x.err[t * c..][..c]);
        for r in 0..w.rows {
            let (wr, wa) = (&w.w[r * c..][..c], &w.wabs[r * c..][..c]);
            let (mut v, mut err, mut scale) = (0.0, Err::default(), 0.0);
            for k in 0..c {
                v += wr[k] * xv[k];
                err.carry(wr[k], xe[k]);
                scale += wa[k] * mag[k];
            }
            let i = t * w.rows + r;
            (out.0[i], out.1[i], out.2[i]) = (v, err, scale);
        }
    }
    out
}

/// `concat_j(x·W_jᵀ) (+ residual)`, with the MATMUL row against `S (+ |residual|)`.
pub fn matmul(x: &Bounded, ws: &[&Matrix], residual: Option<&Bounded>) -> Bounded {
    let n = x.v.len() / ws[0].cols;
    let total: usize = ws.iter().map(|w| w.rows).sum();
    let mut out = Bounded::exact(vec![0.0; n * total]);
    let mut col = 0;
    for w in ws {
        let (v, err, scale) = product(x, w);
        for t in 0..n {
            for r in 0..w.rows {
                let (i, o) = (t * w.rows + r, t * total + col + r);
                let (mut val, mut e, mut sc) = (v[i], err[i], scale[i]);
                if let Some(res) = residual {
                    (val, sc) = (val + res.v[o], sc + res.mag(o));
                    e.carry(1.0, res.err[o]);
                }
                e.source(tol::MATMUL.rtol * sc + tol::MATMUL.atol);
                (out.v[o], out.err[o]) = (val, e);
            }
        }
        col += w.rows;
    }
    out
}

/// `silu(x·Gᵀ) ⊙ (x·Uᵀ)`: Jacobian `silu'(g)·u` and `silu(g)`; remainder `¼·Δg²·|u'|`
/// (|silu''| ≤ 0.5) plus the product term `1.1·Δg·Δu`; and the MATMUL_GLU row against
/// `1.2·S_g·|u| + |silu(g)|·S_u + |r|` at their largest.
pub fn matmul_glu(x: &Bounded, gate: &Matrix, up: &Matrix) -> Bounded {
    let (g, eg, sg) = product(x, gate);
    let (u, eu, su) = product(x, up);
    let mut out = Bounded::exact(vec![0.0; g.len()]);
    for i in 0..g.len() {
        let (bg, bu) = (eg[i].bound(), eu[i].bound());
        let sig = 1.0 / (1.0 + (-g[i]).exp());
        let dsilu = sig * (1.0 + g[i] * (1.0 - sig));
        out.v[i] = silu(g[i]) * u[i];
        let (um, am) = (u[i].abs() + bu, silu(g[i]).abs() + tol::SILU_LIPSCHITZ * bg);
        let mut e = Err::default();
        e.carry(dsilu * u[i], eg[i]);
        e.carry(silu(g[i]), eu[i]);
        let own = tol::MATMUL_GLU.rtol * (1.2 * sg[i] * um + am * su[i] + am * um);
        e.source(own + tol::MATMUL_GLU.atol);
        e.remainder(0.25 * bg * bg * um + tol::SILU_LIPSCHITZ * bg * bu);
        out.err[i] = e;
    }
    out
}

/// RMSNorm of rows of `w.len()`: Jacobian `(w_i/r)·(δ_ij − x_i·x_j/(n·r²))` with
/// `n·r² = Σx² + n·eps`. With ε = rms(bound)/r (r moves by at most ε·r: rms is a norm and
/// `√(a² + eps)` 1-Lipschitz in a), 1/r moves by ε/(1 − ε) relative, so the linearisation
/// misses at most `|w|/r·(|x|·ε + b)·ε/(1 − ε)`. Plus the RMS_NORM row against |y'|.
pub fn rms_norm(x: &Bounded, w: &[f64], eps: f64) -> Bounded {
    let c = w.len();
    let mut out = Bounded::exact(kernels_ref::norm::rms_norm(&x.v, w, eps, c));
    for t in 0..x.v.len() / c {
        let (xr, er) = (&x.v[t * c..][..c], &x.err[t * c..][..c]);
        let nr2 = xr.iter().map(|a| a * a).sum::<f64>() + c as f64 * eps;
        let r = (nr2 / c as f64).sqrt();
        let eps_r = (er.iter().map(|e| e.bound().powi(2)).sum::<f64>() / c as f64).sqrt() / r;
        assert!(eps_r < 0.5, "rms_norm: input bound {eps_r}·rms is not a perturbation");
        // Σ_j over the cross terms, for the worst case and the proxy.
        let cross_e: f64 = xr.iter().zip(er).map(|(x, e)| x.abs() * e.e).sum();
        let cross_q: f64 = xr.iter().zip(er).map(|(x, e)| x * x * e.q).sum();
        for i in 0..c {
            let (o, k) = (t * c + i, w[i] / r);
            let (diag, cross) = (1.0 - xr[i] * xr[i] / nr2, xr[i] / nr2);
            let others =
                Err { e: cross_e - xr[i].abs() * er[i].e, q: cross_q - xr[i] * xr[i] * er[i].q };
            let mut e = Err::default();
            e.carry(k * diag, er[i]);
            e.carry(k * cross, others);
            let b = e.bound();
            e.source(tol::RMS_NORM.rtol * (out.v[o].abs() + b) + tol::RMS_NORM.atol);
            e.remainder(k.abs() * (xr[i].abs() * eps_r + er[i].bound()) * eps_r / (1.0 - eps_r));
            out.err[o] = e;
        }
    }
    out
}

/// RoPE (NORM pairing, all dims rotated): each output of a pair is `cos·x₀ ∓ sin·x₁`, so it
/// carries both inputs' errors with coefficients ≤ 1; plus the ROPE row against `|x₀| + |x₁|`.
pub fn rope(x: &Bounded, n_heads: usize, head: usize, pos: &[usize], base: f64) -> Bounded {
    let v = kernels_ref::rope::rope(&x.v, n_heads, head, pos, head, base, 1.0, false);
    let mut out = Bounded::exact(v);
    for i in (0..x.v.len()).step_by(2) {
        let mut e = Err::default();
        e.carry(1.0, x.err[i]);
        e.carry(1.0, x.err[i + 1]);
        e.source(tol::ROPE.rtol * (x.mag(i) + x.mag(i + 1)) + tol::ROPE.atol);
        (out.err[i], out.err[i + 1]) = (e, e);
    }
    out
}

/// K or V rows stored in the cache: the f16 store row (against |x'|) when it rounds.
pub fn store(x: &Bounded, s: Setup) -> Bounded {
    let mut out = x.clone();
    if let Some(t) = s.kv_store {
        for i in 0..x.v.len() {
            out.err[i].source(t.rtol * x.mag(i) + t.atol);
        }
    }
    out
}

/// Attention of `q` over caches `k`, `v` (`(kv_len, n_kv, head)`), linearised:
/// `Δout = Σ_j p_j·Δv_j + Σ_j p_j·(v_j − out)·Δs_j` with `Δs_j = scale·(Δq·k_j + q·Δk_j)`, Δq
/// shared by every key. With scores moved by at most B each p' is within e^{±2B} of p, so the
/// linearisation misses at most `(e^{2B} − 1 − 2B)·Σp·|v'| + (e^{2B} − 1)·Σp·b_v`; plus the
/// attention row against `Σ p'·|v'| ≤ e^{2B}·Σ p·|v'|`.
pub fn attention(q: &Bounded, k: &Bounded, v: &Bounded, p: AttentionParams, s: Setup) -> Bounded {
    let row = if s.kv_store.is_some() { tol::ATTENTION_F16 } else { tol::ATTENTION_F32 };
    let (d, nh, nkv) = (p.head_dim, p.n_heads, p.n_kv_heads);
    let mut out = Bounded::exact(ref_attention::attention(&q.v, &k.v, &v.v, p.clone()));
    let weighted = |f: &dyn Fn(usize) -> f64| {
        let vals: Vec<f64> = (0..v.v.len()).map(f).collect();
        ref_attention::attention_abs_scale(&q.v, &k.v, &vals, p.clone())
    };
    let (spread, vbound) = (weighted(&|i| v.mag(i)), weighted(&|i| v.bound(i)));
    for t in 0..p.n_tokens {
        for h in 0..nh {
            let (kvh, qo, keys) = (h / (nh / nkv), (t * nh + h) * d, p.q_positions[t] + 1);
            let ko = |j: usize| (j * nkv + kvh) * d;
            let dot = |j: usize| (0..d).map(|i| q.v[qo + i] * k.v[ko(j) + i]).sum::<f64>();
            let scores: Vec<f64> = (0..keys).map(|j| dot(j) * p.scale).collect();
            let top = scores.iter().copied().fold(f64::MIN, f64::max);
            let z: f64 = scores.iter().map(|s| (s - top).exp()).sum();
            let probs: Vec<f64> = scores.iter().map(|s| (s - top).exp() / z).collect();
            // B: the largest move of any score (worst case over keys, or the proxy's bound).
            let mut sb = Err::default();
            for e in 0..d {
                let kmax = (0..keys).map(|j| k.v[ko(j) + e].abs()).fold(0.0, f64::max);
                let kerr = (0..keys).map(|j| k.err[ko(j) + e]);
                let kerr =
                    kerr.fold(Err::default(), |a, b| Err { e: a.e.max(b.e), q: a.q.max(b.q) });
                sb.carry(p.scale * kmax, q.err[qo + e]);
                sb.carry(p.scale * q.v[qo + e], kerr);
            }
            let big = sb.bound();
            let growth = (2.0 * big).exp();
            for i in 0..d {
                let o = qo + i;
                let c: Vec<f64> =
                    (0..keys).map(|j| probs[j] * (v.v[ko(j) + i] - out.v[o])).collect();
                let mut e = Err::default();
                for (j, pj) in probs.iter().enumerate() {
                    e.carry(*pj, v.err[ko(j) + i]);
                }
                for f in 0..d {
                    let via_q: f64 = c.iter().enumerate().map(|(j, cj)| cj * k.v[ko(j) + f]).sum();
                    e.carry(p.scale * via_q, q.err[qo + f]);
                    for (j, cj) in c.iter().enumerate() {
                        e.carry(p.scale * cj * q.v[qo + f], k.err[ko(j) + f]);
                    }
                }
                e.source(row.rtol * growth * spread[o] + row.atol);
                e.remainder((growth - 1.0 - 2.0 * big) * spread[o] + (growth - 1.0) * vbound[o]);
                out.err[o] = e;
            }
        }
    }
    out
}
