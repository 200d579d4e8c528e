//! Activation ranges from calibration data: min/max, or percentiles from a histogram.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use super::QuantizeError;

/// The observed range of one activation tensor (before widening to include 0).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ActivationRange {
    pub min: f32,
    pub max: f32,
}

/// Activation ranges by tensor name.
pub type ActivationRanges = HashMap<String, ActivationRange>;

/// How a tensor's range is derived from the values it took on the calibration inputs.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
#[serde(tag = "method", rename_all = "lowercase")]
pub enum CalibrationMethod {
    /// The smallest and largest value seen.
    MinMax,
    /// The `percentile`-th and `(100 - percentile)`-th percentiles (e.g. 99.99): outliers
    /// are clipped so that the bulk of the values gets a finer step.
    Percentile { percentile: f64 },
}

/// Default percentile of [`CalibrationMethod::Percentile`].
pub const DEFAULT_PERCENTILE: f64 = 99.99;

impl FromStr for CalibrationMethod {
    type Err = String;

    /// `minmax`, `percentile` (99.99) or `percentile:P` with 50 < P <= 100.
    fn from_str(s: &str) -> Result<Self, String> {
        match s.split_once(':') {
            None if s == "minmax" => Ok(CalibrationMethod::MinMax),
            None if s == "percentile" => Ok(CalibrationMethod::Percentile { percentile: DEFAULT_PERCENTILE }),
            Some(("percentile", p)) => match p.parse::<f64>() {
                Ok(p) if p > 50.0 && p <= 100.0 => Ok(CalibrationMethod::Percentile { percentile: p }),
                _ => Err(format!("percentile `{p}` is not a number in (50, 100]")),
            },
            _ => Err(format!("unknown calibration method `{s}` (expected minmax, percentile or percentile:P)")),
        }
    }
}

impl fmt::Display for CalibrationMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CalibrationMethod::MinMax => write!(f, "minmax"),
            CalibrationMethod::Percentile { percentile } => write!(f, "percentile:{percentile}"),
        }
    }
}

/// Bins of the per-tensor histograms of [`CalibrationMethod::Percentile`].
const HISTOGRAM_BINS: usize = 4096;

/// Accumulates the values a fixed list of tensors take over the calibration inputs.
///
/// Protocol: for each pass in `0..passes()`, feed every calibration input's tensors with
/// [`RangeCollector::observe`], then call [`RangeCollector::finish_pass`]. Min/max needs
/// one pass; percentile needs two (the first finds the histogram bounds). The result does not
/// depend on the order of the inputs within a pass.
#[derive(Debug, Clone)]
pub struct RangeCollector {
    method: CalibrationMethod,
    tensors: Vec<String>,
    minmax: Vec<(f32, f32)>,
    histograms: Vec<Vec<u64>>,
    pass: usize,
}

impl RangeCollector {
    pub fn new(method: CalibrationMethod, tensors: Vec<String>) -> Self {
        let minmax = vec![(f32::INFINITY, f32::NEG_INFINITY); tensors.len()];
        RangeCollector { method, tensors, minmax, histograms: Vec::new(), pass: 0 }
    }

    /// The tensors observed, in the order [`RangeCollector::observe`] indexes them.
    pub fn tensors(&self) -> &[String] {
        &self.tensors
    }

    pub fn passes(&self) -> usize {
        match self.method {
            CalibrationMethod::MinMax => 1,
            CalibrationMethod::Percentile { .. } => 2,
        }
    }

    /// Records the values of tensor `index` on one calibration input.
    /// Errors: NaN or infinite values → [`QuantizeError::NonFiniteActivation`].
    pub fn observe(&mut self, index: usize, values: &[f32]) -> Result<(), QuantizeError> {
        let name = self.tensors.get(index).ok_or_else(|| QuantizeError::Unsupported(format!("no tensor #{index}")))?;
        if values.iter().any(|v| !v.is_finite()) {
            return Err(QuantizeError::NonFiniteActivation { tensor: name.clone() });
        }
        if self.pass == 0 {
            let (lo, hi) = &mut self.minmax[index];
            for &v in values {
                *lo = lo.min(v);
                *hi = hi.max(v);
            }
        } else {
            let (lo, hi) = self.minmax[index];
            let hist = &mut self.histograms[index];
            let width = (hi - lo) as f64 / HISTOGRAM_BINS as f64;
            for &v in values {
                let bin = if width > 0.0 { ((v - lo) as f64 / width) as usize } else { 0 };
                hist[bin.min(HISTOGRAM_BINS - 1)] += 1;
            }
        }
        Ok(())
    }

    /// Ends the current pass.
    pub fn finish_pass(&mut self) {
        if self.pass == 0 && self.passes() == 2 {
            self.histograms = vec![vec![0; HISTOGRAM_BINS]; self.tensors.len()];
        }
        self.pass += 1;
    }

    /// The range of every tensor. Errors when a tensor was never observed or the passes are
    /// not all done.
    pub fn ranges(&self) -> Result<ActivationRanges, QuantizeError> {
        if self.pass < self.passes() {
            return Err(QuantizeError::Unsupported(format!(
                "calibration finished {} of {} passes",
                self.pass,
                self.passes()
            )));
        }
        let mut out = ActivationRanges::new();
        for (i, name) in self.tensors.iter().enumerate() {
            let (lo, hi) = self.minmax[i];
            if lo > hi {
                return Err(QuantizeError::MissingRange { tensor: name.clone() });
            }
            let range = match self.method {
                CalibrationMethod::MinMax => ActivationRange { min: lo, max: hi },
                CalibrationMethod::Percentile { percentile } => {
                    let hist = &self.histograms[i];
                    let tail = 1.0 - percentile / 100.0;
                    let width = (hi - lo) as f64 / HISTOGRAM_BINS as f64;
                    let lower = quantile_bin(hist, tail);
                    let upper = quantile_bin(hist, 1.0 - tail);
                    ActivationRange {
                        min: (lo as f64 + lower as f64 * width) as f32,
                        max: (lo as f64 + (upper + 1) as f64 * width).min(hi as f64) as f32,
                    }
                }
            };
            out.insert(name.clone(), range);
        }
        Ok(out)
    }
}

/// The bin holding the `q`-quantile of the histogram's values.
fn quantile_bin(hist: &[u64], q: f64) -> usize {
    let total: u64 = hist.iter().sum();
    let target = (q * total as f64).ceil().max(1.0) as u64;
    let mut seen = 0;
    for (i, &c) in hist.iter().enumerate() {
        seen += c;
        if seen >= target {
            return i;
        }
    }
    hist.len().saturating_sub(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(method: CalibrationMethod, batches: &[Vec<f32>]) -> ActivationRange {
        let mut c = RangeCollector::new(method, vec!["t".into()]);
        for _ in 0..c.passes() {
            for b in batches {
                c.observe(0, b).unwrap();
            }
            c.finish_pass();
        }
        c.ranges().unwrap()["t"]
    }

    #[test]
    fn minmax_is_the_extremes_over_all_inputs() {
        let r = collect(CalibrationMethod::MinMax, &[vec![0.5, -2.0], vec![3.0, 1.0]]);
        assert_eq!(r, ActivationRange { min: -2.0, max: 3.0 });
    }

    #[test]
    fn percentile_clips_rare_outliers() {
        let mut values: Vec<f32> = (0..100_000).map(|i| (i % 1000) as f32 / 1000.0).collect();
        values.push(1000.0);
        let r = collect(CalibrationMethod::Percentile { percentile: 99.9 }, &[values.clone()]);
        assert!(r.max < 1.5, "outlier kept: {r:?}");
        assert!(r.max > 0.99 * 0.999 - 0.25, "bulk clipped: {r:?}");
        let full = collect(CalibrationMethod::MinMax, &[values]);
        assert_eq!(full.max, 1000.0);
    }

    #[test]
    fn non_finite_values_are_an_error() {
        let mut c = RangeCollector::new(CalibrationMethod::MinMax, vec!["x".into()]);
        let err = c.observe(0, &[1.0, f32::NAN]).unwrap_err();
        assert!(err.to_string().contains("`x`"), "{err}");
    }

    #[test]
    fn methods_parse() {
        assert_eq!("minmax".parse::<CalibrationMethod>().unwrap(), CalibrationMethod::MinMax);
        assert_eq!(
            "percentile:99.9".parse::<CalibrationMethod>().unwrap(),
            CalibrationMethod::Percentile { percentile: 99.9 }
        );
        assert!("percentile:20".parse::<CalibrationMethod>().is_err());
        assert!("entropy".parse::<CalibrationMethod>().is_err());
    }
}
