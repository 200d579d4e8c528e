//! Latency measurement: repeated single inferences until the spread of the timings settles.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tract_nnef::tract_core::tract_linalg::multithread::{multithread_tract_scope, Executor};

use crate::stats::percentile_of_sorted;
use crate::{CompiledModel, RuntimeError};

/// How often, in runs, the stopping rule is evaluated once `min_runs` are done.
const CHECK_EVERY: usize = 10;

/// What a latency sample counts.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[derive(strum::Display, strum::IntoStaticStr, strum::EnumString)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum LatencyUnit {
    /// Wall-clock milliseconds.
    Ms,
    /// Executed instructions (deterministic counts from an emulator or callgrind), not cycles.
    Instructions,
}

/// Summary of a set of latency samples.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LatencyStats {
    /// What every other number but `n`, `warmup` and the ratios counts.
    pub unit: LatencyUnit,
    /// 50th percentile.
    pub median: f64,
    /// 10th percentile.
    pub p10: f64,
    /// 90th percentile.
    pub p90: f64,
    /// Arithmetic mean.
    pub mean: f64,
    /// Smallest sample.
    pub min: f64,
    /// Largest sample.
    pub max: f64,
    /// Number of measured samples (warmup runs excluded).
    pub n: usize,
    /// Number of unmeasured runs made before the samples.
    pub warmup: usize,
    /// `(p90 - p10) / median`: 0 when all samples are equal, infinite when the median is 0 but
    /// the samples differ.
    pub relative_spread: f64,
    /// Whether `relative_spread` is at most the spread target the samples were taken for.
    pub converged: bool,
}

impl LatencyStats {
    /// Summarizes `samples`, or `None` when there is none or one is not finite.
    ///
    /// Percentiles are [`crate::stats::percentile_of_sorted`] (linear interpolation, as
    /// NumPy's default); the median is percentile 0.5.
    pub fn from_samples(unit: LatencyUnit, samples: &[f64], warmup: usize, spread_target: f64) -> Option<Self> {
        if samples.is_empty() || samples.iter().any(|s| !s.is_finite()) {
            return None;
        }
        let mut sorted = samples.to_vec();
        sorted.sort_by(f64::total_cmp);
        let at = |q| percentile_of_sorted(&sorted, q).unwrap_or(f64::NAN);
        let (p10, median, p90) = (at(0.1), at(0.5), at(0.9));
        let relative_spread = relative_spread(p10, median, p90);
        Some(LatencyStats {
            unit,
            median,
            p10,
            p90,
            mean: sorted.iter().sum::<f64>() / sorted.len() as f64,
            min: sorted[0],
            max: sorted[sorted.len() - 1],
            n: sorted.len(),
            warmup,
            relative_spread,
            converged: relative_spread <= spread_target,
        })
    }
}

fn relative_spread(p10: f64, median: f64, p90: f64) -> f64 {
    let spread = p90 - p10;
    if spread == 0.0 {
        0.0
    } else if median > 0.0 {
        spread / median
    } else {
        f64::INFINITY
    }
}

/// When to stop measuring.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchConfig {
    /// Unmeasured runs before the first sample.
    pub warmup: usize,
    /// Samples always taken, whatever the time cap. At least 1.
    pub min_runs: usize,
    /// Samples never exceeded. At least `min_runs`.
    pub max_runs: usize,
    /// Stop once `(p90 - p10) / median` of the samples so far is at most this.
    pub spread_target: f64,
    /// Stop once this much wall time has passed since the benchmark began (warmup included),
    /// provided `min_runs` samples are taken.
    pub time_cap: Duration,
    /// Threads tract may use for one inference. 1 is tract's default single-threaded
    /// executor; more needs this crate's `multithread` feature.
    pub threads: usize,
}

impl Default for BenchConfig {
    fn default() -> Self {
        BenchConfig {
            warmup: 5,
            min_runs: 10,
            max_runs: 1000,
            spread_target: 0.05,
            time_cap: Duration::from_secs(3),
            threads: 1,
        }
    }
}

/// Measures the latency of `model` in milliseconds, timing each inference on its own.
///
/// Runs `cfg.warmup` unmeasured inferences, then measures until one of: the relative spread of
/// all samples so far is at most `cfg.spread_target` (checked after `min_runs` samples, then
/// every 10), `cfg.time_cap` has passed (checked after every sample beyond `min_runs`), or
/// `cfg.max_runs` samples are taken. All runs reuse one tract state and one input (see
/// [`CompiledModel::runner`]) and use an executor of `cfg.threads` threads, set for the
/// current thread only.
///
/// Fails with [`RuntimeError::Threads`] for 0 threads, or for more than 1 without the
/// `multithread` feature; [`RuntimeError::BenchConfig`] for an inconsistent `cfg`;
/// [`RuntimeError::Run`] if an inference fails.
pub fn benchmark(model: &CompiledModel, cfg: &BenchConfig) -> Result<LatencyStats, RuntimeError> {
    validate(cfg)?;
    let executor = executor(cfg.threads)?;
    let mut runner = model.runner()?;
    multithread_tract_scope(executor, || {
        let start = Instant::now();
        for _ in 0..cfg.warmup {
            runner.run_once()?;
        }
        let mut samples = Vec::with_capacity(cfg.max_runs.min(1 << 16));
        while samples.len() < cfg.max_runs {
            let t = Instant::now();
            runner.run_once()?;
            samples.push(t.elapsed().as_secs_f64() * 1e3);
            let n = samples.len();
            if n < cfg.min_runs {
                continue;
            }
            if start.elapsed() >= cfg.time_cap {
                break;
            }
            if (n - cfg.min_runs).is_multiple_of(CHECK_EVERY) && spread_reached(&samples, cfg.spread_target) {
                break;
            }
        }
        LatencyStats::from_samples(LatencyUnit::Ms, &samples, cfg.warmup, cfg.spread_target)
            .ok_or_else(|| RuntimeError::Run("no valid latency sample".to_string()))
    })
}

fn spread_reached(samples: &[f64], target: f64) -> bool {
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    let at = |q| percentile_of_sorted(&sorted, q).unwrap_or(f64::NAN);
    relative_spread(at(0.1), at(0.5), at(0.9)) <= target
}

fn validate(cfg: &BenchConfig) -> Result<(), RuntimeError> {
    let invalid = |msg: String| Err(RuntimeError::BenchConfig(msg));
    if cfg.min_runs == 0 {
        return invalid("min_runs must be at least 1".to_string());
    }
    if cfg.max_runs < cfg.min_runs {
        return invalid(format!("max_runs ({}) is below min_runs ({})", cfg.max_runs, cfg.min_runs));
    }
    if cfg.spread_target.is_nan() || cfg.spread_target < 0.0 {
        return invalid(format!("spread_target must be >= 0, got {}", cfg.spread_target));
    }
    Ok(())
}

fn executor(threads: usize) -> Result<Executor, RuntimeError> {
    match threads {
        0 => Err(RuntimeError::Threads("the thread count must be at least 1".to_string())),
        1 => Ok(Executor::SingleThread),
        n => multithread_executor(n),
    }
}

#[cfg(feature = "multithread")]
fn multithread_executor(n: usize) -> Result<Executor, RuntimeError> {
    rayon::ThreadPoolBuilder::new()
        .thread_name(|ix| format!("edgenas-tract-{ix}"))
        .num_threads(n)
        .build()
        .map(|pool| Executor::MultiThread(std::sync::Arc::new(pool)))
        .map_err(|e| RuntimeError::Threads(format!("could not start {n} threads: {e}")))
}

#[cfg(not(feature = "multithread"))]
fn multithread_executor(n: usize) -> Result<Executor, RuntimeError> {
    Err(RuntimeError::Threads(format!(
        "{n} threads requested, but this build runs tract single-threaded: enable the \
         `multithread` feature of edgenas-runtime (tract-linalg's `multithread-mm`)"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_interpolate_linearly() {
        let stats = LatencyStats::from_samples(LatencyUnit::Ms, &[4.0, 1.0, 10.0, 3.0, 2.0], 2, 2.0).unwrap();
        // Sorted: [1, 2, 3, 4, 10], n = 5, so percentile q sits at h = 4q.
        // p10: h = 0.4 -> 1 + 0.4 * (2 - 1) = 1.4
        // median: h = 2 -> 3
        // p90: h = 3.6 -> 4 + 0.6 * (10 - 4) = 7.6
        // mean: 20 / 5 = 4; spread: (7.6 - 1.4) / 3 = 6.2 / 3
        let close = |a: f64, b: f64| (a - b).abs() < 1e-12;
        assert!(close(stats.p10, 1.4), "{stats:?}");
        assert!(close(stats.median, 3.0), "{stats:?}");
        assert!(close(stats.p90, 7.6), "{stats:?}");
        assert!(close(stats.mean, 4.0), "{stats:?}");
        assert!(close(stats.relative_spread, 6.2 / 3.0), "{stats:?}");
        assert_eq!((stats.min, stats.max, stats.n, stats.warmup), (1.0, 10.0, 5, 2));
        assert!(!stats.converged);
    }

    #[test]
    fn even_count_median_and_degenerate_sets() {
        // Sorted: [1, 2, 3, 4], h = 3q. median: h = 1.5 -> 2.5; p10: h = 0.3 -> 1.3;
        // p90: h = 2.7 -> 3.7.
        let stats = LatencyStats::from_samples(LatencyUnit::Instructions, &[2.0, 4.0, 1.0, 3.0], 0, 1.0).unwrap();
        assert!((stats.median - 2.5).abs() < 1e-12);
        assert!((stats.p10 - 1.3).abs() < 1e-12);
        assert!((stats.p90 - 3.7).abs() < 1e-12);
        assert!(stats.converged);

        let one = LatencyStats::from_samples(LatencyUnit::Ms, &[7.0], 0, 0.0).unwrap();
        assert_eq!((one.p10, one.median, one.p90, one.relative_spread), (7.0, 7.0, 7.0, 0.0));
        assert!(one.converged);

        assert!(LatencyStats::from_samples(LatencyUnit::Ms, &[], 0, 0.05).is_none());
        assert!(LatencyStats::from_samples(LatencyUnit::Ms, &[1.0, f64::NAN], 0, 0.05).is_none());
    }

    #[test]
    fn stats_serialize_with_lowercase_unit() {
        let stats = LatencyStats::from_samples(LatencyUnit::Instructions, &[1.0, 3.0], 0, 0.05).unwrap();
        let json = serde_json::to_string(&stats).unwrap();
        assert!(json.contains(r#""unit":"instructions""#), "{json}");
        assert_eq!(serde_json::from_str::<LatencyStats>(&json).unwrap(), stats);
    }

    #[test]
    fn rejects_bad_thread_counts_and_configs() {
        assert!(matches!(executor(0), Err(RuntimeError::Threads(_))));
        assert!(matches!(executor(1), Ok(Executor::SingleThread)));
        #[cfg(not(feature = "multithread"))]
        assert!(matches!(executor(2), Err(RuntimeError::Threads(_))));
        #[cfg(feature = "multithread")]
        assert!(executor(2).is_ok());
        let bad = [
            BenchConfig { min_runs: 0, ..BenchConfig::default() },
            BenchConfig { min_runs: 20, max_runs: 10, ..BenchConfig::default() },
            BenchConfig { spread_target: f64::NAN, ..BenchConfig::default() },
        ];
        for cfg in bad {
            assert!(matches!(validate(&cfg), Err(RuntimeError::BenchConfig(_))), "{cfg:?}");
        }
        assert!(validate(&BenchConfig::default()).is_ok());
    }
}
