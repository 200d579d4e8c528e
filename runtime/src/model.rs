//! A model (ONNX, or NNEF: see [`crate::nnef`]) loaded, typed, optimized and planned by
//! tract, ready to run.

#[cfg(feature = "onnx")]
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tract_nnef::tract_core::prelude::{
    tvec, DatumType, IntoRunnable, IntoTValue, TValue, Tensor, TractError, TypedModel, TypedRunnableModel,
    TypedSimpleState,
};
#[cfg(feature = "onnx")]
use tract_onnx::prelude::{Datum, Framework, InferenceFact, InferenceModelExt};
#[cfg(feature = "onnx")]
use tract_onnx::tract_hir::infer::Factoid;
#[cfg(feature = "onnx")]
use tract_onnx::tract_hir::internal::DimLike;

use crate::{panic_message, RuntimeError, TensorF32};

/// How to load a model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunOptions {
    /// Shape to give the model's input, overriding the one the file declares. Required when the
    /// file leaves a dimension symbolic (`N`, `batch`) or unknown.
    pub input_shape: Option<Vec<usize>>,
    /// Run tract's full optimizer (`into_optimized`). When false the model is only typed and
    /// decluttered: tract's reference operators, without kernel selection or fusion.
    pub optimize: bool,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions { input_shape: None, optimize: true }
    }
}

/// Wall time spent loading a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LoadTimings {
    /// Decoding the file and translating it to a tract model (ONNX: the protobuf to an
    /// inference model; NNEF: the archive to a typed model).
    pub parse: Duration,
    /// Typing, optimizing (or decluttering) and planning: `into_optimized` + `into_runnable`.
    pub optimize: Duration,
}

/// Name, shape and element type of one model input or output, as tract types it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TensorFact {
    /// The tensor's name in the model (for NNEF, the name the NNEF writer gave it).
    pub name: String,
    /// Concrete dimensions; `None` when they depend on the input values.
    pub shape: Option<Vec<usize>>,
    /// tract's name of the element type: `F32`, `F16`, `U8`, `I8`, `I32`, ...
    pub datum_type: String,
}

/// A model with exactly one input, compiled by tract for one concrete input shape.
///
/// Cheap to clone (the plan is shared) and usable from several threads; every call to
/// [`CompiledModel::run`] gets a fresh tract state.
#[derive(Clone)]
pub struct CompiledModel {
    pub(crate) plan: Arc<TypedRunnableModel>,
    input_shape: Vec<usize>,
    input_type: DatumType,
    output_shapes: Vec<Option<Vec<usize>>>,
    input_facts: Vec<TensorFact>,
    output_facts: Vec<TensorFact>,
    timings: LoadTimings,
}

impl CompiledModel {
    /// Loads the ONNX model in `path`.
    ///
    /// Needs the `onnx` feature. Tensors stored as external data are looked up next to it.
    ///
    /// Fails with [`RuntimeError::Io`] if the file cannot be read, otherwise as
    /// [`CompiledModel::from_onnx_bytes`].
    #[cfg(feature = "onnx")]
    pub fn from_onnx_path(path: &Path, opts: &RunOptions) -> Result<Self, RuntimeError> {
        let bytes = std::fs::read(path).map_err(|source| RuntimeError::Io { path: path.to_path_buf(), source })?;
        let dir = path.parent().and_then(Path::to_str).filter(|d| !d.is_empty());
        Self::load(&bytes, &path.display().to_string(), dir, opts)
    }

    /// Loads an ONNX model from its serialized bytes; `label` names it in error messages.
    ///
    /// Fails with [`RuntimeError::Load`] when the bytes are not an ONNX model, when tract does
    /// not support one of its operators, when the model does not have exactly one input, or
    /// when that input's shape is not fully known and `opts.input_shape` does not give it. The
    /// error carries tract's whole explanation. tract panicking on a malformed model is
    /// reported the same way.
    #[cfg(feature = "onnx")]
    pub fn from_onnx_bytes(bytes: &[u8], label: &str, opts: &RunOptions) -> Result<Self, RuntimeError> {
        Self::load(bytes, label, None, opts)
    }

    #[cfg(feature = "onnx")]
    fn load(bytes: &[u8], label: &str, model_dir: Option<&str>, opts: &RunOptions) -> Result<Self, RuntimeError> {
        guarded(label, || {
            let (typed, parse, optimize) = onnx_to_typed(bytes, model_dir, opts)?;
            Self::from_typed(typed, parse, optimize)
        })
    }

    /// Plans `typed` (already optimized or decluttered) and records its facts; `parse` and
    /// `optimize` are the load time spent so far, planning counts as optimizing.
    pub(crate) fn from_typed(typed: TypedModel, parse: Duration, optimize: Duration) -> Result<Self, String> {
        let start = Instant::now();
        let plan = typed.into_runnable().map_err(tract("planning"))?;
        let optimize = optimize + start.elapsed();

        let typed = plan.model();
        let [input] = typed.inputs.as_slice() else {
            return Err(format!("the model has {} inputs, only single-input models are supported", typed.inputs.len()));
        };
        let input_name = typed.node(input.node).name.clone();
        let input_fact = typed.input_fact(0).map_err(tract("reading the typed input"))?;
        let input_shape = input_fact
            .shape
            .as_concrete()
            .ok_or_else(|| format!("input '{input_name}' has shape {:?} after typing", input_fact.shape))?
            .to_vec();
        let input_type = input_fact.datum_type;
        let fact_of = |outlet, fact: &tract_nnef::tract_core::prelude::TypedFact| TensorFact {
            name: typed.outlet_label(outlet).unwrap_or(&typed.node(outlet.node).name).to_string(),
            shape: fact.shape.as_concrete().map(<[usize]>::to_vec),
            datum_type: format!("{:?}", fact.datum_type),
        };
        let input_facts = vec![fact_of(*input, input_fact)];
        let output_facts = typed
            .outputs
            .iter()
            .enumerate()
            .map(|(ix, &outlet)| Ok(fact_of(outlet, typed.output_fact(ix).map_err(tract("reading an output fact"))?)))
            .collect::<Result<Vec<_>, String>>()?;
        let output_shapes = output_facts.iter().map(|f| f.shape.clone()).collect();
        Ok(CompiledModel {
            plan,
            input_shape,
            input_type,
            output_shapes,
            input_facts,
            output_facts,
            timings: LoadTimings { parse, optimize },
        })
    }

    /// The model's input (one), as tract typed it.
    pub fn input_facts(&self) -> &[TensorFact] {
        &self.input_facts
    }

    /// The model's outputs, in order, as tract typed them.
    pub fn output_facts(&self) -> &[TensorFact] {
        &self.output_facts
    }

    /// The input shape the model was compiled for; [`CompiledModel::run`] accepts only it.
    pub fn input_shape(&self) -> &[usize] {
        &self.input_shape
    }

    /// The shape of each output, in the model's output order; `None` for an output whose shape
    /// depends on the input values (e.g. `NonZero`).
    pub fn output_shapes(&self) -> &[Option<Vec<usize>>] {
        &self.output_shapes
    }

    /// Time spent loading the model.
    pub fn timings(&self) -> LoadTimings {
        self.timings
    }

    /// Runs one inference and returns every output as `f32` (outputs of another numeric type
    /// are cast).
    ///
    /// Fails with [`RuntimeError::InputShape`] when `input` does not have
    /// [`CompiledModel::input_shape`], [`RuntimeError::TensorData`] when its data does not match
    /// its shape, and [`RuntimeError::Run`] when tract fails, a tract panic included (e.g. a
    /// `Gather` whose indices, computed from the input, are out of range).
    pub fn run(&self, input: &TensorF32) -> Result<Vec<TensorF32>, RuntimeError> {
        let input = self.prepare_input(input)?;
        let outputs = unpanicked(|| self.plan.run(tvec![input]).map_err(run_error))?;
        outputs.into_iter().map(to_tensor_f32).collect()
    }

    /// A reusable execution state fed with a fixed pseudo-random input (uniform in [-1, 1),
    /// the same for every call), for timing loops.
    pub fn runner(&self) -> Result<Runner, RuntimeError> {
        let len = crate::npy::element_count(&self.input_shape)
            .ok_or_else(|| RuntimeError::Run("input shape is too large".to_string()))?;
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let data = (0..len)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                (seed >> 40) as f32 / (1u64 << 23) as f32 - 1.0
            })
            .collect();
        self.runner_with_input(&TensorF32 { shape: self.input_shape.clone(), data })
    }

    /// A reusable execution state fed with `input` on every run. Fails as
    /// [`CompiledModel::run`] does on a bad input.
    pub fn runner_with_input(&self, input: &TensorF32) -> Result<Runner, RuntimeError> {
        Ok(Runner { state: self.plan.spawn().map_err(run_error)?, input: self.prepare_input(input)? })
    }

    fn prepare_input(&self, input: &TensorF32) -> Result<TValue, RuntimeError> {
        if input.shape != self.input_shape {
            return Err(RuntimeError::InputShape { expected: self.input_shape.clone(), got: input.shape.clone() });
        }
        input.check()?;
        let tensor = Tensor::from_shape(&input.shape, &input.data).map_err(run_error)?;
        let tensor = if tensor.datum_type() == self.input_type {
            tensor
        } else {
            tensor.cast_to_dt(self.input_type).map_err(run_error)?.into_owned()
        };
        Ok(tensor.into_tvalue())
    }
}

impl std::fmt::Debug for CompiledModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompiledModel")
            .field("nodes", &self.plan.model().nodes.len())
            .field("input_shape", &self.input_shape)
            .field("input_type", &self.input_type)
            .field("output_shapes", &self.output_shapes)
            .field("inputs", &self.input_facts)
            .field("outputs", &self.output_facts)
            .field("timings", &self.timings)
            .finish()
    }
}

/// A tract execution state bound to one prepared input, so that repeated runs allocate
/// neither the state nor the input.
pub struct Runner {
    pub(crate) state: TypedSimpleState,
    pub(crate) input: TValue,
}

impl Runner {
    /// Runs one inference on the prepared input and discards the outputs.
    pub fn run_once(&mut self) -> Result<(), RuntimeError> {
        let input = self.input.clone();
        unpanicked(|| self.state.run(tvec![input]).map(drop).map_err(run_error))
    }

    /// Runs one inference on the prepared input and returns every output as `f32`, as
    /// [`CompiledModel::run`] does.
    pub fn run(&mut self) -> Result<Vec<TensorF32>, RuntimeError> {
        let input = self.input.clone();
        let outputs = unpanicked(|| self.state.run(tvec![input]).map_err(run_error))?;
        outputs.into_iter().map(to_tensor_f32).collect()
    }
}

impl std::fmt::Debug for Runner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runner").field("input_shape", &self.input.shape()).finish_non_exhaustive()
    }
}

fn run_error(e: TractError) -> RuntimeError {
    RuntimeError::Run(format!("{e:#}"))
}

fn to_tensor_f32(value: TValue) -> Result<TensorF32, RuntimeError> {
    let tensor = value.cast_to::<f32>().map_err(run_error)?;
    let data =
        tensor.try_as_plain_ram().and_then(|view| view.as_slice::<f32>().map(<[f32]>::to_vec)).map_err(run_error)?;
    Ok(TensorF32 { shape: tensor.shape().to_vec(), data })
}

/// The concrete dimensions of `fact`, or why there are none.
#[cfg(feature = "onnx")]
fn concrete_shape(fact: &InferenceFact) -> Result<Vec<usize>, String> {
    if fact.shape.is_open() {
        return Err("has an unknown rank".to_string());
    }
    fact.shape
        .dims()
        .enumerate()
        .map(|(ix, dim)| match dim.concretize() {
            Some(d) => d.to_usize().map_err(|_| format!("has a symbolic dimension {ix} ({d})")),
            None => Err(format!("has an unknown dimension {ix}")),
        })
        .collect()
}

/// Parses ONNX `bytes`, fixes the input fact and types the model, optimized or only
/// decluttered per `opts`; returns it with the parse and optimize times.
#[cfg(feature = "onnx")]
pub(crate) fn onnx_to_typed(
    bytes: &[u8],
    model_dir: Option<&str>,
    opts: &RunOptions,
) -> Result<(TypedModel, Duration, Duration), String> {
    let start = Instant::now();
    let onnx = tract_onnx::onnx();
    let proto = onnx.proto_model_for_read(&mut &*bytes).map_err(tract("not a valid ONNX protobuf"))?;
    let parsed = onnx.parse(&proto, model_dir).map_err(tract("translating the ONNX graph"))?;
    if !parsed.unresolved_inputs.is_empty() {
        return Err(format!("unresolved graph inputs {:?}", parsed.unresolved_inputs));
    }
    let mut model = parsed.model;
    let inputs = model.input_outlets().map_err(tract("reading inputs"))?.to_vec();
    let [input] = inputs.as_slice() else {
        return Err(format!("the model has {} inputs, only single-input models are supported", inputs.len()));
    };
    let input_name = model.node(input.node).name.clone();
    let declared = model.input_fact(0).map_err(tract("reading the input fact"))?.clone();
    let input_type = declared.datum_type.concretize().unwrap_or(f32::datum_type());
    let fact = match &opts.input_shape {
        Some(shape) => InferenceFact::dt_shape(input_type, shape.clone()),
        None => {
            concrete_shape(&declared)
                .map_err(|why| format!("input '{input_name}' {why}: give its shape with `input_shape`"))?;
            declared.with_datum_type(input_type)
        }
    };
    model.set_input_fact(0, fact).map_err(tract("setting the input fact"))?;
    let parse = start.elapsed();

    let start = Instant::now();
    let typed = if opts.optimize {
        model.into_optimized().map_err(tract("optimizing"))?
    } else {
        model.into_typed().and_then(|m| m.into_decluttered()).map_err(tract("typing and decluttering"))?
    };
    Ok((typed, parse, start.elapsed()))
}

/// Runs one inference step, turning a tract panic into [`RuntimeError::Run`].
pub(crate) fn unpanicked<T>(step: impl FnOnce() -> Result<T, RuntimeError>) -> Result<T, RuntimeError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(step))
        .unwrap_or_else(|panic| Err(RuntimeError::Run(format!("tract panicked: {}", panic_message(&*panic)))))
}

/// Runs `load`, turning its error or a tract panic into [`RuntimeError::Load`] for `label`.
pub(crate) fn guarded<T>(label: &str, load: impl FnOnce() -> Result<T, String>) -> Result<T, RuntimeError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(load))
        .unwrap_or_else(|panic| Err(format!("tract panicked: {}", panic_message(&*panic))))
        .map_err(|reason| RuntimeError::Load { path: label.to_string(), reason })
}

pub(crate) fn tract(stage: &'static str) -> impl Fn(TractError) -> String {
    move |e| format!("{stage}: {e:#}")
}
