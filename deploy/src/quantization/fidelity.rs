//! How closely a lower-precision model follows its f32 original.

use edgenas_runtime::{CompiledModel, TensorF32};
use serde::Serialize;

use crate::error::{DeployError, Step};

/// Agreement of a model's first output with the f32 model's, over a set of inputs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Fidelity {
    pub inputs: usize,
    /// Signal-to-quantization-noise ratio of the output, `10 log10(Σ ref² / Σ (ref - q)²)`
    /// over all inputs; `None` when the outputs are identical.
    pub sqnr_db: Option<f64>,
    /// Cosine similarity of the outputs, all inputs concatenated.
    pub cosine: f64,
    pub max_abs_error: f64,
    /// Largest `|ref - q| / max |ref|` over all values.
    pub max_rel_error: f64,
    /// Fraction of inputs whose arg-max over the last axis is the same as the f32 model's.
    pub top1_agreement: f64,
}

/// Output SQNR of one layer's activation, to find the layer that hurts.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LayerSqnr {
    pub layer: String,
    pub tensor: String,
    pub sqnr_db: Option<f64>,
}

/// Running sums for [`Fidelity`].
#[derive(Debug, Default)]
pub struct FidelityAccumulator {
    inputs: usize,
    signal: f64,
    noise: f64,
    dot: f64,
    ref_norm: f64,
    q_norm: f64,
    max_abs: f64,
    max_ref: f64,
    top1_same: usize,
}

impl FidelityAccumulator {
    /// Adds one input's outputs (same shape).
    pub fn add(&mut self, reference: &TensorF32, quantized: &TensorF32) -> Result<(), DeployError> {
        if reference.shape != quantized.shape {
            return Err(DeployError::Invalid(format!(
                "output shapes differ: f32 {:?}, quantized {:?}",
                reference.shape, quantized.shape
            )));
        }
        self.inputs += 1;
        for (&r, &q) in reference.data.iter().zip(&quantized.data) {
            let (r, q) = (f64::from(r), f64::from(q));
            self.signal += r * r;
            self.noise += (r - q) * (r - q);
            self.dot += r * q;
            self.ref_norm += r * r;
            self.q_norm += q * q;
            self.max_abs = self.max_abs.max((r - q).abs());
            self.max_ref = self.max_ref.max(r.abs());
        }
        let classes = reference.shape.last().copied().unwrap_or(1).max(1);
        let rows = reference.data.chunks(classes).zip(quantized.data.chunks(classes));
        let (mut same, mut total) = (0, 0);
        for (r, q) in rows {
            total += 1;
            same += usize::from(argmax(r) == argmax(q));
        }
        if same == total {
            self.top1_same += 1;
        }
        Ok(())
    }

    pub fn finish(&self) -> Fidelity {
        Fidelity {
            inputs: self.inputs,
            sqnr_db: sqnr_db(self.signal, self.noise),
            cosine: if self.ref_norm > 0.0 && self.q_norm > 0.0 {
                self.dot / (self.ref_norm.sqrt() * self.q_norm.sqrt())
            } else {
                f64::from(u8::from(self.ref_norm == self.q_norm))
            },
            max_abs_error: self.max_abs,
            max_rel_error: if self.max_ref > 0.0 { self.max_abs / self.max_ref } else { self.max_abs },
            top1_agreement: if self.inputs == 0 { 0.0 } else { self.top1_same as f64 / self.inputs as f64 },
        }
    }
}

/// `10 log10(signal / noise)`; `None` when there is no noise.
pub fn sqnr_db(signal: f64, noise: f64) -> Option<f64> {
    (noise > 0.0).then(|| 10.0 * (signal / noise).log10())
}

fn argmax(values: &[f32]) -> usize {
    let mut best = 0;
    for (i, v) in values.iter().enumerate() {
        if *v > values[best] {
            best = i;
        }
    }
    best
}

/// Runs both models on every input and compares their first outputs.
pub fn compare(
    reference: &CompiledModel,
    quantized: &CompiledModel,
    inputs: &[TensorF32],
) -> Result<Fidelity, DeployError> {
    let mut acc = FidelityAccumulator::default();
    for (i, x) in inputs.iter().enumerate() {
        let r = reference.run(x).step(format!("running the f32 model on input {i}"))?;
        let q = quantized.run(x).step(format!("running the quantized model on input {i}"))?;
        let (Some(r), Some(q)) = (r.first(), q.first()) else {
            return Err(DeployError::Invalid("a model returned no output".into()));
        };
        acc.add(r, q)?;
    }
    Ok(acc.finish())
}

/// Per-tensor SQNR of `tensors`, exposed as outputs `1..` of both probes in the same order.
pub fn layer_sqnr(
    reference: &CompiledModel,
    quantized: &CompiledModel,
    inputs: &[TensorF32],
    layers: &[(String, String)],
) -> Result<Vec<LayerSqnr>, DeployError> {
    let mut sums = vec![(0f64, 0f64); layers.len()];
    for (i, x) in inputs.iter().enumerate() {
        let r = reference.run(x).step(format!("running the f32 probe on input {i}"))?;
        let q = quantized.run(x).step(format!("running the quantized probe on input {i}"))?;
        if r.len() != layers.len() + 1 || q.len() != layers.len() + 1 {
            return Err(DeployError::Invalid(format!(
                "probes returned {} and {} outputs for {} layers",
                r.len(),
                q.len(),
                layers.len()
            )));
        }
        for (k, (rt, qt)) in r[1..].iter().zip(&q[1..]).enumerate() {
            if rt.shape != qt.shape {
                return Err(DeployError::Invalid(format!(
                    "tensor `{}` has shape {:?} vs {:?}",
                    layers[k].1, rt.shape, qt.shape
                )));
            }
            for (&a, &b) in rt.data.iter().zip(&qt.data) {
                sums[k].0 += f64::from(a) * f64::from(a);
                sums[k].1 += (f64::from(a) - f64::from(b)).powi(2);
            }
        }
    }
    Ok(layers
        .iter()
        .zip(sums)
        .map(|((layer, tensor), (s, n))| LayerSqnr {
            layer: layer.clone(),
            tensor: tensor.clone(),
            sqnr_db: sqnr_db(s, n),
        })
        .collect())
}
