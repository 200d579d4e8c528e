//! `edgenas compile` end to end: bundles for the host and for the emulated Arm targets,
//! their runner against `edgenas run`, and bad input.
//!
//! The runner is built by cargo into `target/runner` (reused across runs). The first run
//! builds tract in release mode once per target, which takes minutes per target.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use common::{edgenas, model_with_unknown_op, stderr, stdout};
use edgenas_runtime::{read_npy_f32, write_npy_f32, LatencyStats, LatencyUnit, TensorF32};
use edgenas_targets::Target;
use serde_json::Value;
use sha2::{Digest, Sha256};

mod common;

/// `edgenas run` (ONNX, optimized by tract) against the bundle's runner (NNEF reload,
/// optimized by the same tract): TOOLCHAIN.md found the decluttered NNEF reload bit-exact,
/// and both sides run the same optimizer and kernels on this host, so the outputs should be
/// identical; 1e-5 relative to the largest output only leaves room for a future tract that
/// reorders a reduction after reloading.
const HOST_TOLERANCE: f32 = 1e-5;
/// The Arm builds use NEON kernels where the host uses AVX ones: the same f32 sums in
/// another association order. NB201's largest reduction is a 3x3 conv over 64 channels
/// (576 terms); reordering such a sum changes it by at most about 576 * 2^-24 of the sum of
/// the magnitudes of its terms (~3.4e-5 relative), and typically far less (TOOLCHAIN.md saw
/// 7.5e-9). 1e-4 relative to the largest output covers the worst case with room for
/// the chained layers while still catching a wrong kernel (errors of order 1e-2 or more).
/// Measured here: aarch64 bit-identical to the host, armv7 6.6e-7 (max abs, outputs ~1.3).
const CROSS_TOLERANCE: f32 = 1e-4;
/// int8 QDQ on aarch64 against the host. The f32 sums feeding each QuantizeLinear are
/// reordered as in [`CROSS_TOLERANCE`], so a value sitting on a rounding boundary may land one
/// quantization step away and carry that step through the layers after it. One step of a
/// layer's scale is 1/255 of its calibrated range (0.4%); 2% of the largest output leaves
/// room for a few such flips while catching wrong integer kernels (errors of tens of steps).
/// Measured here: bit-identical to the host (NB201 6111, QDQ, 32 synthetic inputs).
const INT8_CROSS_TOLERANCE: f32 = 2e-2;

/// The exported NB201 model, its input and `edgenas run`'s output on it.
struct Fixture {
    dir: tempfile::TempDir,
    model: PathBuf,
    input: PathBuf,
    expected: TensorF32,
    host_bundle: OnceLock<PathBuf>,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let model = dir.path().join("m.onnx");
        ok(&["export", "--nb201-index", "6111", "--out", model.to_str().unwrap()]);
        let input = dir.path().join("x.npy");
        let n = 3 * 32 * 32;
        let data = (0..n).map(|i| ((i * 7919) % 1000) as f32 / 500.0 - 1.0).collect();
        write_npy_f32(&input, &TensorF32::new(vec![1, 3, 32, 32], data).unwrap()).unwrap();
        let reference = dir.path().join("ref.npy");
        ok(&["run", s(&model), "--input", s(&input), "--output", s(&reference)]);
        let expected = read_npy_f32(&reference).unwrap();
        Fixture { dir, model, input, expected, host_bundle: OnceLock::new() }
    })
}

/// The host bundle, compiled once for every test that needs it.
fn host_bundle() -> &'static Path {
    let f = fixture();
    f.host_bundle.get_or_init(|| {
        let bundle = f.dir.path().join("host-bundle");
        ok(&["compile", s(&f.model), "--target", "host", "--out", s(&bundle)]);
        bundle
    })
}

#[test]
fn host_bundle_runs_like_edgenas_run_benches_and_has_a_truthful_manifest() {
    let f = fixture();
    let bundle = host_bundle();
    for file in ["model.nnef.tgz", "edgenas-runner", "manifest.json", "run.sh"] {
        assert!(bundle.join(file).is_file(), "{file} missing in the bundle");
    }
    let runner = bundle.join("edgenas-runner");
    let model = bundle.join("model.nnef.tgz");
    let out = f.dir.path().join("host-out.npy");
    succeed(Command::new(&runner).args(["run", s(&model), "--input", s(&f.input), "--output", s(&out)]));
    assert_close(&read_npy_f32(&out).unwrap(), &f.expected, HOST_TOLERANCE);

    let via_script = f.dir.path().join("host-script-out.npy");
    succeed(Command::new("sh").arg(bundle.join("run.sh")).args(["run", s(&f.input), s(&via_script)]));
    assert_eq!(read_npy_f32(&via_script).unwrap(), read_npy_f32(&out).unwrap());

    let bench = succeed(Command::new(&runner).args(["bench", s(&model), "--warmup", "2", "--repeat", "7", "--json"]));
    let stats: LatencyStats = serde_json::from_str(stdout(&bench).lines().last().unwrap()).unwrap();
    assert_eq!((stats.unit, stats.n, stats.warmup), (LatencyUnit::Ms, 7, 2));
    assert!(0.0 < stats.min && stats.p10 <= stats.median && stats.median <= stats.p90, "{stats:?}");
    let script_bench = succeed(Command::new(bundle.join("run.sh")).args(["bench", "--repeat", "3", "--json"]));
    let stats: LatencyStats = serde_json::from_str(stdout(&script_bench).lines().last().unwrap()).unwrap();
    assert_eq!(stats.n, 3);

    let m = manifest(bundle);
    assert_eq!(m["model"]["file"], "model.nnef.tgz");
    assert_eq!(m["model"]["format"], "nnef");
    assert_eq!(m["model"]["sha256"], sha256(&model));
    assert_eq!(m["model"]["source_sha256"], sha256(&f.model));
    assert_eq!(m["model"]["fallback_reason"], Value::Null);
    assert_eq!(m["model"]["nnef_round_trip_max_abs_diff"].as_f64(), Some(0.0), "NNEF reload is bit-exact");
    assert_eq!(m["runner"]["sha256"], sha256(&runner));
    assert_eq!(m["runner"]["size_bytes"].as_u64(), Some(std::fs::metadata(&runner).unwrap().len()));
    assert_eq!(m["runner"]["profile"], "release");
    assert_eq!(m["precision"], "f32");
    assert_eq!(m["target"]["name"], "host");
    assert_eq!(m["target"]["triple"], Target::host().triple.as_str());
    assert_eq!(m["inputs"][0]["shape"], serde_json::json!([1, 3, 32, 32]));
    assert_eq!(m["inputs"][0]["datum_type"], "F32");
    assert_eq!(m["outputs"][0]["shape"], serde_json::json!(f.expected.shape));
    assert!(m["outputs"][0]["name"].as_str().is_some_and(|n| !n.is_empty()), "{m}");
    for (tool, prefix) in [("rustc", "rustc "), ("cargo", "cargo "), ("linker", "")] {
        let version = m["toolchain"][tool].as_str().unwrap();
        assert!(version.starts_with(prefix) && !version.starts_with("unknown"), "{tool}: {version}");
    }
}

#[test]
fn nnef_bundle_runner_has_no_onnx_parser() {
    let f = fixture();
    let bundle = host_bundle();
    let m = manifest(bundle);
    assert_eq!(m["runner"]["onnx_parser"], false);
    assert_eq!(m["runner"]["features"], serde_json::json!([]));
    assert_eq!(m["model"]["nnef_registries"], serde_json::json!(["tract_core"]));

    let tree =
        succeed(Command::new(cargo()).args(["tree", "-p", "edgenas-runner", "-e", "normal", "--prefix", "none"]));
    let crates = stdout(&tree);
    assert!(
        crates.contains("tract-nnef") && !crates.contains("tract-onnx") && !crates.contains("tract-hir"),
        "{crates}"
    );
    // Symbols and panic locations name every linked crate: none of the ONNX parser's.
    let binary = std::fs::read(bundle.join("edgenas-runner")).unwrap();
    for needle in [&b"tract_hir"[..], b"tract-hir", b"tract_onnx::", b"tract-onnx-0"] {
        assert!(!contains(&binary, needle), "the runner links {}", String::from_utf8_lossy(needle));
    }
    for marker in [edgenas_targets::BEGIN_MARKER, edgenas_targets::END_MARKER] {
        assert!(contains(&binary, marker.as_bytes()), "marker symbol {marker} missing");
    }
    let refused = Command::new(bundle.join("edgenas-runner"))
        .args(["run", s(&f.model), "--input", s(&f.input), "--output", s(&f.dir.path().join("never.npy"))])
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(1));
    assert!(stderr(&refused).contains("without the `onnx` feature"), "{}", stderr(&refused));
}

#[test]
fn runner_reports_bad_input_with_exit_code_1() {
    let f = fixture();
    let bundle = host_bundle();
    let runner = bundle.join("edgenas-runner");
    let model = bundle.join("model.nnef.tgz");
    let dir = f.dir.path();
    let wrong = dir.join("wrong-shape.npy");
    write_npy_f32(&wrong, &TensorF32::new(vec![1, 3, 8, 8], vec![0.0; 192]).unwrap()).unwrap();
    let garbage = dir.join("garbage.npy");
    std::fs::write(&garbage, b"not numpy").unwrap();
    let out = dir.join("bad-out.npy");
    for (args, needle) in [
        (
            vec!["run", "/nonexistent/m.nnef.tgz", "--input", s(&f.input), "--output", s(&out)],
            "/nonexistent/m.nnef.tgz",
        ),
        (vec!["run", s(&model), "--input", "/nonexistent/x.npy", "--output", s(&out)], "/nonexistent/x.npy"),
        (vec!["run", s(&model), "--input", s(&garbage), "--output", s(&out)], "not a usable .npy"),
        (vec!["run", s(&model), "--input", s(&wrong), "--output", s(&out)], "does not match"),
        (vec!["run", s(&f.input), "--input", s(&f.input), "--output", s(&out)], "failed to load model"),
        (vec!["bench", s(&model), "--repeat", "zero"], "non-negative integer"),
        (vec!["launch"], "unknown subcommand"),
    ] {
        let o = Command::new(&runner).args(&args).output().unwrap();
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.starts_with("error: ") && err.contains(needle) && !err.contains("panicked at"), "{args:?}: {err}");
        assert!(!out.exists(), "{args:?} wrote an output");
    }
}

#[test]
fn arm_bundles_match_the_host_under_qemu() {
    let f = fixture();
    for name in ["aarch64-linux", "armv7-linux"] {
        let target = Target::resolve(name).unwrap();
        let bundle = f.dir.path().join(format!("{name}-bundle"));
        let started = std::time::Instant::now();
        ok(&["compile", s(&f.model), "--target", name, "--out", s(&bundle)]);
        eprintln!("compile for {name}: {:.0} s", started.elapsed().as_secs_f64());

        let m = manifest(&bundle);
        assert_eq!(m["target"]["triple"], target.triple.as_str());
        assert_eq!(m["runner"]["onnx_parser"], false);
        assert!(m["toolchain"]["linker"].as_str().unwrap().contains("gcc"), "{m}");
        let script = std::fs::read_to_string(bundle.join("run.sh")).unwrap();
        for (var, value) in &target.guest_env {
            assert!(
                script.contains(&format!("{var}='{value}'")) && script.contains(&format!("export {var}")),
                "{script}"
            );
        }
        let runner = bundle.join("edgenas-runner");
        assert!(contains(&std::fs::read(&runner).unwrap(), edgenas_targets::BEGIN_MARKER.as_bytes()));

        let out = f.dir.path().join(format!("{name}-out.npy"));
        let model = bundle.join("model.nnef.tgz");
        succeed(emulated(&target, &runner).args(["run", s(&model), "--input", s(&f.input), "--output", s(&out)]));
        assert_close(&read_npy_f32(&out).unwrap(), &f.expected, CROSS_TOLERANCE);
        let bench =
            succeed(emulated(&target, &runner).args(["bench", s(&model), "--warmup", "0", "--repeat", "2", "--json"]));
        let stats: LatencyStats = serde_json::from_str(stdout(&bench).lines().last().unwrap()).unwrap();
        assert_eq!(stats.n, 2);
    }
}

/// An int8 QDQ graph cannot be saved as NNEF (tract has no serializer for QuantizeLinear):
/// the bundle ships the ONNX file with a runner built with the `onnx` feature, and the
/// same model on the same target measured through `edgenas bench --target` repeats its
/// instruction count exactly.
#[test]
fn int8_bundle_ships_onnx_and_matches_the_host_on_aarch64() {
    let f = fixture();
    let dir = f.dir.path();
    let quantized = dir.join("q.onnx");
    ok(&[
        "quantize",
        s(&f.model),
        "--to",
        "int8",
        "--calib-synthetic",
        "16",
        "--format",
        "qdq",
        "--out",
        s(&quantized),
    ]);
    let reference = dir.join("q-ref.npy");
    ok(&["run", s(&quantized), "--input", s(&f.input), "--output", s(&reference)]);
    let expected = read_npy_f32(&reference).unwrap();

    let name = "aarch64-linux";
    let target = Target::resolve(name).unwrap();
    let bundle = dir.join("int8-bundle");
    let started = std::time::Instant::now();
    let out = edgenas(&["compile", s(&quantized), "--target", name, "--out", s(&bundle)]);
    assert!(out.status.success(), "{}", stderr(&out));
    eprintln!("compile int8 for {name}: {:.0} s", started.elapsed().as_secs_f64());
    assert!(stderr(&out).contains("shipping the ONNX model, not NNEF"), "{}", stderr(&out));
    let m = manifest(&bundle);
    assert_eq!(m["model"]["format"], "onnx");
    assert_eq!(m["model"]["file"], "model.onnx");
    assert!(m["model"]["fallback_reason"].as_str().is_some_and(|r| r.contains("NNEF")), "{m}");
    assert_eq!(m["runner"]["onnx_parser"], true);
    assert_eq!(m["runner"]["features"], serde_json::json!(["onnx"]));
    assert_eq!(m["precision"], "int8");
    assert_eq!(m["model"]["sha256"], sha256(&quantized));

    let runner = bundle.join("edgenas-runner");
    let got = dir.join("q-aarch64.npy");
    let model = bundle.join("model.onnx");
    succeed(emulated(&target, &runner).args(["run", s(&model), "--input", s(&f.input), "--output", s(&got)]));
    assert_close(&read_npy_f32(&got).unwrap(), &expected, INT8_CROSS_TOLERANCE);

    let counts: Vec<f64> = (0..2)
        .map(|_| {
            let out = ok(&["bench", s(&quantized), "--target", name, "--json"]);
            let report: Value = serde_json::from_str(&out).unwrap();
            assert_eq!(report["latency"]["unit"], "instructions", "{report}");
            report["latency"]["median"].as_f64().unwrap()
        })
        .collect();
    assert!(counts[0] > 1e6 && counts[0] == counts[1], "{counts:?}");
}

/// An integer-only int8 model ships as the int8 program (`model.int8`), the default runner
/// (no ONNX parser) runs it on the project's int8 ops, and under qemu-aarch64 its output
/// equals the host's bit for bit: with the dot-product kernels on the A76 and with the
/// NEON baseline on the A72 (the kernels compute the integer reference exactly on every
/// instruction set).
#[test]
fn integer_only_bundle_runs_the_projects_int8_ops_on_aarch64_like_the_host() {
    let f = fixture();
    let dir = f.dir.path();
    let quantized = dir.join("q-integer.onnx");
    ok(&["quantize", s(&f.model), "--to", "int8", "--integer-only", "--calib-synthetic", "16", "--out", s(&quantized)]);
    let reference = dir.join("q-integer-ref.npy");
    ok(&["run", s(&quantized), "--input", s(&f.input), "--output", s(&reference)]);
    let expected = read_npy_f32(&reference).unwrap();

    let bundle = dir.join("int8-program-bundle");
    ok(&["compile", s(&quantized), "--target", "aarch64-a76-linux", "--out", s(&bundle)]);
    let m = manifest(&bundle);
    assert_eq!(m["model"]["format"], "int8-program", "{m}");
    assert_eq!(m["model"]["file"], "model.int8");
    assert_eq!(m["runner"]["onnx_parser"], false, "{m}");
    let runner = bundle.join("edgenas-runner");
    for name in ["aarch64-a76-linux", "aarch64-linux"] {
        let target = Target::resolve(name).unwrap();
        let got = dir.join(format!("q-integer-{name}.npy"));
        let model = bundle.join("model.int8");
        succeed(emulated(&target, &runner).args(["run", s(&model), "--input", s(&f.input), "--output", s(&got)]));
        assert_eq!(read_npy_f32(&got).unwrap(), expected, "{name}");
    }
}

#[test]
fn bad_input_fails_cleanly_without_a_bundle() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.onnx");
    std::fs::write(&garbage, b"\x08\xff\xff\xff this is not a protobuf \x00\x13\x37").unwrap();
    let unsupported = dir.path().join("custom.onnx");
    std::fs::write(&unsupported, model_with_unknown_op()).unwrap();
    let good = fixture().model.clone();
    let bundle = dir.path().join("bundle");
    for (model, target, needle) in [
        (&good, "no-such-board", "unknown target `no-such-board`"),
        (&good, "/nonexistent/board.toml", "/nonexistent/board.toml"),
        (&good, "cortex-m4", "microcontroller"),
        (&garbage, "host", "garbage.onnx"),
        (&unsupported, "host", "NoSuchOp"),
        (&dir.path().join("missing.onnx"), "host", "missing.onnx"),
    ] {
        let out = edgenas(&["compile", s(model), "--target", target, "--out", s(&bundle)]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{target} {model:?}: {err}");
        assert!(err.contains(needle) && !err.contains("panicked"), "expected `{needle}` in:\n{err}");
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert!(!bundle.exists() && left.len() == 2, "leftovers after a failed compile: {left:?}");
    }
    std::fs::create_dir(&bundle).unwrap();
    let out = edgenas(&["compile", s(&good), "--target", "host", "--out", s(&bundle)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("--force"), "{}", stderr(&out));
}

fn emulated(target: &Target, runner: &Path) -> Command {
    let emulator = target.emulator.as_ref().expect("linux-cross targets have an emulator");
    let mut command = Command::new(&emulator[0]);
    command.args(&emulator[1..]).arg(runner).envs(&target.guest_env);
    command
}

fn assert_close(got: &TensorF32, expected: &TensorF32, relative: f32) {
    assert_eq!(got.shape, expected.shape);
    let scale = expected.data.iter().fold(1f32, |m, v| m.max(v.abs()));
    let diff = got.data.iter().zip(&expected.data).fold(0f32, |m, (a, b)| m.max((a - b).abs()));
    eprintln!("max abs difference {diff:e} (scale {scale})");
    assert!(diff <= relative * scale, "max abs difference {diff} > {relative} * {scale}");
}

fn manifest(bundle: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(bundle.join("manifest.json")).unwrap()).unwrap()
}

fn sha256(path: &Path) -> String {
    Sha256::digest(std::fs::read(path).unwrap()).iter().map(|b| format!("{b:02x}")).collect()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string())
}

fn ok(args: &[&str]) -> String {
    let out = edgenas(args);
    assert!(out.status.success(), "{args:?} failed:\n{}", stderr(&out));
    stdout(&out)
}

fn succeed(command: &mut Command) -> Output {
    let out = command.output().unwrap();
    assert!(out.status.success(), "{command:?} failed:\n{}", stderr(&out));
    out
}

fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}
