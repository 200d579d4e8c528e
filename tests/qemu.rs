//! The `qemu-user` backend end to end: instruction counts of a stand-in runner
//! (`targets/qemu/testdata/loop_guest.c`, cross-compiled here for aarch64 and armv7) under
//! qemu-aarch64 / qemu-arm with the counting plugin and the deterministic-random shim.
//!
//! Needs the cross gcc and qemu-user of `scripts/setup-cross.sh` (which `scripts/test.sh`
//! runs first). Only the last test runs the real `edgenas-runner`: it cross-builds it for
//! aarch64 (minutes on a cold cache; `$EDGENAS_TEST_RUNNER_AARCH64` names a prebuilt one).

use std::path::{Path, PathBuf};
use std::time::Duration;

use edgenas_targets::{
    build_runner, run_command, BenchConfig, DeviceArtifact, DeviceBackend, LatencyStats, LatencyUnit, MeasureError,
    QemuUserBackend, RunnerProfile, Target,
};
use tempfile::TempDir;

const CROSS_TARGETS: [&str; 2] = ["aarch64-linux", "armv7-linux"];
/// Iterations of the stand-in's inference loop; each is exactly two instructions
/// (`subs` + a conditional branch back, written in inline assembly).
const ITERS: u64 = 200_000;
const INSNS_PER_ITER: u64 = 2;

/// A scratch directory with the stand-in runner built for `target` and model files.
struct Guest {
    dir: TempDir,
    target: Target,
    runner: PathBuf,
}

impl Guest {
    fn build(name: &str) -> Guest {
        let target = Target::builtin(name).expect("built-in target");
        let dir = tempfile::tempdir().expect("temp dir");
        let runner = dir.path().join("loop_guest");
        let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("targets/qemu/testdata/loop_guest.c");
        let cc = target.linker.clone().expect("linux-cross targets have a linker");
        let argv = [&cc, "-O2", "-Wall", "-o", path(&runner), path(&source)].map(String::from);
        let out = run_command(&argv, None, Duration::from_secs(120)).expect("the cross gcc runs");
        assert!(out.success(), "{argv:?} failed:\n{}", out.stderr);
        Guest { dir, target, runner }
    }

    /// A "model": the stand-in reads its loop length (or `fail`, `nomarkers N`) from it.
    fn artifact(&self, model: &str) -> DeviceArtifact {
        let file = self.dir.path().join(format!("{}.model", model.replace(' ', "-")));
        std::fs::write(&file, model).expect("write model");
        DeviceArtifact { runner: self.runner.clone(), model: file, input: None }
    }

    fn backend(&self) -> QemuUserBackend {
        QemuUserBackend::new(self.target.clone()).expect("a linux-cross target")
    }

    fn measure(&self, model: &str) -> Result<LatencyStats, MeasureError> {
        self.backend().measure(&self.artifact(model), &BenchConfig::default())
    }
}

fn path(p: &Path) -> &str {
    p.to_str().expect("UTF-8 temp path")
}

fn failure(result: Result<LatencyStats, MeasureError>) -> String {
    match result {
        Err(e @ MeasureError::Failed { .. }) => e.to_string(),
        other => panic!("expected MeasureError::Failed, got {other:?}"),
    }
}

#[test]
fn counts_repeat_exactly_and_grow_by_the_loop_instructions() {
    for name in CROSS_TARGETS {
        let guest = Guest::build(name);
        let model = ITERS.to_string();
        let first = guest.measure(&model).unwrap_or_else(|e| panic!("{name}: {e}"));
        let second = guest.measure(&model).unwrap_or_else(|e| panic!("{name}: {e}"));
        // The window count is 2 * (ITERS + EXTRA) plus a few call/return instructions,
        // where EXTRA < 1024 comes from getrandom & co., made deterministic by the shim.
        assert_eq!(first, second, "{name}: two runs differ");
        assert_eq!((first.unit, first.n, first.warmup), (LatencyUnit::Instructions, 3, 1), "{name}");
        assert_eq!((first.min, first.max, first.relative_spread), (first.median, first.median, 0.0), "{name}");
        assert!(first.converged, "{name}");
        let base = (ITERS * INSNS_PER_ITER) as f64;
        assert!(first.median >= base && first.median < base + 2048.0 + 100.0, "{name}: {first:?}");

        let doubled = guest.measure(&(2 * ITERS).to_string()).unwrap_or_else(|e| panic!("{name}: {e}"));
        // Counting is per executed translation block, so the difference is exact: every
        // extra iteration is one block of exactly two instructions.
        assert_eq!(doubled.median - first.median, base, "{name}: {first:?} vs {doubled:?}");
        eprintln!(
            "{name}: {ITERS} iterations -> {} instructions, {} -> {}; per iteration {}",
            first.median,
            2 * ITERS,
            doubled.median,
            (doubled.median - first.median) / ITERS as f64
        );
    }
}

#[test]
fn the_shim_makes_every_random_source_repeat() {
    for name in CROSS_TARGETS {
        let guest = Guest::build(name);
        let tools = guest.backend().tools().unwrap_or_else(|e| panic!("{name}: {e}"));
        let emulator = guest.target.emulator.clone().expect("an emulator");
        let random = |preload: bool| {
            let mut argv = emulator.clone();
            if preload {
                argv.extend(["-E".to_string(), format!("LD_PRELOAD={}", path(&tools.shim))]);
            }
            argv.extend([path(&guest.runner).to_string(), "random".to_string()]);
            let out = run_command(&argv, None, Duration::from_secs(60)).expect("the emulator runs");
            assert!(out.success() && out.stderr.is_empty(), "{name} {argv:?}:\n{}", out.stderr);
            out.stdout
        };
        let (a, b) = (random(true), random(true));
        assert_eq!(a, b, "{name}: getrandom, getentropy, syscall or /dev/urandom not deterministic");
        let words_a: Vec<&str> = a.split_whitespace().collect();
        let words_native: Vec<String> = random(false).split_whitespace().map(String::from).collect();
        assert_eq!((words_a.len(), words_native.len()), (4, 4), "{name}: {a}");
        for (shimmed, native) in words_a.iter().zip(&words_native) {
            assert_ne!(shimmed, native, "{name}: a source the shim did not replace");
        }
    }
}

#[test]
fn bracketed_warm_up_inferences_are_dropped() {
    let guest = Guest::build("armv7-linux");
    let measured_only = guest.measure(&ITERS.to_string()).expect("measures");
    let all_marked = guest.measure(&format!("allmarked {ITERS}")).expect("measures");
    assert_eq!(all_marked, measured_only);
}

#[test]
fn a_failing_runner_is_failed_with_its_stderr() {
    let guest = Guest::build("aarch64-linux");
    let e = failure(guest.measure("fail"));
    assert!(e.contains("exited with status 1") && e.contains("this model fails on purpose"), "{e}");
}

#[test]
fn a_runner_without_markers_is_failed() {
    let guest = Guest::build("armv7-linux");
    let e = failure(guest.measure(&format!("nomarkers {ITERS}")));
    assert!(e.contains("no inference was counted") && e.contains("edgenas_inference_begin"), "{e}");
}

#[test]
fn a_runner_past_the_time_limit_is_failed() {
    let guest = Guest::build("aarch64-linux");
    let backend = guest.backend().with_timeout(Duration::from_secs(1));
    let e = failure(backend.measure(&guest.artifact("100000000000"), &BenchConfig::default()));
    assert!(e.contains("timed out"), "{e}");
}

#[test]
fn a_missing_emulator_or_cross_compiler_is_unavailable() {
    let guest = Guest::build("aarch64-linux");
    let mut target = guest.target.clone();
    target.emulator = Some(vec!["/nonexistent/qemu-aarch64".to_string(), "-L".to_string(), "/x".to_string()]);
    let backend = QemuUserBackend::new(target).expect("a linux-cross target");
    let e = backend.measure(&guest.artifact("10"), &BenchConfig::default()).unwrap_err();
    assert!(matches!(e, MeasureError::Unavailable { .. }), "{e:?}");
    assert!(e.to_string().contains("cannot start the emulator"), "{e}");

    let mut target = guest.target.clone();
    target.linker = Some("/nonexistent/aarch64-linux-gnu-gcc".to_string());
    let cache = tempfile::tempdir().expect("temp dir");
    let backend = QemuUserBackend::with_cache_dir(target, cache.path()).expect("a linux-cross target");
    let e = backend.measure(&guest.artifact("10"), &BenchConfig::default()).unwrap_err();
    assert!(matches!(e, MeasureError::Unavailable { .. }), "{e:?}");
    assert!(e.to_string().contains("cannot run the C compiler `/nonexistent/aarch64-linux-gnu-gcc`"), "{e}");
}

#[test]
fn helpers_are_cached_by_content() {
    let cache = tempfile::tempdir().expect("temp dir");
    let target = Target::builtin("armv7-linux").expect("built-in");
    let backend = QemuUserBackend::with_cache_dir(target, cache.path()).expect("a linux-cross target");
    let tools = backend.tools().expect("helpers build");
    assert!(tools.plugin.starts_with(cache.path()) && tools.shim.starts_with(cache.path()), "{tools:?}");
    let built = std::fs::metadata(&tools.shim).and_then(|m| m.modified()).expect("shim built");
    assert_eq!(backend.tools().expect("cached"), tools);
    assert_eq!(std::fs::metadata(&tools.shim).and_then(|m| m.modified()).expect("still there"), built);
    let names: Vec<String> = std::fs::read_dir(cache.path())
        .expect("cache dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 2, "temporary files left behind: {names:?}");
}

/// NB201 with every edge a skip connection: the stem, the reduction blocks and the
/// classifier, a few million instructions per inference.
const TINY_NB201: &str =
    "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|";

#[test]
fn the_edgenas_runner_counts_repeat_exactly_on_aarch64() {
    let target = Target::builtin("aarch64-linux").expect("built-in");
    let dir = tempfile::tempdir().expect("temp dir");
    let runner = match std::env::var_os("EDGENAS_TEST_RUNNER_AARCH64") {
        Some(path) => PathBuf::from(path),
        None => build_runner(&target, RunnerProfile::Release, dir.path()).unwrap_or_else(|e| panic!("{e}")),
    };
    let onnx = dir.path().join("tiny.onnx");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_edgenas"))
        .args(["export", "--nb201-arch", TINY_NB201, "--out", path(&onnx)])
        .output()
        .expect("spawning edgenas");
    assert!(out.status.success(), "export failed:\n{}", String::from_utf8_lossy(&out.stderr));
    let nnef = edgenas_runtime::save_nnef(&std::fs::read(&onnx).expect("read ONNX"), None).expect("saves as NNEF");
    let model = dir.path().join("tiny.nnef.tgz");
    std::fs::write(&model, nnef).expect("write NNEF");

    let backend = QemuUserBackend::new(target).expect("a linux-cross target");
    let artifact = DeviceArtifact { runner, model, input: None };
    let first = backend.measure(&artifact, &BenchConfig::default()).unwrap_or_else(|e| panic!("{e}"));
    let second = backend.measure(&artifact, &BenchConfig::default()).unwrap_or_else(|e| panic!("{e}"));
    eprintln!("edgenas-runner on aarch64, NB201 all-skip: {first:?}");
    assert_eq!(first, second, "two runs differ");
    assert_eq!((first.unit, first.n, first.warmup), (LatencyUnit::Instructions, 3, 1));
    assert!(first.median > 100_000.0, "{first:?}");
}
