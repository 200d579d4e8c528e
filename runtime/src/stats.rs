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

/// Kendall's τ-b of two equally long series (ties corrected), in O(n log n) by Knight's
/// merge-sort count of discordant pairs. NaN for fewer than two pairs, a constant series
/// or different lengths.
pub fn kendall_tau_b(x: &[f64], y: &[f64]) -> f64 {
    let n = x.len();
    if n < 2 || n != y.len() {
        return f64::NAN;
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&i, &j| x[i].total_cmp(&x[j]).then(y[i].total_cmp(&y[j])));
    let pairs = |t: u64| t * t.saturating_sub(1) / 2;
    let (mut tied_x, mut tied_xy) = (0u64, 0u64);
    let (mut run_x, mut run_xy) = (1u64, 1u64);
    for w in order.windows(2) {
        let same_x = x[w[0]].total_cmp(&x[w[1]]).is_eq();
        if same_x {
            run_x += 1;
            if y[w[0]].total_cmp(&y[w[1]]).is_eq() {
                run_xy += 1;
            } else {
                tied_xy += pairs(run_xy);
                run_xy = 1;
            }
        } else {
            tied_x += pairs(run_x);
            tied_xy += pairs(run_xy);
            run_x = 1;
            run_xy = 1;
        }
    }
    tied_x += pairs(run_x);
    tied_xy += pairs(run_xy);
    let mut ys: Vec<f64> = order.iter().map(|&i| y[i]).collect();
    let mut buffer = vec![0.0; n];
    let swaps = merge_count(&mut ys, &mut buffer);
    let mut tied_y = 0u64;
    let mut run_y = 1u64;
    for w in ys.windows(2) {
        if w[0].total_cmp(&w[1]).is_eq() {
            run_y += 1;
        } else {
            tied_y += pairs(run_y);
            run_y = 1;
        }
    }
    tied_y += pairs(run_y);
    let total = pairs(n as u64);
    let numerator = total as f64 - tied_x as f64 - tied_y as f64 + tied_xy as f64 - 2.0 * swaps as f64;
    let denominator = ((total - tied_x) as f64 * (total - tied_y) as f64).sqrt();
    if denominator == 0.0 {
        f64::NAN
    } else {
        numerator / denominator
    }
}

/// Sorts `v` (stable merge sort) and returns how many inversions it removed.
fn merge_count(v: &mut [f64], buffer: &mut [f64]) -> u64 {
    let n = v.len();
    if n < 2 {
        return 0;
    }
    let mid = n / 2;
    let mut swaps = {
        let (left, right) = v.split_at_mut(mid);
        let (bl, br) = buffer.split_at_mut(mid);
        merge_count(left, bl) + merge_count(right, br)
    };
    let (mut i, mut j, mut k) = (0, mid, 0);
    while i < mid && j < n {
        if v[j].total_cmp(&v[i]).is_lt() {
            buffer[k] = v[j];
            swaps += (mid - i) as u64;
            j += 1;
        } else {
            buffer[k] = v[i];
            i += 1;
        }
        k += 1;
    }
    buffer[k..k + mid - i].copy_from_slice(&v[i..mid]);
    let k = k + mid - i;
    buffer[k..k + n - j].copy_from_slice(&v[j..n]);
    v.copy_from_slice(&buffer[..n]);
    swaps
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

    /// Kendall's τ-b by counting every pair, the definition the fast count must match.
    fn kendall_by_pairs(x: &[f64], y: &[f64]) -> f64 {
        let (mut concordant, mut discordant, mut tx, mut ty) = (0.0f64, 0.0f64, 0.0f64, 0.0f64);
        for i in 0..x.len() {
            for j in i + 1..x.len() {
                let (dx, dy) = (x[i] - x[j], y[i] - y[j]);
                match (dx == 0.0, dy == 0.0) {
                    (true, true) => {}
                    (true, false) => tx += 1.0,
                    (false, true) => ty += 1.0,
                    _ if dx * dy > 0.0 => concordant += 1.0,
                    _ => discordant += 1.0,
                }
            }
        }
        (concordant - discordant) / ((concordant + discordant + tx) * (concordant + discordant + ty)).sqrt()
    }

    #[test]
    fn kendall_tau_b_matches_the_pairwise_definition_with_ties() {
        let x: Vec<f64> = (0..300).map(|i| ((i * 37) % 23) as f64).collect();
        let y: Vec<f64> = (0..300).map(|i| ((i * 11) % 17) as f64 + ((i * 37) % 23) as f64 * 0.5).collect();
        let fast = kendall_tau_b(&x, &y);
        assert!((fast - kendall_by_pairs(&x, &y)).abs() < 1e-12, "{fast}");
        assert!((kendall_tau_b(&x, &x) - 1.0).abs() < 1e-12);
        let reversed: Vec<f64> = x.iter().map(|v| -v).collect();
        assert!((kendall_tau_b(&x, &reversed) + 1.0).abs() < 1e-12);
        assert!(kendall_tau_b(&[1.0, 1.0], &[2.0, 3.0]).is_nan());
    }
}
