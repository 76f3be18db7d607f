// tanh(x) for soft-capping (c·tanh(s/c)), accurate for every x: WGSL specifies tanh only
// through sinh/cosh, which overflow for large |x| and cancel near 0 on some implementations.
// Near 0 (|x| < 0.35) a Taylor series to x^11 (truncation < 2e-8 relative); elsewhere
// (1 − e)/(1 + e) with e = exp(−2|x|) ≤ 0.5, which never overflows and loses under one bit to cancellation.
// Used by attention.wgsl; the CPU backend uses f32::tanh.
fn tanh_robust(x: f32) -> f32 {
    let a = abs(x);
    if a < 0.35 {
        let x2 = x * x;
        return x * (1.0 + x2 * (-1.0 / 3.0 + x2 * (2.0 / 15.0 + x2 * (-17.0 / 315.0
            + x2 * (62.0 / 2835.0 + x2 * (-1382.0 / 155925.0))))));
    }
    let e = exp(-2.0 * a);
    return sign(x) * (1.0 - e) / (1.0 + e);
}
