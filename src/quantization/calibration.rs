//! Calibration inputs: from a `.npy` file, a raw little-endian f32 file with a given shape, or
//! drawn from a seeded standard normal; split into a calibration part and a held-out part.

use std::path::PathBuf;

use anyhow::{bail, ensure, Context, Result};
use edgenas_compiler::rng::SeededRng;
use edgenas_runtime::{read_npy_f32, TensorF32};

/// Where calibration inputs come from.
#[derive(Debug, Clone, PartialEq)]
pub enum CalibrationSource {
    /// A `.npy` f32 array `[N, ...]` whose trailing dimensions are the model input's
    /// (without its batch of 1), or exactly the model input's shape (one input).
    Npy(PathBuf),
    /// Raw little-endian f32 values of the given shape, read like [`CalibrationSource::Npy`].
    Raw { path: PathBuf, shape: Vec<usize> },
    /// `count` inputs with i.i.d. standard-normal values drawn from `seed` (the distribution
    /// of normalized images, and of the BatchNorm calibration of emitted models).
    Synthetic { count: usize, seed: u64 },
}

impl CalibrationSource {
    pub fn describe(&self) -> String {
        match self {
            CalibrationSource::Npy(p) => p.display().to_string(),
            CalibrationSource::Raw { path, shape } => format!("{} (raw f32 {shape:?})", path.display()),
            CalibrationSource::Synthetic { count, seed } => format!("synthetic N(0,1), {count} inputs, seed {seed}"),
        }
    }
}

/// Every fifth input (indices 4, 9, ...) is held out from range calibration; with fewer than
/// five inputs, the last one is.
pub const HELD_OUT_EVERY: usize = 5;

/// Calibration inputs, each of the model's input shape.
#[derive(Debug, Clone)]
pub struct CalibrationSet {
    /// Inputs the activation ranges are measured on.
    pub calibration: Vec<TensorF32>,
    /// Inputs only used to report fidelity.
    pub held_out: Vec<TensorF32>,
}

impl CalibrationSet {
    /// Reads or draws the inputs for a model whose input has `input_shape`.
    ///
    /// Errors: an unreadable or truncated file, a shape that does not match the model
    /// input, non-finite values, fewer than 2 inputs.
    pub fn load(source: &CalibrationSource, input_shape: &[usize]) -> Result<Self> {
        let per_input: usize = input_shape.iter().product();
        let (count, data) = match source {
            CalibrationSource::Synthetic { count, seed } => {
                let mut rng = SeededRng::derive(*seed, "calibration.inputs");
                (*count, (0..count * per_input).map(|_| rng.normal()).collect())
            }
            CalibrationSource::Npy(path) => {
                let t = read_npy_f32(path).with_context(|| format!("reading calibration file {}", path.display()))?;
                let n =
                    inputs_in(&t.shape, input_shape).with_context(|| format!("calibration file {}", path.display()))?;
                (n, t.data)
            }
            CalibrationSource::Raw { path, shape } => {
                let bytes =
                    std::fs::read(path).with_context(|| format!("reading calibration file {}", path.display()))?;
                let expected = shape.iter().product::<usize>() * 4;
                ensure!(
                    bytes.len() == expected,
                    "calibration file {} has {} bytes, but shape {shape:?} of f32 needs {expected}{}",
                    path.display(),
                    bytes.len(),
                    if bytes.len() < expected { " (truncated?)" } else { "" }
                );
                let n =
                    inputs_in(shape, input_shape).with_context(|| format!("calibration file {}", path.display()))?;
                (n, bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
            }
        };
        ensure!(count >= 2, "calibration needs at least 2 inputs ({} has {count})", source.describe());
        if let Some(i) = data.iter().position(|v: &f32| !v.is_finite()) {
            bail!("calibration input {} holds a NaN or infinite value ({})", i / per_input, source.describe());
        }
        let mut set = CalibrationSet { calibration: Vec::new(), held_out: Vec::new() };
        for (i, chunk) in data.chunks_exact(per_input).enumerate() {
            let t = TensorF32::new(input_shape.to_vec(), chunk.to_vec())?;
            let held = if count < HELD_OUT_EVERY { i == count - 1 } else { i % HELD_OUT_EVERY == HELD_OUT_EVERY - 1 };
            if held {
                set.held_out.push(t);
            } else {
                set.calibration.push(t);
            }
        }
        Ok(set)
    }
}

/// How many model inputs an array of `shape` holds: `[N, rest..]` with `rest` the model
/// input's shape without its leading 1, or exactly the model input's shape.
fn inputs_in(shape: &[usize], input_shape: &[usize]) -> Result<usize> {
    if shape == input_shape {
        return Ok(1);
    }
    let per_sample = match input_shape.split_first() {
        Some((1, rest)) => rest,
        _ => input_shape,
    };
    match shape.split_first() {
        Some((&n, rest)) if rest == per_sample => Ok(n),
        _ => bail!(
            "has shape {shape:?}, expected [N, {}] for a model whose input is {input_shape:?}",
            per_sample.iter().map(usize::to_string).collect::<Vec<_>>().join(", ")
        ),
    }
}
