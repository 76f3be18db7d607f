//! The one tolerance table, grounded in WGSL's precision rules and in f32 rounding analysis,
//! never in what lavapipe happens to pass. `u = 2^-24`.
//!
//! WGSL facts used (W3C WGSL spec): f32 `+`, `−`, `×` are correctly rounded, `inverseSqrt` is
//! within 2 ULP and `exp(x)` within 3 + 2·|x| ULP (§ Floating Point Accuracy,
//! <https://www.w3.org/TR/WGSL/#floating-point-accuracy>); an implementation may reassociate and
//! fuse operations (<https://www.w3.org/TR/WGSL/#reassociation-and-fusion>), so an `a·b + c` may
//! round once or twice; a value converted to f16 that is not representable may become either
//! neighbour (<https://www.w3.org/TR/WGSL/#floating-point-conversion>). The derivations per row
//! follow the team's research notes (`../shared/research/kernels-brief.md` §6.3, outside this
//! repository), which cite the same sections and gpuweb's CTS interval code.

/// Per-element bound `|g − r| ≤ atol + rtol · scale` plus an NMSE ceiling.
#[derive(Debug, Clone, Copy)]
pub struct Tol {
    pub atol: f64,
    pub rtol: f64,
    pub nmse: f64,
}

/// Exact: dequantization of F32/F16/BF16/Q4_0/Q5_0/Q8_0/Q3_K/Q6_K (every product `d·sc·q` fits
/// an f32 significand), copies, argmax indices.
pub const EXACT: Tol = Tol { atol: 0.0, rtol: 0.0, nmse: 0.0 };

/// One rounding of f32 (2u relative covers FMA contraction choosing the other neighbour):
/// dequantization with a `+ m` or `− dmin·m` term (Q4_1, Q5_1, Q2_K, Q4_K, Q5_K), add, mul.
pub const ONE_ROUNDING: Tol = Tol { atol: 0.0, rtol: 1.2e-7, nmse: 1e-13 };

/// Dot products in f32 with serial runs of at most K/WG terms plus a log2 tree, against
/// Σ|w·x|: (K/256 + 8)·u ≈ 4e-6 at K = 16384.
pub const MATMUL: Tol = Tol { atol: 0.0, rtol: 1e-5, nmse: 1e-9 };

/// Fused matmul + GLU, `act(g)·u` with g and u from f32 dot products. The harness passes the
/// scale `1.2·S_g·|u| + |act(g)|·S_u + |r|` (S = Σ|w·x| of each product): each product's
/// MATMUL error carried through |act'| ≤ 1.13 (silu 1.10, gelu_tanh 1.13) or |act(g)|, plus
/// the activation's own exp error, GLU's 1e-5·|r| and absolute floor.
pub const MATMUL_GLU: Tol = Tol { atol: 1e-7, rtol: 1e-5, nmse: 1e-9 };

/// RMSNorm: f32 sum of squares and inverseSqrt (2 ulp), relative to |r|, plus a tiny absolute
/// floor for elements near zero.
pub const RMS_NORM: Tol = Tol { atol: 1e-7, rtol: 1e-5, nmse: 1e-10 };

/// RoPE from an f64-built table: table rounding plus two products and an add, relative to
/// |x0| + |x1| of the pair (the harness passes that as the scale).
pub const ROPE: Tol = Tol { atol: 0.0, rtol: 4.0 * 6e-8, nmse: 1e-12 };

/// Per-head RMSNorm then RoPE of the normed values (one fused kernel on wgpu), relative to
/// `|n0| + |n1|` of the pair in the normed reference: the norm's error passes through the
/// rotation with gain ≤ 1 per component (`|c·e0 − s·e1| ≤ |e0| + |e1|`), each of the pair's two
/// elements adding RMS_NORM's atol; RoPE adds its own rtol of its (1 + RMS_NORM.rtol)-perturbed
/// input. NMSE: a rotation keeps each pair's energy, so the two NMSEs add as
/// `(√1e-10 + √1e-12)² = 1.21e-10`.
pub const RMS_NORM_THEN_ROPE: Tol = Tol {
    atol: 2.0 * RMS_NORM.atol,
    rtol: RMS_NORM.rtol + ROPE.rtol * (1.0 + RMS_NORM.rtol),
    nmse: 1.21e-10,
};

/// SwiGLU/GeGLU with `exp` (WGSL: 3 + 2|x| ulp): relative 1e-5 of |r| plus 1e-7 of |up|.
pub const GLU: Tol = Tol { atol: 1e-7, rtol: 1e-5, nmse: 1e-10 };

/// Softmax: relative 1e-5 of r plus 1e-7 absolute.
pub const SOFTMAX: Tol = Tol { atol: 1e-7, rtol: 1e-5, nmse: 1e-10 };

/// Attention with f32 KV, against Σ_j p_j·|v_j|.
pub const ATTENTION_F32: Tol = Tol { atol: 0.0, rtol: 1e-5, nmse: 1e-9 };

/// Attention with f16 KV, against a reference built from f16-rounded K and V.
pub const ATTENTION_F16: Tol = Tol { atol: 0.0, rtol: 1e-5, nmse: 1e-9 };

/// Storing an f32 result in an f16 KV cache, on top of the kernel's own error, on wgpu: WGSL lets
/// the f32 → f16 conversion pick either neighbour, so one f16 ulp: 2^-10 relative to |r| for
/// normal values, 2^-24 absolute in the subnormal range. NMSE: (2^-10)² ≈ 9.5e-7.
pub const KV_F16_STORE_GPU: Tol = Tol { atol: 1.0 / 16_777_216.0, rtol: 1.0 / 1024.0, nmse: 1e-6 };

/// The same on the CPU, which rounds to nearest even (the half crate): half an ulp. NMSE: a
/// uniform error of ±½ ulp ≤ 2^-11·|r| has mean square ≤ (2^-10)²/12 ≈ 8e-8.
pub const KV_F16_STORE_CPU: Tol = Tol { atol: 1.0 / 33_554_432.0, rtol: 1.0 / 2048.0, nmse: 1e-7 };

/// A kernel's bound (`kernel`, against per-element `scale`) followed by a store into an f16
/// cache (`store`, relative to |r|), as one `Tol` (rtol 1) and the summed per-element bounds.
pub fn then_stored(kernel: Tol, store: Tol, scale: &[f64], want: &[f64]) -> (Tol, Vec<f64>) {
    let bound = scale.iter().zip(want).map(|(s, r)| kernel.rtol * s + store.rtol * r.abs());
    let tol = Tol { atol: kernel.atol + store.atol, rtol: 1.0, nmse: kernel.nmse + store.nmse };
    (tol, bound.collect())
}

/// `max |silu'(x)| = 1.0998` (at x ≈ 2.40), so silu is 1.1-Lipschitz.
pub const SILU_LIPSCHITZ: f64 = 1.1;

/// Whole-model logits (tests/synthetic_llama.rs), wgpu tiers. Per element there is no constant:
/// the test's reference carries, next to every value, a worst case `e` and the sum `q` of the
/// squared bounds of the independent error sources (each op's own error per its row above,
/// each f16 KV store), both carried through the model's Jacobian with the linearisation's
/// remainders added (synthetic_llama/bounded.rs; probabilistic rounding error analysis,
/// Higham & Mary 2019). By Hoeffding's inequality `P(|g − r| > λ·√q) ≤ 2·exp(−λ²/2)`: 4.6e-11
/// per value at λ = 7, so below 1e-4 even summed over every value the
/// reference bounds (a union bound). The test asserts
/// `|g − r| ≤ min(e, λ·√q)`; two tiers, whose errors come from disjoint sources, agree within
/// `min(e₁ + e₂, λ·√(q₁ + q₂))`.
///
/// The CPU backend has no per-element bound: it rounds matmul activations to 8-bit blocks
/// (steps of about 2% of a row's rms), and an input known only to within its bound may round
/// either way at every element near a step, so the same derivation grows past the logits
/// themselves within one layer. Its checks are the NMSE ceiling and the greedy token.
pub const MODEL_LAMBDA: f64 = 7.0;

/// Whole-model NMSE ceilings, the statistical check on top: 1e-5 where every op is f32 (the
/// research notes' whole-model row, §6.3), 2e-3 where KV is stored in f16 or activations are
/// 8-bit (llama.cpp's `test_llm` bound, tests/test-backend-ops.cpp). Two backends against each
/// other, through the triangle inequality: `(√N₁ + √N₂)²`.
pub const MODEL_NMSE_F32: f64 = 1e-5;
pub const MODEL_NMSE_QUANT: f64 = 2e-3;
