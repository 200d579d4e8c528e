//! Calibration inputs: from a `.npy` file, a raw little-endian f32 file with a given shape, or
//! drawn from a seeded standard normal; split into a calibration part and a held-out part.

use std::path::PathBuf;

use edgenas_compiler::ir::element_count;
use edgenas_compiler::rng::SeededRng;
use edgenas_runtime::{read_npy_f32, TensorF32};

use crate::error::{DeployError, Step};

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
    /// input or whose element count overflows, non-finite values, fewer than 2 inputs.
    pub fn load(source: &CalibrationSource, input_shape: &[usize]) -> Result<Self, DeployError> {
        let invalid =
            |reason: String| DeployError::Invalid(format!("calibration inputs {}: {reason}", source.describe()));
        let per_input = element_count(input_shape)
            .filter(|&n| n > 0)
            .ok_or_else(|| invalid(format!("the model input shape {input_shape:?} holds no value or too many")))?;
        let (count, data) = match source {
            CalibrationSource::Synthetic { count, seed } => {
                let values = count
                    .checked_mul(per_input)
                    .filter(|&n| n <= MAX_CALIBRATION_VALUES)
                    .ok_or_else(|| invalid(format!("{count} inputs of {per_input} values are too many")))?;
                let mut rng = SeededRng::derive(*seed, "calibration.inputs");
                (*count, (0..values).map(|_| rng.normal()).collect())
            }
            CalibrationSource::Npy(path) => {
                let t = read_npy_f32(path).step(format!("reading calibration file {}", path.display()))?;
                (inputs_in(&t.shape, input_shape).map_err(invalid)?, t.data)
            }
            CalibrationSource::Raw { path, shape } => {
                let expected = element_count(shape)
                    .and_then(|n| n.checked_mul(4))
                    .ok_or_else(|| invalid(format!("shape {shape:?} is too large")))?;
                let n = inputs_in(shape, input_shape).map_err(invalid)?;
                let bytes = std::fs::read(path).map_err(DeployError::io("reading calibration file", path))?;
                if bytes.len() != expected {
                    return Err(invalid(format!(
                        "{} bytes, but shape {shape:?} of f32 needs {expected}{}",
                        bytes.len(),
                        if bytes.len() < expected { " (truncated?)" } else { "" }
                    )));
                }
                (n, bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
            }
        };
        if count < 2 {
            return Err(invalid(format!("calibration needs at least 2 inputs, got {count}")));
        }
        if let Some(i) = data.iter().position(|v: &f32| !v.is_finite()) {
            return Err(invalid(format!("input {} holds a NaN or infinite value", i / per_input)));
        }
        let mut set = CalibrationSet { calibration: Vec::new(), held_out: Vec::new() };
        for (i, chunk) in data.chunks_exact(per_input).enumerate() {
            let t = TensorF32::new(input_shape.to_vec(), chunk.to_vec()).step("splitting calibration inputs")?;
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

/// Most calibration values drawn synthetically (2^28 f32: 1 GiB).
const MAX_CALIBRATION_VALUES: usize = 1 << 28;

/// How many model inputs an array of `shape` holds: `[N, rest..]` with `rest` the model
/// input's shape without its leading 1, or exactly the model input's shape.
fn inputs_in(shape: &[usize], input_shape: &[usize]) -> Result<usize, String> {
    if shape == input_shape {
        return Ok(1);
    }
    let per_sample = match input_shape.split_first() {
        Some((1, rest)) => rest,
        _ => input_shape,
    };
    match shape.split_first() {
        Some((&n, rest)) if rest == per_sample => Ok(n),
        _ => Err(format!(
            "has shape {shape:?}, expected [N, {}] for a model whose input is {input_shape:?}",
            per_sample.iter().map(usize::to_string).collect::<Vec<_>>().join(", ")
        )),
    }
}
