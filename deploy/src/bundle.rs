//! A deployable bundle for one target (`edgenas compile`): the model is loaded and
//! decluttered by tract and saved as NNEF (or shipped as ONNX when NNEF cannot hold it),
//! the runner is built for the target, and a manifest and a `run.sh` go with them.
//!
//! The bundle is assembled in a temporary directory next to its destination and renamed
//! into place at the end, so a failure never leaves a partial bundle behind.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

use edgenas_runtime::{CompiledModel, RunOptions};
use edgenas_targets::{
    build_runner_with, toolchain_versions, DeviceModel, RunnerBuild, RunnerFeatures, RunnerProfile, Target, TargetKind,
    NNEF_FILE, RUNNER_NAME,
};
use onnx_protobuf::Message;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::error::{DeployError, Step};
use crate::DeployProgress;

/// Version of the manifest layout; bumped when a field changes meaning.
const MANIFEST_VERSION: u32 = 1;
/// Largest difference, relative to the largest output magnitude (at least 1), tolerated
/// between the ONNX model and its NNEF reload before NNEF is given up for ONNX. tract
/// reloads a decluttered model bit-exactly, so any difference at all is suspicious; this
/// only leaves room for a future tract reordering a reduction.
const NNEF_ROUND_TRIP_TOLERANCE: f32 = 1e-5;

/// What model file the bundle ships, checked against the ONNX model.
struct ShippedModel {
    model: DeviceModel,
    compiled: CompiledModel,
    /// Largest |ONNX - NNEF| output difference on the check input (NNEF only).
    round_trip_max_abs_diff: Option<f32>,
}

/// What to bundle, for which target, and where.
#[derive(Debug, Clone)]
pub struct BundleRequest<'a> {
    /// The ONNX model to deploy (single input, concrete shape).
    pub model: &'a Path,
    pub target: &'a Target,
    /// How the target was named (a built-in name or a descriptor path), for the manifest.
    pub descriptor: &'a str,
    pub profile: RunnerProfile,
    /// The bundle directory to create.
    pub out: &'a Path,
    /// Replace `out` if it exists.
    pub force: bool,
}

/// What [`compile_bundle`] wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct Bundle {
    pub out: PathBuf,
    /// [`NNEF_FILE`], [`edgenas_targets::ONNX_FILE`] or [`edgenas_targets::INT8_FILE`].
    pub model_file: &'static str,
    pub model_bytes: usize,
    pub runner_bytes: usize,
    pub triple: String,
    /// Why the ONNX model is shipped instead of NNEF, if it is.
    pub fallback_reason: Option<String>,
}

/// Builds the bundle `request` describes; see the module documentation. `progress` hears
/// notes (why ONNX is shipped) and the runner build.
///
/// Errors: a microcontroller target, an existing `out` without `force`, a model that cannot
/// be read or loaded, a failed runner build, a failed write. Nothing is left at `out` then.
pub fn compile_bundle(
    request: &BundleRequest<'_>,
    progress: &mut dyn FnMut(&DeployProgress<'_>),
) -> Result<Bundle, DeployError> {
    let target = request.target;
    if target.kind == TargetKind::Mcu {
        return Err(DeployError::Invalid(format!(
            "target `{}` is a microcontroller (kind `mcu`): bundles carry the Linux runner, for kinds `host` and \
             `linux-cross`",
            target.name
        )));
    }
    if request.out.exists() && !request.force {
        return Err(DeployError::Invalid(format!(
            "{} already exists: remove it or pass --force to replace it",
            request.out.display()
        )));
    }
    let onnx = fs::read(request.model).map_err(DeployError::io("reading", request.model))?;
    let label = request.model.display().to_string();
    let (reference, _) = crate::compile_on_host(&label, &onnx)?;
    let precision =
        precision_of(&onnx).map_err(|e| DeployError::Invalid(format!("reading the initializers of {label}: {e}")))?;
    let shipped = choose_model_format(&onnx, target, &reference)?;
    if let Some(reason) = &shipped.model.fallback_reason {
        progress(&DeployProgress::Note(&format!("shipping the ONNX model, not NNEF: {reason}")));
    }
    let features = shipped.model.features;

    let staging = Staging::new(request.out)?;
    let build = RunnerBuild { features, ..RunnerBuild::new(request.profile) };
    let start = Instant::now();
    let runner = build_runner_with(target, &build, staging.path(), &mut |p| progress(&DeployProgress::Runner(p)))
        .map_err(|source| DeployError::Build { target: target.name.clone(), source })?;
    let build_seconds = start.elapsed().as_secs_f64();
    let runner_bytes = fs::read(&runner).map_err(DeployError::io("reading", &runner))?;

    let model_path = staging.path().join(shipped.model.file);
    fs::write(&model_path, &shipped.model.bytes).map_err(DeployError::io("writing", &model_path))?;
    let manifest = manifest(&ManifestParts {
        request,
        onnx: &onnx,
        features,
        shipped: &shipped,
        precision,
        runner: &runner_bytes,
        build_seconds,
    });
    let text = serde_json::to_string_pretty(&manifest)
        .map_err(|e| DeployError::Invalid(format!("encoding the manifest: {e}")))?;
    let manifest_path = staging.path().join("manifest.json");
    fs::write(&manifest_path, text + "\n").map_err(DeployError::io("writing", &manifest_path))?;
    write_run_sh(&staging.path().join("run.sh"), target, shipped.model.file)?;
    staging.commit(request.force)?;
    Ok(Bundle {
        out: request.out.to_path_buf(),
        model_file: shipped.model.file,
        model_bytes: shipped.model.bytes.len(),
        runner_bytes: runner_bytes.len(),
        triple: target.triple.clone(),
        fallback_reason: shipped.model.fallback_reason.clone(),
    })
}

/// NNEF when tract can save the decluttered model and the reload computes what the ONNX
/// model computes; ONNX otherwise, with the reason.
fn choose_model_format(onnx: &[u8], target: &Target, reference: &CompiledModel) -> Result<ShippedModel, DeployError> {
    let onnx_fallback = |reason: String| ShippedModel {
        model: DeviceModel::onnx(onnx, reason),
        compiled: reference.clone(),
        round_trip_max_abs_diff: None,
    };
    let model = crate::engine::device_model(onnx, target, Some(reference.input_shape()))?;
    if model.file != NNEF_FILE {
        return Ok(ShippedModel { model, compiled: reference.clone(), round_trip_max_abs_diff: None });
    }
    let compiled = match CompiledModel::from_nnef_bytes(&model.bytes, NNEF_FILE, &RunOptions::default()) {
        Ok(compiled) => compiled,
        Err(e) => return Ok(onnx_fallback(format!("the saved NNEF does not reload: {e}"))),
    };
    let diff = round_trip_difference(reference, &compiled).step("comparing the NNEF reload with the ONNX model")?;
    match diff {
        Ok(diff) => Ok(ShippedModel { model, compiled, round_trip_max_abs_diff: Some(diff) }),
        Err(why) => Ok(onnx_fallback(why)),
    }
}

/// Runs both models on the same fixed pseudo-random input: `Ok(max abs difference)` when
/// every output agrees within [`NNEF_ROUND_TRIP_TOLERANCE`], `Err(why)` when not.
fn round_trip_difference(
    onnx: &CompiledModel,
    nnef: &CompiledModel,
) -> Result<Result<f32, String>, edgenas_runtime::RuntimeError> {
    let expected = onnx.runner()?.run()?;
    let got = match nnef.runner().and_then(|mut r| r.run()) {
        Ok(got) => got,
        Err(e) => return Ok(Err(format!("the NNEF reload fails to run: {e}"))),
    };
    if expected.len() != got.len() {
        return Ok(Err(format!("the NNEF reload has {} outputs, the ONNX model {}", got.len(), expected.len())));
    }
    let mut max_diff = 0f32;
    for (ix, (e, g)) in expected.iter().zip(&got).enumerate() {
        if e.shape != g.shape {
            return Ok(Err(format!("output {ix} has shape {:?} after NNEF, {:?} in ONNX", g.shape, e.shape)));
        }
        let scale = e.data.iter().fold(1f32, |m, v| m.max(v.abs()));
        let diff = e.data.iter().zip(&g.data).fold(0f32, |m, (a, b)| m.max((a - b).abs()));
        if diff.is_nan() || diff > NNEF_ROUND_TRIP_TOLERANCE * scale {
            return Ok(Err(format!("the NNEF reload differs from the ONNX model by {diff} on output {ix}")));
        }
        max_diff = max_diff.max(diff);
    }
    Ok(Ok(max_diff))
}

/// The deployment precision by the model's initializer types: `int8` when any weight is
/// 8-bit integer, else `f16` when any is FLOAT16, else `f32`.
fn precision_of(onnx: &[u8]) -> Result<&'static str, String> {
    use onnx_protobuf::tensor_proto::DataType;
    let model = onnx_protobuf::ModelProto::parse_from_bytes(onnx).map_err(|e| format!("not an ONNX protobuf ({e})"))?;
    let types: Vec<i32> = model.graph.initializer.iter().map(|t| t.data_type).collect();
    let any = |dt: DataType| types.contains(&(dt as i32));
    Ok(if any(DataType::INT8) || any(DataType::UINT8) {
        "int8"
    } else if any(DataType::FLOAT16) {
        "f16"
    } else {
        "f32"
    })
}

struct ManifestParts<'a> {
    request: &'a BundleRequest<'a>,
    onnx: &'a [u8],
    features: RunnerFeatures,
    shipped: &'a ShippedModel,
    precision: &'static str,
    runner: &'a [u8],
    build_seconds: f64,
}

fn manifest(p: &ManifestParts) -> Value {
    let compiled = &p.shipped.compiled;
    let target = p.request.target;
    json!({
        "manifest_version": MANIFEST_VERSION,
        "edgenas_version": env!("CARGO_PKG_VERSION"),
        "model": {
            "file": p.shipped.model.file,
            "format": match p.shipped.model.file {
                NNEF_FILE => "nnef",
                edgenas_targets::INT8_FILE => "int8-program",
                _ => "onnx",
            },
            "sha256": hex_sha256(&p.shipped.model.bytes),
            "bytes": p.shipped.model.bytes.len(),
            "fallback_reason": p.shipped.model.fallback_reason,
            "nnef_registries": p.shipped.model.registries,
            "nnef_round_trip_max_abs_diff": p.shipped.round_trip_max_abs_diff,
            "source": p.request.model.display().to_string(),
            "source_sha256": hex_sha256(p.onnx),
        },
        "precision": p.precision,
        "inputs": compiled.input_facts(),
        "outputs": compiled.output_facts(),
        "target": {
            "name": target.name,
            "kind": target.kind.to_string(),
            "triple": target.triple,
            "unit": target.unit(),
            "guest_env": target.guest_env,
            "descriptor": p.request.descriptor,
        },
        "runner": {
            "file": RUNNER_NAME,
            "sha256": hex_sha256(p.runner),
            "size_bytes": p.runner.len(),
            "profile": p.request.profile,
            "features": p.features.names(),
            "onnx_parser": p.features.onnx,
            "build_seconds": p.build_seconds,
        },
        "toolchain": toolchain_versions(target),
    })
}

/// The POSIX sh script a user runs on the device: `./run.sh bench [ARGS]`,
/// `./run.sh run IN.npy OUT.npy`; sets the descriptor's guest environment unless the caller
/// already set a variable.
fn write_run_sh(path: &Path, target: &Target, model_file: &str) -> Result<(), DeployError> {
    let mut env = String::new();
    for (name, value) in &target.guest_env {
        let valid = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return Err(DeployError::Invalid(format!(
                "target `{}`: guest_env name `{name}` is not a shell variable name",
                target.name
            )));
        }
        env.push_str(&format!("[ -n \"${{{name}+set}}\" ] || {name}={}\nexport {name}\n", sh_quote(value)));
    }
    let script = format!(
        r#"#!/bin/sh
# edgenas bundle for target `{name}` ({triple}). Copy this directory to the device, then:
#   ./run.sh bench [--warmup W] [--repeat N] [--json] [--input IN.npy]
#   ./run.sh run IN.npy OUT.npy
# The runner's arguments are documented by `./edgenas-runner --help`.
set -eu
here=$(CDPATH= cd -- "$(dirname -- "$0")" && pwd)
{env}model="$here/{model_file}"
case "${{1:-}}" in
  run)
    if [ $# -ne 3 ]; then echo "usage: $0 run IN.npy OUT.npy" >&2; exit 1; fi
    exec "$here/{runner}" run "$model" --input "$2" --output "$3"
    ;;
  bench)
    shift
    exec "$here/{runner}" bench "$model" "$@"
    ;;
  *)
    echo "usage: $0 bench [--warmup W] [--repeat N] [--json] [--input IN.npy]" >&2
    echo "       $0 run IN.npy OUT.npy" >&2
    exit 1
    ;;
esac
"#,
        name = target.name,
        triple = target.triple,
        runner = RUNNER_NAME,
    );
    edgenas_runtime::write_atomic_executable(path, script.as_bytes(), 0o755).step(format!("writing {}", path.display()))
}

/// `value` as one single-quoted sh word.
fn sh_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

fn hex_sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// A temporary directory next to the bundle, removed on drop unless committed.
pub(crate) struct Staging {
    dir: PathBuf,
    out: PathBuf,
    committed: bool,
}

impl Staging {
    pub(crate) fn new(out: &Path) -> Result<Self, DeployError> {
        let name = out
            .file_name()
            .ok_or_else(|| DeployError::Invalid(format!("{} does not name a directory", out.display())))?;
        let parent = out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let dir = parent.join(format!(".{}.partial-{}", name.to_string_lossy(), std::process::id()));
        fs::create_dir_all(&dir).map_err(DeployError::io("creating", &dir))?;
        Ok(Staging { dir, out: out.to_path_buf(), committed: false })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.dir
    }

    /// Moves the finished bundle to `out`, replacing an existing one when `force`.
    pub(crate) fn commit(mut self, force: bool) -> Result<(), DeployError> {
        let old = self.dir.with_extension("old");
        let replacing = force && self.out.exists();
        if replacing {
            fs::rename(&self.out, &old).map_err(DeployError::io("moving aside the old", &self.out))?;
        }
        if let Err(e) = fs::rename(&self.dir, &self.out) {
            if replacing {
                let _ = fs::rename(&old, &self.out);
            }
            return Err(DeployError::Io { what: "moving the finished bundle to", path: self.out.clone(), source: e });
        }
        self.committed = true;
        if replacing {
            let removed = if old.is_dir() { fs::remove_dir_all(&old) } else { fs::remove_file(&old) };
            removed.map_err(DeployError::io("removing the replaced bundle", &old))?;
        }
        Ok(())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}
