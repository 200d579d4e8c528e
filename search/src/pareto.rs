//! Pareto dominance, non-dominated sorting, crowding distance and hypervolume.
//!
//! Every objective is *minimized*. Points are slices of equal length; NaN objectives are
//! not supported (a NaN compares as neither better nor worse, so results are unspecified).

/// Whether `a` Pareto-dominates `b`: no worse in every objective and strictly better in at
/// least one. `a` and `b` must have the same length.
pub fn dominates(a: &[f64], b: &[f64]) -> bool {
    debug_assert_eq!(a.len(), b.len(), "objective vectors of different lengths");
    let mut strictly = false;
    for (x, y) in a.iter().zip(b) {
        if x > y {
            return false;
        }
        strictly |= x < y;
    }
    strictly
}

/// Deb's fast non-dominated sort (NSGA-II, 2002), any number of objectives, O(M·N²).
/// Returns the fronts F1, F2, … as indices into `points`, each front in ascending index
/// order. Every index appears in exactly one front; equal points share a front.
pub fn non_dominated_sort(points: &[Vec<f64>]) -> Vec<Vec<usize>> {
    let n = points.len();
    let mut dominated_by_me: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut domination_count = vec![0usize; n];
    for i in 0..n {
        for j in i + 1..n {
            if dominates(&points[i], &points[j]) {
                dominated_by_me[i].push(j);
                domination_count[j] += 1;
            } else if dominates(&points[j], &points[i]) {
                dominated_by_me[j].push(i);
                domination_count[i] += 1;
            }
        }
    }
    let mut fronts = Vec::new();
    let mut current: Vec<usize> = (0..n).filter(|&i| domination_count[i] == 0).collect();
    while !current.is_empty() {
        let mut next = Vec::new();
        for &i in &current {
            for &j in &dominated_by_me[i] {
                domination_count[j] -= 1;
                if domination_count[j] == 0 {
                    next.push(j);
                }
            }
        }
        next.sort_unstable();
        fronts.push(std::mem::replace(&mut current, next));
    }
    fronts
}

/// NSGA-II crowding distance of each member of `front` (indices into `points`), in the
/// order of `front`. Per objective, members are sorted by that objective; the two extremes
/// get infinity and every other member adds `(next - previous) / (max - min)`. An
/// objective whose range over the front is zero (or not finite) contributes 0 to every
/// member and marks no extremes. Fronts of one or two members are all infinite.
pub fn crowding_distance(points: &[Vec<f64>], front: &[usize]) -> Vec<f64> {
    let n = front.len();
    if n <= 2 {
        return vec![f64::INFINITY; n];
    }
    let mut distance = vec![0.0; n];
    let objectives = points[front[0]].len();
    let mut order: Vec<usize> = (0..n).collect();
    for values in (0..objectives).map(|m| front.iter().map(|&i| points[i][m]).collect::<Vec<f64>>()) {
        order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
        let range = values[order[n - 1]] - values[order[0]];
        if range <= 0.0 || !range.is_finite() {
            continue;
        }
        distance[order[0]] = f64::INFINITY;
        distance[order[n - 1]] = f64::INFINITY;
        for w in order.windows(3) {
            distance[w[1]] += (values[w[2]] - values[w[0]]) / range;
        }
    }
    distance
}

/// Indices of the non-dominated points, ascending. Duplicates are kept once: of several
/// equal non-dominated points only the lowest index is returned.
pub fn pareto_front(points: &[Vec<f64>]) -> Vec<usize> {
    (0..points.len())
        .filter(|&i| points.iter().enumerate().all(|(j, q)| !(dominates(q, &points[i]) || (j < i && *q == points[i]))))
        .collect()
}

/// Area dominated by `points` and bounded by `reference` (both objectives minimized).
/// Points that do not strictly dominate `reference` in both objectives add nothing and are
/// ignored. O(N log N).
pub fn hypervolume_2d(points: &[[f64; 2]], reference: [f64; 2]) -> f64 {
    let mut inside: Vec<[f64; 2]> =
        points.iter().copied().filter(|p| p[0] < reference[0] && p[1] < reference[1]).collect();
    inside.sort_by(|a, b| a[0].total_cmp(&b[0]).then(a[1].total_cmp(&b[1])));
    let mut area = 0.0;
    let mut ceiling = reference[1];
    for [x, y] in inside {
        if y < ceiling {
            area += (reference[0] - x) * (ceiling - y);
            ceiling = y;
        }
    }
    area
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dominance_needs_one_strict_improvement() {
        assert!(dominates(&[1.0, 2.0], &[1.0, 3.0]));
        assert!(!dominates(&[1.0, 2.0], &[1.0, 2.0]));
        assert!(!dominates(&[1.0, 4.0], &[2.0, 3.0]));
        assert!(dominates(&[0.0, 0.0, 0.0], &[0.0, 0.0, 1.0]));
    }

    #[test]
    fn three_fronts() {
        // F1: (1,5) (2,3) (4,1) trade off. F2: (3,4) is dominated by (2,3) only, (5,2) by
        // (4,1) only, and they trade off with each other. F3: (6,6) is dominated by every
        // point of F2; (2,3) repeated at index 6 is equal to index 1, so it joins F1.
        let points = vec![
            vec![1.0, 5.0],
            vec![2.0, 3.0],
            vec![4.0, 1.0],
            vec![3.0, 4.0],
            vec![5.0, 2.0],
            vec![6.0, 6.0],
            vec![2.0, 3.0],
        ];
        assert_eq!(non_dominated_sort(&points), vec![vec![0, 1, 2, 6], vec![3, 4], vec![5]]);
        assert_eq!(pareto_front(&points), vec![0, 1, 2]);
        assert!(non_dominated_sort(&[]).is_empty());
    }

    #[test]
    fn fronts_in_three_objectives() {
        // (1,1,1) dominates everything; (2,1,3) and (1,3,2) trade off; (3,3,3) is dominated by both.
        let points = vec![vec![3.0, 3.0, 3.0], vec![2.0, 1.0, 3.0], vec![1.0, 1.0, 1.0], vec![1.0, 3.0, 2.0]];
        assert_eq!(non_dominated_sort(&points), vec![vec![2], vec![1, 3], vec![0]]);
    }

    #[test]
    fn crowding_on_a_four_point_front() {
        // Front (0,10) (1,6) (5,2) (10,0): ranges 10 and 10. The extremes are infinite.
        // (1,6): f1 neighbours 0 and 5 → 5/10; f2 neighbours 10 and 2 → 8/10; total 1.3.
        // (5,2): f1 neighbours 1 and 10 → 9/10; f2 neighbours 6 and 0 → 6/10; total 1.5.
        let points = vec![vec![5.0, 2.0], vec![0.0, 10.0], vec![10.0, 0.0], vec![1.0, 6.0]];
        let d = crowding_distance(&points, &[1, 3, 0, 2]);
        assert_eq!(d[0], f64::INFINITY);
        assert!((d[1] - 1.3).abs() < 1e-12, "{d:?}");
        assert!((d[2] - 1.5).abs() < 1e-12, "{d:?}");
        assert_eq!(d[3], f64::INFINITY);
    }

    #[test]
    fn crowding_with_a_constant_objective() {
        // Second objective constant: contributes 0. First: (0) (1) (3) over range 3, the
        // middle gets (3 - 0) / 3 = 1.
        let points = vec![vec![0.0, 7.0], vec![1.0, 7.0], vec![3.0, 7.0]];
        assert_eq!(crowding_distance(&points, &[0, 1, 2]), vec![f64::INFINITY, 1.0, f64::INFINITY]);
        assert_eq!(crowding_distance(&points, &[0, 2]), vec![f64::INFINITY; 2]);
    }

    #[test]
    fn hypervolume_of_a_staircase() {
        // Staircase (1,3) (2,2) (3,1) against reference (4,4), swept along f1:
        // (1,3): (4-1)·(4-3) = 3; (2,2): (4-2)·(3-2) = 2; (3,1): (4-3)·(2-1) = 1; total 6.
        let stairs = [[1.0, 3.0], [2.0, 2.0], [3.0, 1.0]];
        assert_eq!(hypervolume_2d(&stairs, [4.0, 4.0]), 6.0);
        // A dominated point, a duplicate and points outside the reference change nothing.
        let noisy = [[3.0, 1.0], [2.5, 2.5], [1.0, 3.0], [2.0, 2.0], [2.0, 2.0], [5.0, 0.0], [0.0, 4.0]];
        assert_eq!(hypervolume_2d(&noisy, [4.0, 4.0]), 6.0);
        assert_eq!(hypervolume_2d(&[], [4.0, 4.0]), 0.0);
    }
}
