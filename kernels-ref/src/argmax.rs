//! Argmax over logits (greedy sampling): the oracle for the `argmax` kernel.
//!
//! Uses nothing. Invariant: the result is fully determined — ties go to the lowest index and NaN
//! counts as −∞ — so a kernel can be required to match it exactly.

/// Index of the largest value. Ties go to the LOWEST index (the NumPy/PyTorch convention;
/// llama.cpp's WGSL argmax keeps the highest, kernels-brief §2.11, so do not copy it). NaN is
/// treated as −∞: it never beats a number, and an all-NaN or all-−∞ row returns 0.
/// Panics on an empty slice.
pub fn argmax(x: &[f64]) -> usize {
    assert!(!x.is_empty(), "kernels-ref: argmax of an empty slice");
    let value = |v: f64| if v.is_nan() { f64::NEG_INFINITY } else { v };
    let mut best = 0;
    for i in 1..x.len() {
        if value(x[i]) > value(x[best]) {
            best = i;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clear_maximum() {
        assert_eq!(argmax(&[0.5, -1.0, 3.0, 2.9]), 2);
        assert_eq!(argmax(&[7.0]), 0);
    }

    #[test]
    fn ties_go_to_the_lowest_index() {
        assert_eq!(argmax(&[1.0, 3.0, 2.0, 3.0, 3.0]), 1);
        assert_eq!(argmax(&[0.0; 5]), 0);
        assert_eq!(argmax(&[f64::INFINITY, 1.0, f64::INFINITY]), 0);
        assert_eq!(argmax(&[-0.0, 0.0]), 0); // −0 == +0
    }

    #[test]
    fn nan_counts_as_minus_infinity() {
        let nan = f64::NAN;
        assert_eq!(argmax(&[nan, -1e30, nan]), 1);
        assert_eq!(argmax(&[nan, nan]), 0);
        assert_eq!(argmax(&[f64::NEG_INFINITY, nan, f64::NEG_INFINITY]), 0);
        assert_eq!(argmax(&[2.0, nan, 5.0]), 2);
    }
}
