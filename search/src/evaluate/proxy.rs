//! Training-free accuracy proxies: NASWOT (Mellor et al. 2021, "Neural Architecture Search
//! without Training") and the parameter and MAC counts as baselines.

use edgenas_compiler::cost::CostReport;
use edgenas_compiler::ir::{Graph, NodeId, Op};
use edgenas_compiler::names::{parse_name, UnknownName};
use edgenas_compiler::{lower, onnx};
use edgenas_deploy::pipeline::{rebatch, standard_normal_input};
use edgenas_deploy::DeployError;
use edgenas_runtime::{CompiledModel, RunOptions, TensorF32};

use super::{AccuracyEvaluator, AccuracyResult, EvalContext};
use crate::BoxError;

/// Mini-batch size of NASWOT unless told otherwise (the paper uses 128; 32 keeps one
/// NB201 forward pass well under a second on a laptop core).
pub const DEFAULT_NASWOT_BATCH: usize = 32;

/// NASWOT's score when its kernel is singular (two inputs with the same activation code,
/// e.g. a network whose every ReLU reads zeros). Kernels have integer entries, so a
/// non-singular one has determinant ≥ 1 and a log-determinant ≥ 0: this is below every
/// real score, yet finite so sorting and averaging stay well defined.
pub const NASWOT_SINGULAR_SCORE: f64 = -1.0e9;

/// Which training-free score.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[derive(strum::EnumString, strum::Display, strum::IntoStaticStr, strum::VariantArray)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum ProxyKind {
    /// log |K_H| of the ReLU activation codes of one random mini-batch; see [`naswot_score`].
    Naswot,
    /// Trainable parameters ([`CostReport::params`]).
    Params,
    /// Multiply-accumulates of one inference ([`CostReport::macs`]).
    Macs,
}

impl ProxyKind {
    /// Parses a proxy name; the error lists the valid ones.
    pub fn parse(name: &str) -> Result<Self, UnknownName> {
        parse_name("proxy", name)
    }
}

/// Scores a candidate without training: higher is meant to predict higher accuracy.
/// Deterministic: the score depends only on the architecture graph, `batch` and `seed`
/// (weights and inputs are drawn from `seed`), never on the machine or the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProxyEvaluator {
    pub kind: ProxyKind,
    /// NASWOT mini-batch size (ignored by the counting proxies).
    pub batch: usize,
    /// Seed of NASWOT's weights and inputs (ignored by the counting proxies).
    pub seed: u64,
}

impl ProxyEvaluator {
    /// `kind` with batch [`DEFAULT_NASWOT_BATCH`] and seed 0.
    pub fn new(kind: ProxyKind) -> Self {
        ProxyEvaluator { kind, batch: DEFAULT_NASWOT_BATCH, seed: 0 }
    }

    /// The score of an architecture graph (as [`edgenas_compiler::space::Genome::build`]
    /// returns it: types inferred, no weights).
    pub fn score(&self, graph: &Graph) -> Result<f64, DeployError> {
        let cost =
            || CostReport::analyze(graph).map_err(|source| DeployError::Ir { step: "analyzing costs".into(), source });
        match self.kind {
            ProxyKind::Naswot => naswot_score(graph, self.batch, self.seed),
            ProxyKind::Params => Ok(cost()?.params as f64),
            ProxyKind::Macs => Ok(cost()?.macs as f64),
        }
    }
}

impl AccuracyEvaluator for ProxyEvaluator {
    fn uses_files(&self) -> bool {
        false
    }

    fn name(&self) -> String {
        self.kind.to_string()
    }

    fn evaluate(&self, ctx: &EvalContext<'_>) -> Result<AccuracyResult, BoxError> {
        let accuracy = self.score(ctx.graph)?;
        Ok(AccuracyResult { accuracy, trained_onnx: None })
    }
}

/// NASWOT: for a mini-batch of `batch` inputs drawn from a standard normal, each input's
/// binary code c_i is the sign pattern (> 0) of every ReLU/ReLU6 output of the network with
/// He-initialized weights (BatchNorm folded with its initialized statistics); the kernel is
/// `K_H[i][j] = N_A - hamming(c_i, c_j)` over the N_A activation units, and the score is
/// `log |K_H|`, or [`NASWOT_SINGULAR_SCORE`] when `K_H` is singular.
///
/// The network runs once, in tract, on the graph with its input rebatched to `batch`,
/// lowered with `seed` and emitted with every activation as an extra output. ReLUs that the
/// deploy rewrites remove (ones that only ever see zeros, or whose outputs are unused) do
/// not contribute, unlike in the hook-based reference implementation.
pub fn naswot_score(graph: &Graph, batch: usize, seed: u64) -> Result<f64, DeployError> {
    let probe = naswot_probe(graph, batch, seed)?;
    let compiled = CompiledModel::from_onnx_bytes(&probe.onnx, "naswot probe", &RunOptions::default())
        .map_err(|source| DeployError::Runtime { step: "compiling the NASWOT probe with tract".into(), source })?;
    let outputs = compiled
        .run(&probe.input)
        .map_err(|source| DeployError::Runtime { step: "running the NASWOT probe".into(), source })?;
    if outputs.len() != probe.main_outputs + probe.activations {
        return Err(DeployError::Invalid(format!(
            "the NASWOT probe returned {} outputs, expected {}",
            outputs.len(),
            probe.main_outputs + probe.activations
        )));
    }
    let codes = ActivationCodes::from_outputs(batch, &outputs[probe.main_outputs..])?;
    Ok(log_det_psd(&codes.kernel(), batch).unwrap_or(NASWOT_SINGULAR_SCORE))
}

/// The network [`naswot_score`] runs and its input, for checking the score elsewhere: the
/// lowered graph at batch `batch` as ONNX with every activation after the main outputs,
/// and the standard-normal input batch drawn from `seed`.
#[derive(Debug, Clone)]
pub struct NaswotProbe {
    pub onnx: Vec<u8>,
    pub input: TensorF32,
    /// Outputs of the network itself, before the activations.
    pub main_outputs: usize,
    /// Activation outputs that follow.
    pub activations: usize,
}

/// The probe of [`naswot_score`]. Errors as it does.
pub fn naswot_probe(graph: &Graph, batch: usize, seed: u64) -> Result<NaswotProbe, DeployError> {
    if batch < 2 {
        return Err(DeployError::Invalid(format!("NASWOT needs a mini-batch of at least 2 inputs, got {batch}")));
    }
    let ir = |step: &str| {
        let step = step.to_string();
        move |source| DeployError::Ir { step, source }
    };
    let graph = rebatch(graph, batch)?;
    let deployed = lower::lower(&graph, seed).map_err(ir("lowering the rebatched graph"))?;
    let activations: Vec<NodeId> = deployed
        .execution_order()
        .map_err(ir("ordering the graph"))?
        .into_iter()
        .filter(|&id| matches!(deployed.node(id).op, Op::Activation(_)))
        .collect();
    if activations.is_empty() {
        return Err(DeployError::Invalid("the network has no ReLU activation to read codes from".into()));
    }
    let onnx_error = |step: &str| {
        let step = step.to_string();
        move |source| DeployError::Onnx { step, source }
    };
    let model = onnx::EmitOptions::default()
        .emit_with_extra_outputs(&deployed, &activations)
        .map_err(onnx_error("emitting ONNX with the activations as outputs"))?;
    let onnx = onnx::to_bytes(&model).map_err(onnx_error("serializing the NASWOT probe"))?;
    let shape = deployed
        .inputs()
        .first()
        .and_then(|&id| deployed.output_type(id))
        .map(|t| t.shape.clone())
        .ok_or_else(|| DeployError::Invalid("the rebatched graph has no typed input".into()))?;
    let input = standard_normal_input(&shape, seed, "naswot.inputs")?;
    Ok(NaswotProbe { onnx, input, main_outputs: deployed.outputs().len(), activations: activations.len() })
}

/// One bit per activation unit per input, packed in 64-bit words (unused bits zero).
struct ActivationCodes {
    batch: usize,
    words: usize,
    bits: Vec<u64>,
    units: u64,
}

impl ActivationCodes {
    fn from_outputs(batch: usize, outputs: &[TensorF32]) -> Result<Self, DeployError> {
        let per_input: Vec<usize> = outputs
            .iter()
            .map(|t| {
                if t.shape.first() != Some(&batch) || t.data.len() % batch != 0 {
                    return Err(DeployError::Invalid(format!(
                        "activation of shape {:?} does not have batch size {batch}",
                        t.shape
                    )));
                }
                Ok(t.data.len() / batch)
            })
            .collect::<Result<_, _>>()?;
        let units: usize = per_input.iter().sum();
        let words = units.div_ceil(64);
        let mut bits = vec![0u64; batch * words];
        for i in 0..batch {
            let code = &mut bits[i * words..(i + 1) * words];
            let mut bit = 0;
            for (t, &n) in outputs.iter().zip(&per_input) {
                for &v in &t.data[i * n..(i + 1) * n] {
                    if v > 0.0 {
                        code[bit / 64] |= 1 << (bit % 64);
                    }
                    bit += 1;
                }
            }
        }
        Ok(ActivationCodes { batch, words, bits, units: units as u64 })
    }

    /// `K_H`, row-major `batch x batch`: units minus the Hamming distance of two codes.
    fn kernel(&self) -> Vec<f64> {
        let code = |i: usize| &self.bits[i * self.words..(i + 1) * self.words];
        let mut k = vec![0.0; self.batch * self.batch];
        for i in 0..self.batch {
            for j in i..self.batch {
                let hamming: u64 = code(i).iter().zip(code(j)).map(|(a, b)| u64::from((a ^ b).count_ones())).sum();
                let v = (self.units - hamming) as f64;
                k[i * self.batch + j] = v;
                k[j * self.batch + i] = v;
            }
        }
        k
    }
}

/// `log det(a)` of a row-major `n x n` positive semidefinite matrix by LU decomposition with
/// partial pivoting; `None` when it is singular, i.e. a pivot is at most
/// `n * f64::EPSILON * max|a|` (numerical rank deficiency), or when the determinant is not
/// positive (not semidefinite after all).
fn log_det_psd(a: &[f64], n: usize) -> Option<f64> {
    if Some(a.len()) != n.checked_mul(n) {
        return None;
    }
    let mut lu = a.to_vec();
    let tolerance = n as f64 * f64::EPSILON * a.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let mut log_det = 0.0;
    let mut positive = true;
    for col in 0..n {
        let pivot_row = (col..n).max_by(|&r, &s| lu[r * n + col].abs().total_cmp(&lu[s * n + col].abs()))?;
        let pivot = lu[pivot_row * n + col];
        if pivot.is_nan() || pivot.abs() <= tolerance {
            return None;
        }
        if pivot_row != col {
            for c in 0..n {
                lu.swap(pivot_row * n + c, col * n + c);
            }
            positive = !positive;
        }
        if pivot < 0.0 {
            positive = !positive;
        }
        log_det += pivot.abs().ln();
        for r in col + 1..n {
            let factor = lu[r * n + col] / pivot;
            if factor != 0.0 {
                for c in col + 1..n {
                    lu[r * n + c] -= factor * lu[col * n + c];
                }
            }
        }
    }
    positive.then_some(log_det)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_det_of_hand_computed_matrices() {
        // det [[2,1],[1,2]] = 4 - 1 = 3.
        assert!((log_det_psd(&[2.0, 1.0, 1.0, 2.0], 2).unwrap() - 3f64.ln()).abs() < 1e-12);
        // Cofactors along the first row: 4 (3*2 - 1*1) - 2 (2*2 - 1*0) + 0 = 12.
        let a = [4.0, 2.0, 0.0, 2.0, 3.0, 1.0, 0.0, 1.0, 2.0];
        assert!((log_det_psd(&a, 3).unwrap() - 12f64.ln()).abs() < 1e-12);
        // det [[1,2],[2,5]] = 1: pivoting swaps the rows, the pivots are 2 and -0.5, and the
        // two sign changes cancel.
        assert!(log_det_psd(&[1.0, 2.0, 2.0, 5.0], 2).unwrap().abs() < 1e-12);
        assert_eq!(log_det_psd(&[1.0, 1.0, 1.0, 1.0], 2), None);
        assert_eq!(log_det_psd(&[0.0, 1.0, 1.0, 0.0], 2), None, "det -1: not semidefinite");
    }

    #[test]
    fn kernel_counts_agreeing_units_across_all_activations() {
        // Input 0 codes 1,0,0 | 1; input 1 codes 1,1,0 | 0: 4 units, Hamming distance 2.
        let a = TensorF32::new(vec![2, 3], vec![1.0, -1.0, 0.0, 1.0, 1.0, -2.0]).unwrap();
        let b = TensorF32::new(vec![2, 1], vec![0.5, -0.5]).unwrap();
        let codes = ActivationCodes::from_outputs(2, &[a, b]).unwrap();
        assert_eq!(codes.kernel(), [4.0, 2.0, 2.0, 4.0]);
        let wrong = TensorF32::new(vec![3, 1], vec![1.0; 3]).unwrap();
        assert!(ActivationCodes::from_outputs(2, &[wrong]).is_err());
    }
}
