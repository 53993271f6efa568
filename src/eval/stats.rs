//! Small statistics for reporting accuracies honestly.

/// The 95% Wilson score interval of an accuracy of `correct` out of `n` (for `n` = 0,
/// `(0, 1)`): unlike the normal approximation it stays inside 0-1 and is sound near 0%
/// and 100%. With 1,241 test questions it is about ±2.7 points around 37%.
pub fn wilson_interval(correct: usize, n: usize) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    const Z: f64 = 1.959_963_984_540_054; // the normal distribution's 97.5% quantile
    let (k, n) = (correct as f64, n as f64);
    let p = k / n;
    let d = 1.0 + Z * Z / n;
    let centre = (p + Z * Z / (2.0 * n)) / d;
    let half = Z * (p * (1.0 - p) / n + Z * Z / (4.0 * n * n)).sqrt() / d;
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

/// The exact two-sided McNemar p-value of a paired comparison where `only_a` questions are
/// right for A alone and `only_b` for B alone: `min(1, 2 P(X <= min(only_a, only_b)))` for
/// X ~ Binomial(only_a + only_b, 1/2) (the questions both or neither get right say nothing
/// about which is better). Summed in log space, so it does not underflow for thousands.
pub fn mcnemar_exact(only_a: usize, only_b: usize) -> f64 {
    let n = only_a + only_b;
    if n == 0 {
        return 1.0;
    }
    let m = only_a.min(only_b);
    // ln C(n, k) - n ln 2 for k = 0..=m, summed with the largest term factored out.
    let mut logs = Vec::with_capacity(m + 1);
    let mut ln_choose = 0.0f64;
    for k in 0..=m {
        if k > 0 {
            ln_choose += ((n - k + 1) as f64).ln() - (k as f64).ln();
        }
        logs.push(ln_choose - n as f64 * std::f64::consts::LN_2);
    }
    let top = logs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let tail = top.exp() * logs.iter().map(|l| (l - top).exp()).sum::<f64>();
    (2.0 * tail).min(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wilson_intervals_by_hand() {
        // p = k/n, d = 1 + z²/n, centre = (p + z²/2n)/d,
        // half = z·sqrt(p(1-p)/n + z²/4n²)/d; values worked out with z = 1.959964.
        let close = |(a, b): (f64, f64), (x, y): (f64, f64)| {
            assert!((a - x).abs() < 1e-9 && (b - y).abs() < 1e-9, "({a}, {b}) vs ({x}, {y})");
        };
        close(wilson_interval(460, 1241), (0.344234762357855, 0.397901075322149));
        close(wilson_interval(0, 10), (0.0, 0.2775327998628892));
        close(wilson_interval(10, 10), (0.7224672001371107, 1.0));
        close(wilson_interval(1, 2), (0.09453120573423074, 0.9054687942657693));
        close(wilson_interval(0, 0), (0.0, 1.0));
    }

    #[test]
    fn mcnemar_by_hand() {
        // 2 * sum_{k <= min} C(n, k) / 2^n, n = a + b; values from Python's exact integers
        // (scripts/compare-predictions.py).
        let close = |a: f64, b: f64| assert!((a - b).abs() < 1e-12 * b.max(1e-300), "{a} vs {b}");
        close(mcnemar_exact(10, 0), 0.001953125); // 2 / 2^10
        close(mcnemar_exact(0, 10), 0.001953125);
        close(mcnemar_exact(110, 65), 0.0008305791597672873);
        close(mcnemar_exact(229, 171), 0.004313728671487361);
        close(mcnemar_exact(700, 600), 0.0060157938610449525); // 2^-1300 underflows f64
        assert_eq!(mcnemar_exact(3, 3), 1.0);
        assert_eq!(mcnemar_exact(0, 0), 1.0);
    }
}
