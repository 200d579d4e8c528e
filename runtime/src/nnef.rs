//! NNEF: tract's own model format (`.nnef.tgz`), which a device runner loads without the
//! ONNX parser.
//!
//! Only a *decluttered* model can be written (tract has no serializer for optimized kernels
//! such as LazyIm2col, nor for QuantizeLinear/DequantizeLinear); the file is built in memory
//! so that a failed write never leaves a truncated archive behind. Reloading is bit-exact.

use std::path::Path;
use std::time::{Duration, Instant};

use tract_nnef::framework::Nnef;
use tract_nnef::tract_core::prelude::{Framework, TypedModel};

use crate::model::{guarded, tract};
use crate::{CompiledModel, RunOptions, RuntimeError};

/// The tract registry of ONNX-only operators (tract-onnx-opl's NNEF extension).
pub const ONNX_OPS_REGISTRY: &str = "tract_onnx";

impl CompiledModel {
    /// Loads the NNEF model at `path`: a `.nnef.tgz` or `.nnef.tar` archive, or a directory
    /// holding `graph.nnef` and its `.dat` tensors.
    ///
    /// The input shape is the one stored in the file; `opts.input_shape`, when given, must
    /// equal it. Fails with [`RuntimeError::Io`] if `path` does not exist, otherwise as
    /// [`CompiledModel::from_nnef_bytes`].
    pub fn from_nnef_path(path: &Path, opts: &RunOptions) -> Result<Self, RuntimeError> {
        if !path.exists() {
            let source = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file or directory");
            return Err(RuntimeError::Io { path: path.to_path_buf(), source });
        }
        let label = path.display().to_string();
        guarded(&label, || {
            let start = Instant::now();
            let typed = registry().model_for_path(path).map_err(nnef_error)?;
            Self::from_nnef_typed(typed, start.elapsed(), opts)
        })
    }

    /// Loads an NNEF archive (`.nnef.tgz` or `.nnef.tar`) from its bytes; `label` names it in
    /// error messages.
    ///
    /// Fails with [`RuntimeError::Load`] when the bytes are not an NNEF archive, when it uses
    /// an operator registry this build lacks (`tract_onnx` needs the `nnef-onnx-ops`
    /// feature), when it does not have exactly one input of concrete shape, or when
    /// `opts.input_shape` differs from that shape. A tract panic is reported the same way.
    pub fn from_nnef_bytes(bytes: &[u8], label: &str, opts: &RunOptions) -> Result<Self, RuntimeError> {
        guarded(label, || {
            let start = Instant::now();
            let typed = registry().model_for_read(&mut &*bytes).map_err(nnef_error)?;
            Self::from_nnef_typed(typed, start.elapsed(), opts)
        })
    }

    fn from_nnef_typed(typed: TypedModel, parse: Duration, opts: &RunOptions) -> Result<Self, String> {
        if let Some(wanted) = &opts.input_shape {
            let stored = typed.input_fact(0).map_err(tract("reading the input fact"))?.shape.as_concrete();
            if stored != Some(wanted.as_slice()) {
                return Err(format!(
                    "the NNEF model is fixed to input shape {stored:?}, {wanted:?} was requested: export it again \
                     for that shape"
                ));
            }
        }
        let start = Instant::now();
        let typed = if opts.optimize {
            typed.into_optimized().map_err(tract("optimizing"))?
        } else {
            typed.into_decluttered().map_err(tract("decluttering"))?
        };
        Self::from_typed(typed, parse, start.elapsed())
    }
}

/// Translates the ONNX model in `onnx` for one input shape (`input_shape`, or the one the
/// file declares), declutters it and returns it as the bytes of a `.nnef.tgz` archive
/// (deterministic: same model, same bytes).
///
/// Operators only ONNX has are written through tract-onnx-opl's `tract_onnx` registry,
/// which the file then names (see [`nnef_registries`]). Fails with [`RuntimeError::Load`]
/// when the ONNX model does not load, and with [`RuntimeError::NnefSave`] when tract cannot
/// serialize one of its operators (e.g. QuantizeLinear), naming it. Needs the `onnx`
/// feature.
#[cfg(feature = "onnx")]
pub fn save_nnef(onnx: &[u8], input_shape: Option<&[usize]>) -> Result<Vec<u8>, RuntimeError> {
    use tract_onnx::WithOnnx;

    let opts = RunOptions { input_shape: input_shape.map(<[usize]>::to_vec), optimize: false };
    let (typed, _, _) = guarded("ONNX model", || crate::model::onnx_to_typed(onnx, None, &opts))?;
    let write = || {
        let encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        let nnef = tract_nnef::nnef().with_onnx();
        let encoder = nnef.write_to_tar_with_config(&typed, encoder, false, true).map_err(|e| format!("{e:#}"))?;
        encoder.finish().map_err(|e| format!("compressing: {e}"))
    };
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(write))
        .unwrap_or_else(|_| Err("tract panicked while serializing".to_string()))
        .map_err(RuntimeError::NnefSave)
}

/// The tract operator registries an NNEF archive declares it needs (`tract_core`,
/// [`ONNX_OPS_REGISTRY`], ...), from its `extension tract_registry` lines.
///
/// Fails with [`RuntimeError::Load`] when `bytes` is not an NNEF archive.
pub fn nnef_registries(bytes: &[u8]) -> Result<Vec<String>, RuntimeError> {
    guarded("NNEF archive", || {
        let proto = tract_nnef::nnef().proto_model_for_read(&mut &*bytes).map_err(nnef_error)?;
        Ok(proto
            .doc
            .extension
            .iter()
            .filter(|(kind, _)| kind.0 == "tract_registry")
            .map(|(_, name)| name.trim().to_string())
            .collect())
    })
}

/// The NNEF framework with every operator registry this build has.
fn registry() -> Nnef {
    #[cfg(feature = "nnef-onnx-ops")]
    {
        use tract_onnx_opl::WithOnnx;
        tract_nnef::nnef().with_onnx()
    }
    #[cfg(not(feature = "nnef-onnx-ops"))]
    tract_nnef::nnef()
}

fn nnef_error(e: tract_nnef::tract_core::prelude::TractError) -> String {
    let message = format!("{e:#}");
    if message.contains("Registry not found") && message.contains(ONNX_OPS_REGISTRY) {
        format!(
            "the model uses ONNX-only operators (registry `{ONNX_OPS_REGISTRY}`) and this build lacks them: \
             enable the `nnef-onnx-ops` feature ({message})"
        )
    } else {
        format!("reading NNEF: {message}")
    }
}
