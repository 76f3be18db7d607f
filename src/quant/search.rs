//! Scale searches of ggml's K-quant reference quantizers (ggml/src/ggml-quants.c): `nearest_int`,
//! `make_qx_quants` (Q6_K), `make_q3_quants` (Q3_K) and `make_qkx2_quants` (Q2_K, Q4_K, Q5_K).
//!
//! May use: nothing. Invariant: every float operation is an f32 operation in the order ggml's C
//! evaluates it (left to right, int operands converted to f32 first, no fused multiply-add), so
//! the chosen integers and scales, and hence the quantized bytes, are ggml's bit for bit.

/// A group whose largest magnitude is below this is all zeros (`GROUP_MAX_EPS`).
pub(super) const GROUP_MAX_EPS: f32 = 1e-15;

/// Round to nearest, ties to even, by adding 1.5·2^23 and reading the mantissa bits: ggml's
/// `nearest_int`, exact for |x| < 2^22. Larger or NaN inputs give the same garbage as ggml's
/// (its `assert` is compiled out in release builds), never a panic.
#[inline]
pub(super) fn nearest_int(x: f32) -> i32 {
    let v = x + 12_582_912.0;
    (v.to_bits() & 0x007f_ffff) as i32 - 0x0040_0000
}

/// Signed quants in `[-nmax, nmax)` for one group with weights `x²` (`make_qx_quants` with
/// `rmse_type = 1` and no importance weights): tries 19 scales around `-nmax / max` and keeps the
/// one with the best weighted fit. Writes `l[i] = q + nmax`; returns the scale.
pub(super) fn make_qx_quants(nmax: i32, x: &[f32], l: &mut [i8]) -> f32 {
    let (amax, max) = abs_max(x);
    if amax < GROUP_MAX_EPS {
        l.fill(0);
        return 0.0;
    }
    let fit = |iscale: f32| {
        let (mut sumlx, mut suml2) = (0.0f32, 0.0f32);
        for &xi in x {
            let q = nearest_int(iscale * xi).clamp(-nmax, nmax - 1) as f32;
            let w = xi * xi;
            sumlx += w * xi * q;
            suml2 += w * q * q;
        }
        (sumlx, suml2)
    };
    let store = |iscale: f32, l: &mut [i8]| {
        for (li, &xi) in l.iter_mut().zip(x) {
            *li = (nearest_int(iscale * xi).clamp(-nmax, nmax - 1) + nmax) as i8;
        }
    };
    let iscale = -(nmax as f32) / max;
    store(iscale, l);
    let (sumlx, suml2) = fit(iscale);
    let mut scale = if suml2 != 0.0 { sumlx / suml2 } else { 0.0 };
    let mut best = scale * sumlx;
    for is in (-9..=9).filter(|&is| is != 0) {
        let iscale = -(nmax as f32 + 0.1 * is as f32) / max;
        let (sumlx, suml2) = fit(iscale);
        if suml2 > 0.0 && sumlx * sumlx > best * suml2 {
            store(iscale, l);
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    scale
}

/// Signed quants in `[-nmax, nmax)` for one group (`make_q3_quants` with `do_rmse`): starts from
/// `-nmax / max`, then up to five passes move single quants while that improves the `x²`-weighted
/// fit. Writes `l[i] = q + nmax`; returns the scale.
pub(super) fn make_q3_quants(nmax: i32, x: &[f32], l: &mut [i8]) -> f32 {
    let (amax, max) = abs_max(x);
    if amax < GROUP_MAX_EPS {
        l.fill(0);
        return 0.0;
    }
    let iscale = -(nmax as f32) / max;
    let (mut sumlx, mut suml2) = (0.0f32, 0.0f32);
    for (li, &xi) in l.iter_mut().zip(x) {
        let q = nearest_int(iscale * xi).clamp(-nmax, nmax - 1);
        *li = q as i8;
        let w = xi * xi;
        sumlx += w * xi * q as f32;
        suml2 += w * q as f32 * q as f32;
    }
    for _ in 0..5 {
        let mut changed = false;
        for (li, &xi) in l.iter_mut().zip(x) {
            let w = xi * xi;
            let old = f32::from(*li);
            let mut slx = sumlx - w * xi * old;
            if slx > 0.0 {
                let mut sl2 = suml2 - w * old * old;
                let new_l = nearest_int(xi * sl2 / slx).clamp(-nmax, nmax - 1);
                if new_l != i32::from(*li) {
                    slx += w * xi * new_l as f32;
                    sl2 += w * new_l as f32 * new_l as f32;
                    if sl2 > 0.0 && slx * slx * suml2 > sumlx * sumlx * sl2 {
                        *li = new_l as i8;
                        sumlx = slx;
                        suml2 = sl2;
                        changed = true;
                    }
                }
            }
        }
        if !changed {
            break;
        }
    }
    for li in l.iter_mut() {
        *li += nmax as i8;
    }
    if suml2 > 0.0 { sumlx / suml2 } else { 0.0 }
}

/// Unsigned quants in `[0, nmax]` with a scale and a min (`make_qkx2_quants`): `x ≈ scale·l −
/// the_min`. Starts from the min/max range, then tries `nstep + 1` scales
/// `(nmax + rmin + rdelta·is) / range`, each with the least-squares scale and min for its quants,
/// keeping the lowest weighted error (absolute if `use_mad`, else squared). Groups are at most
/// 32 long. Returns `(scale, the_min)` with `the_min ≥ 0`.
#[allow(clippy::too_many_arguments)]
pub(super) fn make_qkx2_quants(
    nmax: i32,
    x: &[f32],
    weights: &[f32],
    l: &mut [u8],
    rmin: f32,
    rdelta: f32,
    nstep: i32,
    use_mad: bool,
) -> (f32, f32) {
    let mut min = x[0];
    let mut max = x[0];
    let mut sum_w = weights[0];
    let mut sum_x = sum_w * x[0];
    for (&xi, &w) in x.iter().zip(weights).skip(1) {
        if xi < min {
            min = xi;
        }
        if xi > max {
            max = xi;
        }
        sum_w += w;
        sum_x += w * xi;
    }
    if min > 0.0 {
        min = 0.0;
    }
    if max == min {
        l.fill(0);
        return (0.0, -min);
    }
    let err = |scale: f32, min: f32, q: &[u8]| {
        let mut e = 0.0f32;
        for ((&qi, &xi), &w) in q.iter().zip(x).zip(weights) {
            let diff = scale * f32::from(qi) + min - xi;
            e += w * if use_mad { diff.abs() } else { diff * diff };
        }
        e
    };
    let quantize_with = |iscale: f32, min: f32, q: &mut [u8]| {
        for (qi, &xi) in q.iter_mut().zip(x) {
            *qi = nearest_int(iscale * (xi - min)).clamp(0, nmax) as u8;
        }
    };
    let iscale = nmax as f32 / (max - min);
    let mut scale = 1.0 / iscale;
    quantize_with(iscale, min, l);
    let mut best_error = err(scale, min, l);
    if nstep < 1 {
        return (scale, -min);
    }
    let mut laux = [0u8; 32];
    let laux = &mut laux[..x.len()];
    for is in 0..=nstep {
        let iscale = (rmin + rdelta * is as f32 + nmax as f32) / (max - min);
        quantize_with(iscale, min, laux);
        let (mut sum_l, mut sum_l2, mut sum_xl) = (0.0f32, 0.0f32, 0.0f32);
        for ((&qi, &xi), &w) in laux.iter().zip(x).zip(weights) {
            let q = f32::from(qi);
            sum_l += w * q;
            sum_l2 += w * q * q;
            sum_xl += w * q * xi;
        }
        let det = sum_w * sum_l2 - sum_l * sum_l;
        if det > 0.0 {
            let mut this_scale = (sum_w * sum_xl - sum_x * sum_l) / det;
            let mut this_min = (sum_l2 * sum_x - sum_l * sum_xl) / det;
            if this_min > 0.0 {
                this_min = 0.0;
                this_scale = sum_xl / sum_l2;
            }
            let cur_error = err(this_scale, this_min, laux);
            if cur_error < best_error {
                l.copy_from_slice(laux);
                best_error = cur_error;
                scale = this_scale;
                min = this_min;
            }
        }
    }
    (scale, -min)
}

/// The largest magnitude and the signed value that has it (the first one on ties).
fn abs_max(x: &[f32]) -> (f32, f32) {
    let (mut amax, mut max) = (0.0f32, 0.0f32);
    for &xi in x {
        if xi.abs() > amax {
            amax = xi.abs();
            max = xi;
        }
    }
    (amax, max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_int_ties_to_even() {
        let cases = [(0.5, 0), (1.5, 2), (2.5, 2), (-0.5, 0), (-1.5, -2), (3.49, 3), (-7.6, -8)];
        for (x, want) in cases {
            assert_eq!(nearest_int(x), want, "{x}");
        }
    }

    #[test]
    fn zero_groups_give_zero_scale_and_quants() {
        let x = [0.0f32; 16];
        let mut l = [7i8; 16];
        assert_eq!(make_qx_quants(32, &x, &mut l), 0.0);
        assert_eq!(l, [0; 16]);
        l = [7; 16];
        assert_eq!(make_q3_quants(4, &x, &mut l), 0.0);
        assert_eq!(l, [0; 16]);
        let mut lu = [7u8; 16];
        assert_eq!(make_qkx2_quants(3, &x, &[1.0; 16], &mut lu, -0.5, 0.1, 15, true), (0.0, 0.0));
        assert_eq!(lu, [0; 16]);
    }

    #[test]
    fn exact_grids_are_found() {
        // x = 0.25·(q − 4) for q = 0..7 is representable exactly: the search must reproduce it.
        let x: Vec<f32> = (0..16).map(|i| 0.25 * ((i % 8) as f32 - 4.0)).collect();
        let mut l = [0i8; 16];
        let scale = make_q3_quants(4, &x, &mut l);
        for (li, xi) in l.iter().zip(&x) {
            assert_eq!(scale * f32::from(li - 4), *xi);
        }
        // Unsigned with a min: x = 0.5·q − 1 for q = 0..15.
        let x: Vec<f32> = (0..32).map(|i| 0.5 * (i % 16) as f32 - 1.0).collect();
        let mut lu = [0u8; 32];
        let (scale, the_min) = make_qkx2_quants(15, &x, &[1.0; 32], &mut lu, -1.0, 0.1, 20, false);
        for (li, xi) in lu.iter().zip(&x) {
            assert!((scale * f32::from(*li) - the_min - xi).abs() < 1e-6, "{li} {xi}");
        }
    }
}
