//! Unit tests of the sampling chain: each stage against a brute-force statement of its rule,
//! the draw against softmax with a chi-square test, and determinism per seed.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::candidates::{Candidate, order};
use super::{Sampler, SamplerParams};
use crate::error::Error;

/// Every filter off, temperature 1: a plain softmax draw.
fn plain(seed: u64) -> SamplerParams {
    SamplerParams {
        temperature: 1.0,
        top_k: 0,
        top_p: 1.0,
        min_p: 0.0,
        repeat_penalty: 1.0,
        repeat_last_n: 64,
        seed: Some(seed),
    }
}

fn sampler(p: SamplerParams) -> Sampler {
    Sampler::new(p).expect("test params are valid")
}

fn random_logits(rng: &mut ChaCha8Rng, n: usize, coarse: bool) -> Vec<f32> {
    (0..n)
        .map(|_| {
            let x = (rng.next_u32() as f32 / u32::MAX as f32) * 20.0 - 10.0;
            // Coarse logits repeat often, which exercises tie-breaking.
            if coarse { (x * 0.5).round() } else { x }
        })
        .collect()
}

fn ids(c: &[Candidate]) -> Vec<u32> {
    let mut v: Vec<u32> = c.iter().map(|c| c.id).collect();
    v.sort_unstable();
    v
}

/// Softmax in f64 of `logits / temperature`.
fn softmax(logits: &[f32], temperature: f64) -> Vec<f64> {
    let max = logits.iter().fold(f32::NEG_INFINITY, |m, &l| m.max(l)) as f64;
    let w: Vec<f64> = logits.iter().map(|&l| ((l as f64 - max) / temperature).exp()).collect();
    let s: f64 = w.iter().sum();
    w.iter().map(|x| x / s).collect()
}

#[test]
fn greedy_ties_go_to_the_lowest_index() {
    let mut s = sampler(SamplerParams::greedy());
    assert_eq!(s.sample(&mut [1.0, 3.0, -2.0, 3.0]).unwrap(), 1);
    assert_eq!(s.sample(&mut [f32::NEG_INFINITY, -5.0, -5.0]).unwrap(), 1);
    // -0.0 and 0.0 compare equal, so the lower index wins.
    assert_eq!(s.sample(&mut [-1.0, -0.0, 0.0]).unwrap(), 1);
    assert_eq!(s.sample(&mut [-1.0, 0.0, -0.0]).unwrap(), 1);
    assert!(s.is_plain_greedy());
}

#[test]
fn top_k_1_equals_greedy() {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let mut greedy = sampler(SamplerParams::greedy());
    for round in 0..200 {
        let coarse = round % 2 == 0;
        let logits = random_logits(&mut rng, 1 + round * 7, coarse);
        let mut s = sampler(SamplerParams { top_k: 1, ..plain(round as u64) });
        let want = greedy.sample(&mut logits.clone()).unwrap();
        assert_eq!(s.sample(&mut logits.clone()).unwrap(), want, "round {round}");
    }
}

#[test]
fn top_k_keeps_the_k_largest_sorted() {
    let mut rng = ChaCha8Rng::seed_from_u64(8);
    let logits = random_logits(&mut rng, 3000, true);
    let mut all: Vec<Candidate> =
        logits.iter().enumerate().map(|(i, &l)| Candidate { id: i as u32, logit: l }).collect();
    all.sort_by(order);
    for k in [1, 2, 40, 999, 2999, 3000, 5000] {
        let got = sampler(SamplerParams { top_k: k, ..plain(0) }).filtered(&logits);
        let want = &all[..(k as usize).min(all.len())];
        if (k as usize) < logits.len() {
            assert_eq!(got, want, "k={k}: the k best, in order");
        } else {
            assert_eq!(ids(&got), ids(want), "k={k}: nothing removed");
        }
    }
}

/// Brute force: sort everything, keep the shortest prefix whose mass reaches p.
fn top_p_reference(logits: &[f32], p: f32) -> Vec<u32> {
    let probs = softmax(logits, 1.0);
    let mut idx: Vec<usize> = (0..logits.len()).collect();
    idx.sort_by(|&a, &b| {
        order(
            &Candidate { id: a as u32, logit: logits[a] },
            &Candidate { id: b as u32, logit: logits[b] },
        )
    });
    let mut cum = 0.0;
    let mut out = Vec::new();
    for i in idx {
        out.push(i as u32);
        cum += probs[i];
        if cum >= p as f64 {
            break;
        }
    }
    out.sort_unstable();
    out
}

#[test]
fn top_p_keeps_the_smallest_set_reaching_p() {
    // Probabilities 0.05, 0.5, 0.15, 0.3 at ids 0..4.
    let logits: Vec<f32> = [0.05f32, 0.5, 0.15, 0.3].iter().map(|p| p.ln()).collect();
    let keep = |p: f32| {
        let kept = sampler(SamplerParams { top_p: p, ..plain(0) }).filtered(&logits);
        assert!(kept.windows(2).all(|w| order(&w[0], &w[1]).is_lt()), "kept set is sorted");
        ids(&kept)
    };
    assert_eq!(keep(0.45), vec![1]);
    assert_eq!(keep(0.75), vec![1, 3]);
    assert_eq!(keep(0.85), vec![1, 2, 3]);
    assert_eq!(keep(0.99), vec![0, 1, 2, 3]);

    // Random vocabularies, small (sorted in place) and large (prefix of 256, then the
    // fallback full sort when the 256 best hold less than p).
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    // The flat vocabulary (scale 0) has a size no p below lands exactly on a token boundary,
    // where rounding alone would decide.
    for (n, scale) in [(50, 1.0f32), (5000, 1.0), (5000, 0.05), (20_011, 0.0)] {
        let logits: Vec<f32> =
            random_logits(&mut rng, n, false).iter().map(|l| l * scale).collect();
        for p in [0.1f32, 0.5, 0.9, 0.95] {
            let got = ids(&sampler(SamplerParams { top_p: p, ..plain(0) }).filtered(&logits));
            let want = top_p_reference(&logits, p);
            assert!(
                got == want,
                "n={n} scale={scale} p={p}: kept {} tokens, expected {}; first differences {:?}",
                got.len(),
                want.len(),
                got.iter().zip(&want).filter(|(a, b)| a != b).take(5).collect::<Vec<_>>()
            );
        }
    }
}

#[test]
fn min_p_threshold_is_relative_to_the_top_probability() {
    // Relative probabilities 0.09, 1, 0.5, 0.11, 0.2, 0.01: min_p 0.1 drops ids 0 and 5.
    let rel = [0.09f32, 1.0, 0.5, 0.11, 0.2, 0.01];
    let logits: Vec<f32> = rel.iter().map(|p| (p * 0.3).ln()).collect();
    let unsorted = sampler(SamplerParams { min_p: 0.1, ..plain(0) }).filtered(&logits);
    assert_eq!(ids(&unsorted), vec![1, 2, 3, 4]);
    // Same rule on the sorted path (top-k 5 drops id 5 and sorts the rest).
    let sorted = sampler(SamplerParams { min_p: 0.1, top_k: 5, ..plain(0) }).filtered(&logits);
    assert_eq!(sorted.iter().map(|c| c.id).collect::<Vec<_>>(), vec![1, 2, 4, 3]);
    // min_p 1 keeps only the top token (and its ties).
    let top = sampler(SamplerParams { min_p: 1.0, ..plain(0) }).filtered(&[0.0, 2.0, 2.0, 1.0]);
    assert_eq!(ids(&top), vec![1, 2]);
}

#[test]
fn repeat_penalty_divides_positive_and_multiplies_negative_logits() {
    let params = SamplerParams { repeat_penalty: 2.0, repeat_last_n: 3, ..SamplerParams::greedy() };
    let mut s = sampler(params);
    for t in [9, 0, 1, 2, 0] {
        s.accept(t); // 9 leaves the window of 3; 0 twice still counts once
    }
    assert_eq!(s.history.tokens().collect::<Vec<_>>(), vec![1, 2, 0]);
    let mut logits = [2.0f32, -2.0, 0.0, 1.5, 7.0];
    s.sample(&mut logits).unwrap();
    assert_eq!(logits, [1.0, -4.0, 0.0, 1.5, 7.0]);
    // The penalty changes the argmax: 3 beats the penalised 0.
    let mut logits = [2.0f32, -2.0, 0.0, 1.5];
    assert_eq!(s.sample(&mut logits).unwrap(), 3);
    assert!(!s.is_plain_greedy());
    s.reset();
    let mut logits = [2.0f32, -2.0, 0.0, 1.5];
    assert_eq!(s.sample(&mut logits).unwrap(), 0, "reset forgets the history");
}

/// Draws `n` tokens and checks the counts against `probs` with Pearson's chi-square. The bound is
/// the 0.999 quantile for the degrees of freedom, so a correct sampler fails with probability
/// 0.001 — and the seed is fixed, so it either always passes or always fails.
fn chi_square(s: &mut Sampler, logits: &[f32], probs: &[f64], n: usize, bound: f64) {
    let mut counts = vec![0usize; logits.len()];
    for _ in 0..n {
        counts[s.sample(&mut logits.to_vec()).unwrap() as usize] += 1;
    }
    let mut chi2 = 0.0;
    for (i, (&c, &p)) in counts.iter().zip(probs).enumerate() {
        if p == 0.0 {
            assert_eq!(c, 0, "token {i} has probability 0 but was drawn {c} times");
            continue;
        }
        let e = p * n as f64;
        chi2 += (c as f64 - e).powi(2) / e;
    }
    assert!(chi2 < bound, "chi-square {chi2:.2} >= {bound} (counts {counts:?}, probs {probs:?})");
}

#[test]
fn draws_follow_the_softmax_probabilities() {
    let logits = [0.0f32, 1.0, 2.0, -1.0, 0.5, 3.0, -3.0, 1.5, 0.25, 2.5];
    // 9 degrees of freedom: chi-square 0.999 quantile 27.88.
    chi_square(&mut sampler(plain(42)), &logits, &softmax(&logits, 1.0), 200_000, 27.88);

    // Top-k 4 then temperature 0.7: the four best renormalised at 1/0.7, the rest never.
    let mut s = sampler(SamplerParams { top_k: 4, temperature: 0.7, ..plain(43) });
    let kept = [2usize, 5, 7, 9];
    let kept_logits: Vec<f32> = kept.iter().map(|&i| logits[i]).collect();
    let kept_probs = softmax(&kept_logits, 0.7);
    let mut probs = vec![0.0; logits.len()];
    for (&i, &p) in kept.iter().zip(&kept_probs) {
        probs[i] = p;
    }
    // 3 degrees of freedom: 0.999 quantile 16.27.
    chi_square(&mut s, &logits, &probs, 100_000, 16.27);
}

#[test]
fn same_seed_same_tokens() {
    let mut rng = ChaCha8Rng::seed_from_u64(10);
    let steps: Vec<Vec<f32>> = (0..100).map(|_| random_logits(&mut rng, 1000, false)).collect();
    let run = |s: &mut Sampler| -> Vec<u32> {
        steps.iter().map(|l| s.sample(&mut l.clone()).unwrap()).collect()
    };
    let params = SamplerParams { top_k: 0, top_p: 1.0, min_p: 0.0, ..SamplerParams::default() };
    let a = run(&mut sampler(SamplerParams { seed: Some(1), ..params.clone() }));
    let b = run(&mut sampler(SamplerParams { seed: Some(1), ..params.clone() }));
    let c = run(&mut sampler(SamplerParams { seed: Some(2), ..params.clone() }));
    assert_eq!(a, b);
    assert_ne!(a, c, "another seed gives other tokens");

    // A clock seed is reported, and passing it back repeats the run; reset repeats it too.
    let mut d = sampler(SamplerParams { seed: None, ..params.clone() });
    let first = run(&mut d);
    d.reset();
    assert_eq!(run(&mut d), first);
    let again = run(&mut sampler(SamplerParams { seed: Some(d.seed()), ..params }));
    assert_eq!(again, first);
}

#[test]
fn large_vocabulary_reuses_its_buffer() {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let logits = random_logits(&mut rng, 262_144, false);
    let mut top: Vec<u32> = (0..logits.len() as u32).collect();
    top.sort_by(|&a, &b| logits[b as usize].total_cmp(&logits[a as usize]));
    let mut s = sampler(SamplerParams { seed: Some(3), ..SamplerParams::default() });
    let t = s.sample(&mut logits.clone()).unwrap();
    assert!(top[..40].contains(&t), "default top-k 40 keeps only the 40 best");
    let (ptr, cap) = (s.candidates.as_ptr(), s.candidates.capacity());
    for _ in 0..5 {
        s.sample(&mut logits.clone()).unwrap();
    }
    assert_eq!((s.candidates.as_ptr(), s.candidates.capacity()), (ptr, cap), "no reallocation");
    // top-p without top-k on the full vocabulary takes the adaptive-prefix path.
    let mut s = sampler(SamplerParams { top_k: 0, min_p: 0.0, ..plain(4) });
    s.params.top_p = 0.9;
    let t = s.sample(&mut logits.clone()).unwrap();
    assert!(top_p_reference(&logits, 0.9).binary_search(&t).is_ok());
}

#[test]
fn bad_params_name_the_field() {
    let cases: [(SamplerParams, &str); 8] = [
        (SamplerParams { temperature: f32::NAN, ..Default::default() }, "temperature"),
        (SamplerParams { temperature: f32::INFINITY, ..Default::default() }, "temperature"),
        (SamplerParams { top_p: 0.0, ..Default::default() }, "top_p"),
        (SamplerParams { top_p: 1.5, ..Default::default() }, "top_p"),
        (SamplerParams { top_p: f32::NAN, ..Default::default() }, "top_p"),
        (SamplerParams { min_p: -0.1, ..Default::default() }, "min_p"),
        (SamplerParams { repeat_penalty: 0.0, ..Default::default() }, "repeat_penalty"),
        (SamplerParams { repeat_penalty: -1.0, ..Default::default() }, "repeat_penalty"),
    ];
    for (params, field) in cases {
        match Sampler::new(params) {
            Err(Error::InvalidArgument(msg)) => assert!(msg.contains(field), "{msg}"),
            other => panic!("{field}: expected InvalidArgument, got {other:?}"),
        }
    }
    // Disabled values are valid: negative top_k, temperature <= 0, min_p 0, penalty 1.
    let ok = SamplerParams { top_k: -5, temperature: -1.0, min_p: 0.0, ..Default::default() };
    assert!(Sampler::new(ok).is_ok());
}

#[test]
fn bad_logits_are_errors_not_tokens() {
    for params in [SamplerParams::greedy(), plain(0)] {
        let mut s = sampler(params);
        assert!(matches!(s.sample(&mut []), Err(Error::InvalidArgument(_))));
        let e = s.sample(&mut [0.0, f32::NAN]).unwrap_err().to_string();
        assert!(e.contains("token 1") && e.contains("NaN"), "{e}");
        assert!(s.sample(&mut [0.0, f32::INFINITY]).is_err());
        let e = s.sample(&mut [f32::NEG_INFINITY; 3]).unwrap_err().to_string();
        assert!(e.contains("banned"), "{e}");
        // Banned tokens are never drawn.
        for _ in 0..100 {
            assert_eq!(s.sample(&mut [f32::NEG_INFINITY, 0.0, f32::NEG_INFINITY]).unwrap(), 1);
        }
    }
}
