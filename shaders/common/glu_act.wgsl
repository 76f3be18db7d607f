// Gated activations act(g)·u on four lanes at once, shared by glu.wgsl (which uses lane x)
// and glu_vec4.wgsl. Both are sigmoid forms g / (1 + e^t), so nothing cancels for negative g
// (research/kernels-brief.md §2.8):
//   ACT 0, SiLU:       t = −g
//   ACT 1, GELU tanh:  t = −2v, v = √(2/π)·(g + 0.044715·g³), since 0.5·(1 + tanh v) = 1/(1 + e^−2v)
// Reference: kernels-ref/src/elementwise.rs (silu, gelu_tanh).

override ACT: u32 = 0u;

const SQRT_2_OVER_PI: f32 = 0.7978845608028654;

// e^88 ≈ 1.65e38 < f32::MAX < e^89. Past t = 88 the sigmoid is below 6e-39 and the result is
// taken as g·0 = ±0; WGSL leaves an overflow to ∞ indeterminate, so exp never sees more.
const EXP_MAX: f32 = 88.0;

// Keeps g³ finite. The clamp changes no result: from g = 10 up the sigmoid rounds to 1, and
// from g = −11 down t > EXP_MAX already.
const GELU_CLAMP: f32 = 100.0;

fn glu4(g: vec4<f32>, u: vec4<f32>) -> vec4<f32> {
    var t = -g;
    if ACT == 1u {
        let gc = clamp(g, vec4<f32>(-GELU_CLAMP), vec4<f32>(GELU_CLAMP));
        t = -2.0 * SQRT_2_OVER_PI * (gc + 0.044715 * gc * gc * gc);
    }
    let s = g / (1.0 + exp(min(t, vec4<f32>(EXP_MAX))));
    // Signed zero where the sigmoid underflows (t > EXP_MAX): the exact limit g·0.
    return select(s, g * 0.0, t > vec4<f32>(EXP_MAX)) * u;
}
