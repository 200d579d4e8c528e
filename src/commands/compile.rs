//! `edgenas compile`: a deployable bundle for one target. The model is loaded and
//! decluttered by tract and saved as NNEF (or shipped as ONNX when NNEF cannot hold it),
//! the runner is built for the target, and a manifest and a `run.sh` go with them.
//!
//! The bundle is assembled in a temporary directory next to `--out` and renamed into
//! place at the end, so a failure never leaves a partial bundle behind.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, ensure, Context, Result};
use edgenas_runtime::{CompiledModel, RunOptions};
use edgenas_targets::{
    build_runner_with, toolchain_versions, RunnerBuild, RunnerFeatures, RunnerProfile, Target, TargetKind, RUNNER_NAME,
};
use onnx_protobuf::Message;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::cli::CompileArgs;
use crate::deploy::{DeviceModel, NNEF_FILE};

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

/// Builds the bundle described by `args`; see the module documentation.
pub fn compile(args: &CompileArgs) -> Result<()> {
    let target = Target::resolve(&args.target).context("--target")?;
    if target.kind == TargetKind::Mcu {
        bail!(
            "target `{}` is a microcontroller (kind `mcu`): `compile` builds the Linux runner for kinds `host` and \
             `linux-cross`",
            target.name
        );
    }
    let profile = RunnerProfile::parse(&args.profile)
        .with_context(|| format!("--profile: `{}` is neither `release` nor `small`", args.profile))?;
    if args.out.exists() && !args.force {
        bail!("{} already exists: remove it or pass --force to replace it", args.out.display());
    }
    let onnx = fs::read(&args.model).with_context(|| format!("reading {}", args.model.display()))?;
    let label = args.model.display().to_string();
    let reference = CompiledModel::from_onnx_bytes(&onnx, &label, &RunOptions::default())
        .with_context(|| format!("loading {}", args.model.display()))?;
    let precision = precision_of(&onnx).with_context(|| format!("reading the initializers of {label}"))?;
    let shipped = choose_model_format(&onnx, &reference, &label)?;
    if let Some(reason) = &shipped.model.fallback_reason {
        eprintln!("note: shipping the ONNX model, not NNEF: {reason}");
    }
    let features = shipped.model.features;

    let staging = Staging::new(&args.out)?;
    let build = RunnerBuild { features, ..RunnerBuild::new(profile) };
    eprintln!(
        "building {RUNNER_NAME} for {} ({}, profile {profile}{}); the first build of a target takes minutes",
        target.name,
        target.triple,
        if features.names().is_empty() { String::new() } else { format!(", features {}", features.names().join(",")) }
    );
    let start = Instant::now();
    let runner = build_runner_with(&target, &build, staging.path()).context("building the runner")?;
    let build_seconds = start.elapsed().as_secs_f64();
    let runner_bytes = fs::read(&runner).with_context(|| format!("reading {}", runner.display()))?;

    let model_path = staging.path().join(shipped.model.file);
    fs::write(&model_path, &shipped.model.bytes).with_context(|| format!("writing {}", model_path.display()))?;
    let manifest = manifest(&ManifestParts {
        args,
        onnx: &onnx,
        target: &target,
        profile,
        features,
        shipped: &shipped,
        precision,
        runner: &runner_bytes,
        build_seconds,
    });
    let text = serde_json::to_string_pretty(&manifest).context("encoding the manifest")?;
    fs::write(staging.path().join("manifest.json"), text + "\n").context("writing manifest.json")?;
    write_run_sh(&staging.path().join("run.sh"), &target, shipped.model.file)?;
    staging.commit(args.force)?;

    println!(
        "wrote {}: {} ({} bytes), {RUNNER_NAME} ({} bytes, {}), manifest.json, run.sh",
        args.out.display(),
        shipped.model.file,
        shipped.model.bytes.len(),
        runner_bytes.len(),
        target.triple
    );
    Ok(())
}

/// NNEF when tract can save the decluttered model and the reload computes what the ONNX
/// model computes; ONNX otherwise, with the reason.
fn choose_model_format(onnx: &[u8], reference: &CompiledModel, label: &str) -> Result<ShippedModel> {
    let onnx_fallback = |reason: String| ShippedModel {
        model: DeviceModel::onnx(onnx, reason),
        compiled: reference.clone(),
        round_trip_max_abs_diff: None,
    };
    let model = DeviceModel::for_onnx(onnx, Some(reference.input_shape()))
        .with_context(|| format!("preparing {label} for the device"))?;
    if model.file != NNEF_FILE {
        return Ok(ShippedModel { model, compiled: reference.clone(), round_trip_max_abs_diff: None });
    }
    let compiled = match CompiledModel::from_nnef_bytes(&model.bytes, NNEF_FILE, &RunOptions::default()) {
        Ok(compiled) => compiled,
        Err(e) => return Ok(onnx_fallback(format!("the saved NNEF does not reload: {e}"))),
    };
    let diff = round_trip_difference(reference, &compiled).context("comparing the NNEF reload with the ONNX model")?;
    match diff {
        Ok(diff) => Ok(ShippedModel { model, compiled, round_trip_max_abs_diff: Some(diff) }),
        Err(why) => Ok(onnx_fallback(why)),
    }
}

/// Runs both models on the same fixed pseudo-random input: `Ok(max abs difference)` when
/// every output agrees within [`NNEF_ROUND_TRIP_TOLERANCE`], `Err(why)` when not.
fn round_trip_difference(onnx: &CompiledModel, nnef: &CompiledModel) -> Result<std::result::Result<f32, String>> {
    let expected = onnx.runner()?.run().context("running the ONNX model")?;
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
fn precision_of(onnx: &[u8]) -> Result<&'static str> {
    use onnx_protobuf::tensor_proto::DataType;
    let model = onnx_protobuf::ModelProto::parse_from_bytes(onnx).context("not an ONNX protobuf")?;
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
    args: &'a CompileArgs,
    onnx: &'a [u8],
    target: &'a Target,
    profile: RunnerProfile,
    features: RunnerFeatures,
    shipped: &'a ShippedModel,
    precision: &'static str,
    runner: &'a [u8],
    build_seconds: f64,
}

fn manifest(p: &ManifestParts) -> Value {
    let compiled = &p.shipped.compiled;
    json!({
        "manifest_version": MANIFEST_VERSION,
        "edgenas_version": env!("CARGO_PKG_VERSION"),
        "model": {
            "file": p.shipped.model.file,
            "format": if p.shipped.model.file == NNEF_FILE { "nnef" } else { "onnx" },
            "sha256": hex_sha256(&p.shipped.model.bytes),
            "bytes": p.shipped.model.bytes.len(),
            "fallback_reason": p.shipped.model.fallback_reason,
            "nnef_registries": p.shipped.model.registries,
            "nnef_round_trip_max_abs_diff": p.shipped.round_trip_max_abs_diff,
            "source": p.args.model.display().to_string(),
            "source_sha256": hex_sha256(p.onnx),
        },
        "precision": p.precision,
        "inputs": compiled.input_facts(),
        "outputs": compiled.output_facts(),
        "target": {
            "name": p.target.name,
            "kind": p.target.kind.to_string(),
            "triple": p.target.triple,
            "unit": p.target.unit,
            "guest_env": p.target.guest_env,
            "descriptor": p.args.target,
        },
        "runner": {
            "file": RUNNER_NAME,
            "sha256": hex_sha256(p.runner),
            "size_bytes": p.runner.len(),
            "profile": p.profile,
            "features": p.features.names(),
            "onnx_parser": p.features.onnx,
            "build_seconds": p.build_seconds,
        },
        "toolchain": toolchain_versions(p.target),
    })
}

/// The POSIX sh script a user runs on the device: `./run.sh bench [ARGS]`,
/// `./run.sh run IN.npy OUT.npy`; sets the descriptor's guest environment unless the caller
/// already set a variable.
fn write_run_sh(path: &Path, target: &Target, model_file: &str) -> Result<()> {
    let mut env = String::new();
    for (name, value) in &target.guest_env {
        let valid = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        ensure!(valid, "target `{}`: guest_env name `{name}` is not a shell variable name", target.name);
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
    fs::write(path, script).with_context(|| format!("writing {}", path.display()))?;
    set_executable(path)
}

#[cfg(unix)]
fn set_executable(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).with_context(|| format!("chmod {}", path.display()))
}

#[cfg(not(unix))]
fn set_executable(_: &Path) -> Result<()> {
    Ok(())
}

/// `value` as one single-quoted sh word.
fn sh_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

fn hex_sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// A temporary directory next to the bundle, removed on drop unless committed.
struct Staging {
    dir: PathBuf,
    out: PathBuf,
    committed: bool,
}

impl Staging {
    fn new(out: &Path) -> Result<Self> {
        let name = out.file_name().with_context(|| format!("--out {} does not name a directory", out.display()))?;
        let parent = out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let dir = parent.join(format!(".{}.partial-{}", name.to_string_lossy(), std::process::id()));
        fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(Staging { dir, out: out.to_path_buf(), committed: false })
    }

    fn path(&self) -> &Path {
        &self.dir
    }

    /// Moves the finished bundle to `out`, replacing an existing one when `force`.
    fn commit(mut self, force: bool) -> Result<()> {
        let old = self.dir.with_extension("old");
        let replacing = force && self.out.exists();
        if replacing {
            fs::rename(&self.out, &old).with_context(|| format!("moving the old {} aside", self.out.display()))?;
        }
        if let Err(e) = fs::rename(&self.dir, &self.out) {
            if replacing {
                let _ = fs::rename(&old, &self.out);
            }
            return Err(e).with_context(|| format!("renaming {} to {}", self.dir.display(), self.out.display()));
        }
        self.committed = true;
        if replacing {
            let removed = if old.is_dir() { fs::remove_dir_all(&old) } else { fs::remove_file(&old) };
            removed.with_context(|| format!("removing the replaced bundle {}", old.display()))?;
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
