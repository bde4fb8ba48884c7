//! Summary statistics of latency samples.

use serde::{Deserialize, Serialize};

/// min / p50 / p95 / max / mean of a set of samples, in milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Timing {
    pub n: usize,
    pub min_ms: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub max_ms: f64,
    pub mean_ms: f64,
}

impl Timing {
    /// `None` without samples.
    pub fn of(samples: &[f64]) -> Option<Timing> {
        let mut sorted: Vec<f64> = samples.iter().copied().filter(|s| s.is_finite()).collect();
        if sorted.is_empty() {
            return None;
        }
        sorted.sort_by(f64::total_cmp);
        Some(Timing {
            n: sorted.len(),
            min_ms: sorted[0],
            p50_ms: percentile(&sorted, 50.0),
            p95_ms: percentile(&sorted, 95.0),
            max_ms: sorted[sorted.len() - 1],
            mean_ms: sorted.iter().sum::<f64>() / sorted.len() as f64,
        })
    }
}

/// The `p`-th percentile of sorted samples, interpolating linearly between
/// the closest ranks (NumPy's default, "type 7"): with 5 samples p50 is the
/// 3rd, p95 lies 80 % of the way from the 4th to the 5th.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    match sorted.len() {
        0 => f64::NAN,
        1 => sorted[0],
        n => {
            let rank = (p.clamp(0.0, 100.0) / 100.0) * (n - 1) as f64;
            let low = rank.floor() as usize;
            let high = rank.ceil() as usize;
            sorted[low] + (sorted[high] - sorted[low]) * (rank - low as f64)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_interpolate_between_ranks() {
        let s = [1.0, 2.0, 3.0, 4.0, 5.0];
        assert_eq!(percentile(&s, 50.0), 3.0);
        assert!((percentile(&s, 95.0) - 4.8).abs() < 1e-9);
        assert_eq!(percentile(&s, 0.0), 1.0);
        assert_eq!(percentile(&s, 100.0), 5.0);
        assert_eq!(percentile(&[1.0, 2.0], 50.0), 1.5);
        assert_eq!(percentile(&[7.0], 95.0), 7.0);
        assert!(percentile(&[], 50.0).is_nan());
    }

    #[test]
    fn timing_sorts_and_summarizes() {
        let t = Timing::of(&[30.0, 10.0, 20.0, 50.0, 40.0]).unwrap();
        assert_eq!((t.n, t.min_ms, t.p50_ms, t.max_ms, t.mean_ms), (5, 10.0, 30.0, 50.0, 30.0));
        assert!((t.p95_ms - 48.0).abs() < 1e-9);
        assert_eq!(Timing::of(&[]), None);
        assert_eq!(Timing::of(&[f64::NAN]), None);
    }
}
