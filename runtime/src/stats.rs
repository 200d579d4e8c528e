//! The statistics the project reports: percentiles of samples (latency, stage times) and
//! rank correlation of two series (proxies against accuracy, latency sources against each
//! other). One definition each, used everywhere.

/// Percentile `q` (in `[0, 1]`) of **sorted** samples by linear interpolation, as NumPy's
/// default `percentile` does: with `x[0] <= ... <= x[n-1]`, `h = q (n - 1)` and the result
/// `x[floor(h)] + (h - floor(h)) (x[floor(h) + 1] - x[floor(h)])`. `None` for no samples.
pub fn percentile_of_sorted(sorted: &[f64], q: f64) -> Option<f64> {
    let last = sorted.len().checked_sub(1)?;
    let h = q.clamp(0.0, 1.0) * last as f64;
    let lo = h.floor() as usize;
    Some(match sorted.get(lo + 1) {
        Some(&next) => sorted[lo] + (h - lo as f64) * (next - sorted[lo]),
        None => sorted[lo],
    })
}

/// Percentile `q` of unsorted samples ([`percentile_of_sorted`] after a total-order sort).
pub fn percentile(samples: &[f64], q: f64) -> Option<f64> {
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    percentile_of_sorted(&sorted, q)
}

/// The median: percentile 0.5, so the mean of the two middle values for an even count.
pub fn median(samples: &[f64]) -> Option<f64> {
    percentile(samples, 0.5)
}

/// Spearman's rank correlation of two equally long series: the Pearson correlation of
/// their ranks, tied values sharing the average of their ranks ([`ranks`]). In `[-1, 1]`;
/// NaN when there are fewer than two pairs or either series is constant, and when the
/// lengths differ.
pub fn spearman(a: &[f64], b: &[f64]) -> f64 {
    if a.len() != b.len() {
        return f64::NAN;
    }
    pearson(&ranks(a), &ranks(b))
}

/// 1-based ranks in [`f64::total_cmp`] order, ties averaged.
pub fn ranks(x: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..x.len()).collect();
    order.sort_by(|&i, &j| x[i].total_cmp(&x[j]));
    let mut ranks = vec![0.0; x.len()];
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len() && x[order[end]].total_cmp(&x[order[start]]).is_eq() {
            end += 1;
        }
        let average = (start + 1 + end) as f64 / 2.0;
        for &i in &order[start..end] {
            ranks[i] = average;
        }
        start = end;
    }
    ranks
}

/// Pearson's correlation coefficient; NaN for fewer than two pairs, a constant series or
/// different lengths.
pub fn pearson(x: &[f64], y: &[f64]) -> f64 {
    if x.len() < 2 || x.len() != y.len() {
        return f64::NAN;
    }
    let n = x.len() as f64;
    let (mx, my) = (x.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in x.iter().zip(y) {
        sxy += (a - mx) * (b - my);
        sxx += (a - mx) * (a - mx);
        syy += (b - my) * (b - my);
    }
    if sxx == 0.0 || syy == 0.0 {
        return f64::NAN;
    }
    sxy / (sxx * syy).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_interpolate_like_numpy() {
        // Sorted [1, 2, 3, 4, 10]: h = 4q. p10 at 0.4 -> 1.4; p90 at 3.6 -> 4 + 0.6 * 6 = 7.6.
        let x = [4.0, 1.0, 10.0, 3.0, 2.0];
        assert!((percentile(&x, 0.1).unwrap() - 1.4).abs() < 1e-12);
        assert!((percentile(&x, 0.9).unwrap() - 7.6).abs() < 1e-12);
        assert_eq!(median(&x), Some(3.0));
        assert_eq!(median(&[2.0, 4.0, 1.0, 3.0]), Some(2.5), "even count: mean of the middle two");
        assert_eq!(median(&[7.0]), Some(7.0));
        assert_eq!(median(&[]), None);
    }
}
