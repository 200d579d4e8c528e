//! The `remote` backend against a stand-in device (tests/stand_in/): a local directory that
//! `push.sh`, `run.sh` and `pull.sh` treat as the device, and `runner.sh`, a stand-in runner
//! whose behaviour (succeed, fail, hang, print garbage, fail once) comes from its "model".
//! Local paths contain spaces, so every template item must stay one argument. The last test
//! puts the real `edgenas-runner` (built for this host like `edgenas compile` builds it) on
//! the stand-in device with NB201 arch 6111.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use edgenas_runtime::{save_nnef, write_npy_f32, CompiledModel, RunOptions, TensorF32};
use edgenas_targets::{
    build_runner, AttemptReport, BenchConfig, DeviceArtifact, DeviceBackend, LatencyStats, LatencyUnit, MeasureError,
    RemoteBackend, RemoteStep, RunnerProfile, Target,
};
use tempfile::TempDir;

mod common;

const WARMUP: usize = 2;
const REPEAT: usize = 7;
/// Remote working directory, relative to the stand-in device's root.
const WORKDIR: &str = "work";

fn stand_in(script: &str) -> String {
    common::root().join("tests/stand_in").join(script).display().to_string()
}

/// The statistics the stand-in runner prints, made by the real summarizer.
fn expected_stats() -> LatencyStats {
    let samples: Vec<f64> = (0..REPEAT).map(|i| 1.5 + 0.25 * i as f64).collect();
    LatencyStats::from_samples(LatencyUnit::Ms, &samples, WARMUP, 0.05).expect("finite samples")
}

fn config() -> BenchConfig {
    BenchConfig { warmup: WARMUP, min_runs: REPEAT, ..BenchConfig::default() }
}

/// Pauses between attempts in the stand-in descriptors: short, so the tests stay quick,
/// and distinct, so each pause can be told apart.
const BACKOFF_S: f64 = 0.05;
const MAX_BACKOFF_S: f64 = 0.15;

/// A stand-in device (`device root/`, with `work/` in it) and a local artifact in
/// `my files/` whose model file selects the stand-in runner's `mode`.
struct Setup {
    dir: TempDir,
    artifact: DeviceArtifact,
}

impl Setup {
    fn new(mode: &str) -> Self {
        Self::with_stats(mode, &serde_json::to_string(&expected_stats()).expect("stats serialize"))
    }

    fn with_stats(mode: &str, stats_line: &str) -> Self {
        let dir = tempfile::Builder::new().prefix("edgenas remote ").tempdir().expect("temp dir");
        fs::create_dir_all(dir.path().join("device root").join(WORKDIR)).expect("device dir");
        let local = dir.path().join("my files");
        fs::create_dir_all(&local).expect("local dir");
        let runner = local.join("edgenas runner");
        fs::copy(stand_in("runner.sh"), &runner).expect("copy the stand-in runner");
        set_executable(&runner);
        let model = local.join("my model.onnx");
        fs::write(&model, format!("{mode}\n{stats_line}\n")).expect("write model");
        let input = local.join("in put.npy");
        fs::write(&input, b"not really npy").expect("write input");
        Setup { dir, artifact: DeviceArtifact { runner, model, input: Some(input) } }
    }

    fn device(&self) -> PathBuf {
        self.dir.path().join("device root")
    }

    /// The stand-in device's copy of `name` in the working directory.
    fn on_device(&self, name: &str) -> PathBuf {
        self.device().join(WORKDIR).join(name)
    }

    /// How many times the stand-in runner was called.
    fn runner_calls(&self) -> usize {
        fs::read_to_string(self.on_device("model.onnx.calls")).map_or(0, |text| text.lines().count())
    }

    /// A target descriptor, read from TOML like a user's, reaching the stand-in device;
    /// `push` replaces the push program when given.
    fn target(&self, timeout_s: f64, retries: usize, push: Option<&str>) -> Target {
        let device = self.device().display().to_string();
        let push = push.map_or_else(|| stand_in("push.sh"), str::to_string);
        let toml = format!(
            r#"
name = "stand-in"
kind = "host"
unit = "ms"

[remote]
push = [{push:?}, {device:?}, "{{local}}", "{{remote}}"]
run = [{run:?}, {device:?}, "{{runner}}", "{{args}}"]
pull = [{pull:?}, {device:?}, "{{remote}}", "{{local}}"]
workdir = "{WORKDIR}"
timeout_s = {timeout_s}
retries = {retries}
backoff_s = {BACKOFF_S}
max_backoff_s = {MAX_BACKOFF_S}
"#,
            run = stand_in("run.sh"),
            pull = stand_in("pull.sh"),
        );
        Target::from_toml(&toml, "stand-in.toml").expect("stand-in descriptor")
    }

    /// A backend and the attempts it reports.
    fn backend(&self, timeout_s: f64, retries: usize) -> (RemoteBackend, Arc<Mutex<Vec<AttemptReport>>>) {
        backend(self.target(timeout_s, retries, None))
    }
}

fn backend(target: Target) -> (RemoteBackend, Arc<Mutex<Vec<AttemptReport>>>) {
    let reports = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&reports);
    let backend = RemoteBackend::new(target)
        .expect("valid remote commands")
        .with_observer(move |report| sink.lock().expect("reports").push(report.clone()));
    (backend, reports)
}

#[cfg(unix)]
fn set_executable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).expect("chmod");
}

fn bench_attempts(reports: &Mutex<Vec<AttemptReport>>) -> Vec<AttemptReport> {
    reports.lock().expect("reports").iter().filter(|r| r.step == RemoteStep::Bench).cloned().collect()
}

fn failed(result: Result<LatencyStats, MeasureError>) -> (usize, String) {
    match result {
        Err(MeasureError::Failed { target, attempts, reason }) => {
            assert_eq!(target, "stand-in");
            eprintln!("failed after {attempts} attempt(s): {reason}");
            (attempts, reason)
        }
        other => panic!("expected MeasureError::Failed, got {other:?}"),
    }
}

#[test]
fn success_pushes_once_and_parses_the_runner_stats() {
    let setup = Setup::new("ok");
    let (backend, reports) = setup.backend(5.0, 2);
    let stats = backend.measure(&setup.artifact, &config()).expect("measure");
    assert_eq!(stats, expected_stats());
    assert_eq!(setup.runner_calls(), 1);
    for (local, remote) in [
        (&setup.artifact.runner, "edgenas-runner"),
        (&setup.artifact.model, "model.onnx"),
        (setup.artifact.input.as_ref().expect("input"), "input.npy"),
    ] {
        assert_eq!(fs::read(local).expect("local"), fs::read(setup.on_device(remote)).expect("pushed"), "{remote}");
    }

    let reports = reports.lock().expect("reports").clone();
    let steps: Vec<RemoteStep> = reports.iter().map(|r| r.step).collect();
    assert_eq!(steps, [RemoteStep::PushRunner, RemoteStep::PushModel, RemoteStep::PushInput, RemoteStep::Bench]);
    assert!(reports.iter().all(|r| r.attempt == 1 && r.attempts == 3 && r.failure.is_none()), "{reports:#?}");
    let device = setup.device().display().to_string();
    // Paths with spaces stay one argv item each, in the template and in the placeholders.
    assert_eq!(
        reports[1].argv,
        [
            stand_in("push.sh"),
            device.clone(),
            setup.artifact.model.display().to_string(),
            "work/model.onnx".to_string()
        ]
    );
    assert_eq!(
        reports[3].argv,
        [
            stand_in("run.sh"),
            device,
            "work/edgenas-runner".to_string(),
            "bench".to_string(),
            "work/model.onnx".to_string(),
            "--input".to_string(),
            "work/input.npy".to_string(),
            "--warmup".to_string(),
            WARMUP.to_string(),
            "--repeat".to_string(),
            REPEAT.to_string(),
            "--json".to_string(),
        ]
    );
}

#[test]
fn without_input_the_runner_gets_no_input_flag() {
    let mut setup = Setup::new("ok");
    setup.artifact.input = None;
    let (backend, reports) = setup.backend(5.0, 0);
    assert_eq!(backend.measure(&setup.artifact, &config()).expect("measure"), expected_stats());
    let bench = bench_attempts(&reports);
    assert!(!bench[0].argv.contains(&"--input".to_string()), "{:?}", bench[0].argv);
    assert!(!setup.on_device("input.npy").exists());
}

#[test]
fn a_failing_runner_is_retried_then_failed_with_its_stderr() {
    let setup = Setup::new("fail");
    let (backend, reports) = setup.backend(5.0, 2);
    let (attempts, reason) = failed(backend.measure(&setup.artifact, &config()));
    assert_eq!((attempts, setup.runner_calls()), (3, 3));
    assert!(reason.contains("bench") && reason.contains("status 3"), "{reason}");
    assert!(reason.contains("corrupt header"), "stderr tail missing: {reason}");
    let bench = bench_attempts(&reports);
    assert_eq!(bench.iter().map(|r| r.attempt).collect::<Vec<_>>(), [1, 2, 3]);
    assert!(bench.iter().all(|r| r.failure.as_ref().is_some_and(|f| f.contains("status 3"))), "{bench:#?}");
}

#[test]
fn a_hanging_runner_is_killed_at_the_timeout_retried_then_failed() {
    let setup = Setup::new("hang");
    let (backend, _) = setup.backend(1.0, 1);
    let start = Instant::now();
    let (attempts, reason) = failed(backend.measure(&setup.artifact, &config()));
    assert_eq!((attempts, setup.runner_calls()), (2, 2));
    assert!(reason.contains("bench") && reason.contains("timed out after 1 s"), "{reason}");
    // Two 1 s attempts; the stand-in sleeps 30 s, so its process group must have been killed.
    assert!(start.elapsed() < Duration::from_secs(15), "took {:?}", start.elapsed());
}

#[test]
fn garbage_output_is_retried_then_failed_quoting_the_line() {
    let setup = Setup::new("garbage");
    let (backend, _) = setup.backend(5.0, 1);
    let (attempts, reason) = failed(backend.measure(&setup.artifact, &config()));
    assert_eq!((attempts, setup.runner_calls()), (2, 2));
    assert!(reason.contains("not LatencyStats JSON"), "{reason}");
    assert!(reason.contains("`Illegal instruction (core dumped)`"), "{reason}");
}

#[test]
fn a_flaky_runner_succeeds_on_the_retry() {
    let setup = Setup::new("flaky");
    let (backend, reports) = setup.backend(5.0, 1);
    assert_eq!(backend.measure(&setup.artifact, &config()).expect("second attempt"), expected_stats());
    assert_eq!(setup.runner_calls(), 2);
    let bench = bench_attempts(&reports);
    assert_eq!(bench.len(), 2);
    assert!(bench[0].failure.as_ref().is_some_and(|f| f.contains("device busy")), "{bench:#?}");
    assert_eq!((bench[1].attempt, bench[1].failure.as_ref()), (2, None));
}

/// A device unreachable for three attempts: the retries back off (0.05, 0.1, then the cap
/// 0.15 s) instead of failing at once, and the fourth attempt gets through.
#[test]
fn retries_back_off_exponentially_up_to_the_cap_and_outlast_an_outage() {
    let setup = Setup::new("outage");
    let (backend, reports) = setup.backend(10.0, 3);
    let started = std::time::Instant::now();
    let stats = backend.measure(&setup.artifact, &config()).expect("the fourth attempt succeeds");
    assert_eq!(stats, expected_stats());
    let attempts = bench_attempts(&reports);
    let pauses: Vec<f64> = attempts.iter().map(|a| a.paused.as_secs_f64()).collect();
    assert_eq!(pauses, [0.0, BACKOFF_S, 2.0 * BACKOFF_S, MAX_BACKOFF_S], "{attempts:?}");
    assert!(attempts[..3].iter().all(|a| a.failure.as_deref().is_some_and(|f| f.contains("Network is unreachable"))));
    assert!(attempts[3].failure.is_none());
    assert!(started.elapsed().as_secs_f64() >= pauses.iter().sum::<f64>(), "the pauses were taken");
    assert_eq!(setup.runner_calls(), 4);
}

#[test]
fn statistics_in_another_unit_or_count_are_rejected() {
    let wrong_unit = serde_json::to_string(&expected_stats()).expect("json").replace("\"ms\"", "\"instructions\"");
    let setup = Setup::with_stats("ok", &wrong_unit);
    let (backend, _) = setup.backend(5.0, 0);
    let (attempts, reason) = failed(backend.measure(&setup.artifact, &config()));
    assert_eq!(attempts, 1);
    assert!(reason.contains("expected `ms`"), "{reason}");

    let setup = Setup::new("ok");
    let (backend, _) = setup.backend(5.0, 0);
    let other = BenchConfig { min_runs: REPEAT + 1, ..config() };
    let (_, reason) = failed(backend.measure(&setup.artifact, &other));
    assert!(reason.contains(&format!("asked for {}", REPEAT + 1)), "{reason}");
}

#[test]
fn a_missing_push_program_is_unavailable_and_not_retried() {
    let setup = Setup::new("ok");
    let (backend, reports) = backend(setup.target(5.0, 3, Some("/nonexistent/edgenas-push")));
    match backend.measure(&setup.artifact, &config()) {
        Err(MeasureError::Unavailable { target, reason }) => {
            assert_eq!(target, "stand-in");
            assert!(reason.contains("push runner") && reason.contains("/nonexistent/edgenas-push"), "{reason}");
        }
        other => panic!("expected MeasureError::Unavailable, got {other:?}"),
    }
    assert_eq!(reports.lock().expect("reports").len(), 1);
    assert_eq!(setup.runner_calls(), 0);
}

#[test]
fn a_failing_push_is_retried_then_failed_with_its_stderr() {
    let setup = Setup::new("ok");
    fs::remove_dir(setup.device().join(WORKDIR)).expect("remove workdir");
    let (backend, _) = setup.backend(5.0, 1);
    let (attempts, reason) = failed(backend.measure(&setup.artifact, &config()));
    assert_eq!(attempts, 2);
    assert!(reason.contains("push runner") && reason.contains("cp"), "{reason}");
}

#[test]
fn missing_local_files_fail_before_anything_runs() {
    let mut setup = Setup::new("ok");
    setup.artifact.model = setup.dir.path().join("nowhere.onnx");
    let (backend, reports) = setup.backend(5.0, 1);
    let (attempts, reason) = failed(backend.measure(&setup.artifact, &config()));
    assert_eq!(attempts, 0);
    assert!(reason.contains("the model") && reason.contains("nowhere.onnx"), "{reason}");
    assert!(reports.lock().expect("reports").is_empty());
}

#[test]
fn infer_runs_the_model_and_pulls_its_output() {
    let setup = Setup::new("ok");
    let (backend, reports) = setup.backend(5.0, 0);
    let output = setup.dir.path().join("my files").join("out put.npy");
    let input = setup.artifact.input.clone().expect("input");
    backend.infer(&setup.artifact.runner, &setup.artifact.model, &input, &output).expect("infer");
    assert_eq!(fs::read(&output).expect("pulled"), fs::read(&input).expect("input"));
    let steps: Vec<RemoteStep> = reports.lock().expect("reports").iter().map(|r| r.step).collect();
    assert_eq!(steps.last(), Some(&RemoteStep::Pull));
}

/// The real runner through the stand-in device: NB201 arch 6111 exported by `edgenas
/// export`, saved as NNEF as a bundle holds it, the runner built for this host.
#[test]
fn the_real_runner_measures_and_runs_arch_6111_through_the_stand_in() {
    let setup = Setup::new("ok");
    let local = setup.dir.path().join("my files");
    let onnx = local.join("arch 6111.onnx");
    let out = common::edgenas(&["export", "--nb201-index", "6111", "--out", &onnx.display().to_string()]);
    assert!(out.status.success(), "export failed:\n{}", common::stderr(&out));
    let onnx_bytes = fs::read(&onnx).expect("exported model");
    let model = local.join("arch 6111.nnef.tgz");
    fs::write(&model, save_nnef(&onnx_bytes, None).expect("save NNEF")).expect("write NNEF");
    let runner = build_runner(&Target::host(), RunnerProfile::Release, &local).expect("build the runner");

    let host = CompiledModel::from_onnx_bytes(&onnx_bytes, "arch 6111", &RunOptions::default()).expect("host model");
    let shape = host.input_shape().to_vec();
    let data = (0..shape.iter().product::<usize>()).map(|i| (i * 37 % 101) as f32 / 50.0 - 1.0).collect();
    let input = TensorF32 { shape, data };
    let input_path = local.join("in put.npy");
    write_npy_f32(&input_path, &input).expect("write input");
    let artifact = DeviceArtifact { runner, model, input: Some(input_path) };

    let (backend, _) = setup.backend(120.0, 0);
    let config = BenchConfig { warmup: 1, min_runs: 5, ..BenchConfig::default() };
    let stats = backend.measure(&artifact, &config).expect("measure with the real runner");
    assert_eq!((stats.unit, stats.n, stats.warmup), (LatencyUnit::Ms, 5, 1), "{stats:?}");
    assert!(0.0 < stats.min && stats.min <= stats.median && stats.median <= stats.max, "{stats:?}");
    assert!(setup.on_device("model.nnef.tgz").is_file());

    let output = local.join("out put.npy");
    backend.infer(&artifact.runner, &artifact.model, artifact.input.as_ref().expect("input"), &output).expect("infer");
    let device = edgenas_runtime::read_npy_f32(&output).expect("pulled output");
    let expected = host.run(&input).expect("host run").remove(0);
    assert_eq!(device.shape, expected.shape);
    // Same tract kernels on the same machine; the NNEF graph is the decluttered ONNX graph,
    // so only the order of fused f32 operations may differ: rounding-level differences.
    let scale = expected.data.iter().fold(1.0f32, |m, v| m.max(v.abs()));
    for (i, (d, e)) in device.data.iter().zip(&expected.data).enumerate() {
        assert!((d - e).abs() <= 1e-4 * scale, "output {i}: device {d}, host {e}");
    }
}
