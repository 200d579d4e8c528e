//! The small regressions predictors are made of: ridge regression on standardized
//! features with its leave-one-out error in closed form, and kernel ridge regression with
//! a quadratic kernel (all pairwise feature interactions, without materializing them).
//! Training sets are tens to a few thousand rows, so dense Cholesky solves are enough.

use serde::{Deserialize, Serialize};

/// The lower Cholesky factor of a symmetric positive definite `a` (`n × n`, row-major);
/// `None` when `a` is not positive definite to working precision.
fn cholesky(a: &[f64], n: usize) -> Option<Vec<f64>> {
    let mut l = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..=i {
            let s = a[i * n + j] - (0..j).map(|k| l[i * n + k] * l[j * n + k]).sum::<f64>();
            if i == j {
                if !(s > 0.0 && s.is_finite()) {
                    return None;
                }
                l[i * n + i] = s.sqrt();
            } else {
                l[i * n + j] = s / l[j * n + j];
            }
        }
    }
    Some(l)
}

/// Solves `l lᵀ x = b` for a Cholesky factor `l`.
fn solve_factored(l: &[f64], b: &[f64]) -> Vec<f64> {
    let n = b.len();
    let mut y = vec![0.0; n];
    for i in 0..n {
        y[i] = (b[i] - (0..i).map(|k| l[i * n + k] * y[k]).sum::<f64>()) / l[i * n + i];
    }
    let mut x = vec![0.0; n];
    for i in (0..n).rev() {
        x[i] = (y[i] - (i + 1..n).map(|k| l[k * n + i] * x[k]).sum::<f64>()) / l[i * n + i];
    }
    x
}

/// Solves `a x = b` for a symmetric positive definite `a` (`n × n`, row-major) by
/// Cholesky; `None` when `a` is not positive definite to working precision.
pub(crate) fn cholesky_solve(a: &[f64], b: &[f64]) -> Option<Vec<f64>> {
    Some(solve_factored(&cholesky(a, b.len())?, b))
}

/// Inverse of a symmetric positive definite matrix: one factorization, `n` solves.
fn spd_inverse(a: &[f64], n: usize) -> Option<Vec<f64>> {
    let l = cholesky(a, n)?;
    let mut inv = vec![0.0; n * n];
    for c in 0..n {
        let mut e = vec![0.0; n];
        e[c] = 1.0;
        let x = solve_factored(&l, &e);
        for r in 0..n {
            inv[r * n + c] = x[r];
        }
    }
    Some(inv)
}

/// `y ≈ mean + Σ w_j (x_j − μ_j) / σ_j`: ridge regression on standardized features, the
/// penalty picked from a grid by exact leave-one-out error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ridge {
    pub mean: f64,
    pub center: Vec<f64>,
    pub scale: Vec<f64>,
    pub weights: Vec<f64>,
    pub lambda: f64,
    /// Mean leave-one-out loss on the training rows: the squared residual for
    /// [`Ridge::fit`], the caller's loss for [`Ridge::fit_scored`].
    pub loo_mse: f64,
}

/// Penalties [`Ridge::fit`] chooses from.
pub const RIDGE_LAMBDAS: [f64; 6] = [1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0];

impl Ridge {
    /// Fits rows `x` (all the same length) to `y`; `None` with fewer than two rows. A
    /// feature constant over the rows gets weight 0.
    pub fn fit(x: &[Vec<f64>], y: &[f64], lambdas: &[f64]) -> Option<Ridge> {
        Self::fit_scored(x, y, lambdas, &|prediction, row| (prediction - y[row]).powi(2))
    }

    /// [`Ridge::fit`] with the penalty picked by the mean of `loss(leave-one-out
    /// prediction, row)` instead of the squared residual (e.g. an error in log units for a
    /// model fitted in linear units).
    pub fn fit_scored(x: &[Vec<f64>], y: &[f64], lambdas: &[f64], loss: &dyn Fn(f64, usize) -> f64) -> Option<Ridge> {
        let n = y.len();
        if n < 2 || x.len() != n {
            return None;
        }
        let d = x[0].len();
        let mean = y.iter().sum::<f64>() / n as f64;
        let center: Vec<f64> = (0..d).map(|j| x.iter().map(|r| r[j]).sum::<f64>() / n as f64).collect();
        let scale: Vec<f64> = (0..d)
            .map(|j| {
                let var = x.iter().map(|r| (r[j] - center[j]).powi(2)).sum::<f64>() / n as f64;
                if var > 1e-18 {
                    var.sqrt()
                } else {
                    1.0
                }
            })
            .collect();
        let z: Vec<Vec<f64>> = x.iter().map(|r| (0..d).map(|j| (r[j] - center[j]) / scale[j]).collect()).collect();
        let yc: Vec<f64> = y.iter().map(|v| v - mean).collect();
        let mut gram = vec![0.0; d * d];
        let mut zty = vec![0.0; d];
        for (row, &t) in z.iter().zip(&yc) {
            for i in 0..d {
                zty[i] += row[i] * t;
                for j in 0..d {
                    gram[i * d + j] += row[i] * row[j];
                }
            }
        }
        let mut best: Option<Ridge> = None;
        for &lambda in lambdas {
            let mut a = gram.clone();
            for i in 0..d {
                a[i * d + i] += lambda;
            }
            let Some(inv) = spd_inverse(&a, d) else { continue };
            let weights: Vec<f64> = (0..d).map(|i| (0..d).map(|j| inv[i * d + j] * zty[j]).sum()).collect();
            let mut loo = 0.0;
            for (k, (row, &t)) in z.iter().zip(&yc).enumerate() {
                let fitted: f64 = row.iter().zip(&weights).map(|(a, b)| a * b).sum();
                let leverage: f64 = 1.0 / n as f64
                    + (0..d).map(|i| row[i] * (0..d).map(|j| inv[i * d + j] * row[j]).sum::<f64>()).sum::<f64>();
                let r = (t - fitted) / (1.0 - leverage).max(1e-6);
                loo += loss(y[k] - r, k);
            }
            let loo_mse = loo / n as f64;
            if best.as_ref().is_none_or(|b| loo_mse < b.loo_mse) {
                best = Some(Ridge { mean, center: center.clone(), scale: scale.clone(), weights, lambda, loo_mse });
            }
        }
        best
    }

    pub fn predict(&self, x: &[f64]) -> f64 {
        self.mean
            + x.iter()
                .zip(&self.center)
                .zip(&self.scale)
                .zip(&self.weights)
                .map(|(((v, c), s), w)| (v - c) / s * w)
                .sum::<f64>()
    }
}

/// Kernel ridge regression with `k(a, b) = (1 + a·b)²`: a linear model over every
/// feature, every square and every pairwise product, fitted in the dual (one weight per
/// training row), so its cost does not grow with the number of interactions.
#[derive(Debug, Clone, PartialEq)]
pub struct QuadraticKernelRidge {
    rows: Vec<Vec<f64>>,
    dual: Vec<f64>,
    mean: f64,
}

impl QuadraticKernelRidge {
    /// Fits `x` to `y` with penalty `lambda` (> 0); `None` without rows.
    pub fn fit(x: &[Vec<f64>], y: &[f64], lambda: f64) -> Option<Self> {
        let n = y.len();
        if n == 0 || x.len() != n {
            return None;
        }
        let mean = y.iter().sum::<f64>() / n as f64;
        let mut k = vec![0.0; n * n];
        for i in 0..n {
            for j in 0..=i {
                let v = kernel(&x[i], &x[j]);
                k[i * n + j] = v;
                k[j * n + i] = v;
            }
            k[i * n + i] += lambda;
        }
        let yc: Vec<f64> = y.iter().map(|v| v - mean).collect();
        let dual = cholesky_solve(&k, &yc)?;
        Some(QuadraticKernelRidge { rows: x.to_vec(), dual, mean })
    }

    pub fn predict(&self, x: &[f64]) -> f64 {
        self.mean + self.rows.iter().zip(&self.dual).map(|(r, a)| a * kernel(r, x)).sum::<f64>()
    }
}

fn kernel(a: &[f64], b: &[f64]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(p, q)| p * q).sum();
    (1.0 + dot) * (1.0 + dot)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cholesky_solves_a_known_system_and_refuses_an_indefinite_one() {
        let a = [4.0, 2.0, 2.0, 3.0];
        let x = cholesky_solve(&a, &[2.0, 1.0]).unwrap();
        assert!((4.0 * x[0] + 2.0 * x[1] - 2.0).abs() < 1e-12 && (2.0 * x[0] + 3.0 * x[1] - 1.0).abs() < 1e-12);
        assert!(cholesky_solve(&[1.0, 2.0, 2.0, 1.0], &[1.0, 1.0]).is_none());
    }

    #[test]
    fn ridge_recovers_a_linear_law_and_its_loo_error_matches_refitting() {
        let x: Vec<Vec<f64>> = (0..12).map(|i| vec![i as f64, ((i * 7) % 5) as f64, 3.0]).collect();
        let y: Vec<f64> =
            x.iter().enumerate().map(|(i, r)| 1.5 + 2.0 * r[0] - r[1] + 0.01 * ((i % 3) as f64)).collect();
        let fit = Ridge::fit(&x, &y, &[1e-6]).unwrap();
        assert!((fit.predict(&[20.0, 1.0, 3.0]) - (1.5 + 40.0 - 1.0)).abs() < 0.1);
        let mut loo = 0.0;
        for i in 0..x.len() {
            let (xs, ys): (Vec<_>, Vec<_>) =
                x.iter().zip(&y).enumerate().filter(|(j, _)| *j != i).map(|(_, (a, b))| (a.clone(), *b)).unzip();
            let f = Ridge::fit(&xs, &ys, &[1e-6]).unwrap();
            loo += (f.predict(&x[i]) - y[i]).powi(2);
        }
        let refit = loo / x.len() as f64;
        assert!((fit.loo_mse - refit).abs() <= 0.05 * refit + 1e-9, "closed form {} vs refitting {refit}", fit.loo_mse);
    }

    #[test]
    fn quadratic_kernel_ridge_fits_an_interaction_a_linear_model_cannot() {
        let x: Vec<Vec<f64>> =
            (0..16).map(|i| vec![(i & 1) as f64, ((i >> 1) & 1) as f64, ((i >> 2) & 1) as f64]).collect();
        let y: Vec<f64> = x.iter().map(|r| r[0] * r[1] - r[2]).collect();
        let q = QuadraticKernelRidge::fit(&x, &y, 1e-4).unwrap();
        let l = Ridge::fit(&x, &y, &[1e-4]).unwrap();
        let err = |f: &dyn Fn(&[f64]) -> f64| x.iter().zip(&y).map(|(r, t)| (f(r) - t).powi(2)).sum::<f64>();
        assert!(err(&|r| q.predict(r)) < 1e-3);
        assert!(err(&|r| l.predict(r)) > 0.5);
    }
}
