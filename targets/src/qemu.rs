//! The `qemu-user` device backend: the cross-built runner under qemu-aarch64 / qemu-arm,
//! measured in exact guest instructions per inference, never in emulated wall time.
//!
//! Two helpers are built from this crate's own C sources (`targets/qemu/`) on first use and
//! cached by content hash: the TCG plugin `insn_count.c` (host gcc), which counts the
//! instructions between the runner's marker calls, and the guest `LD_PRELOAD` shim
//! `deterministic_random.c` (the target's cross gcc), which makes getrandom, getentropy
//! and `/dev/urandom` a fixed stream so that hash-map seeds, and with them the counts,
//! repeat exactly from run to run.

use std::path::{Path, PathBuf};
use std::time::Duration;

use edgenas_runtime::{BenchConfig, LatencyStats, LatencyUnit, ModelProfile};
use sha2::{Digest, Sha256};

use crate::process::error_chain;
use crate::{run_command, DeviceArtifact, DeviceBackend, MeasureError, ProcessError, Target, TargetKind, END_MARKER};

const PLUGIN_SOURCE: &str = include_str!("../qemu/insn_count.c");
const SHIM_SOURCE: &str = include_str!("../qemu/deterministic_random.c");
/// Host C compiler for the plugin (it is loaded by the host's qemu).
const HOST_CC: &str = "gcc";
const SHARED_FLAGS: [&str; 4] = ["-shared", "-fPIC", "-O2", "-std=gnu11"];
/// Fixed seed of qemu's own randomness (the guest's AT_RANDOM bytes).
const QEMU_SEED: &str = "1";

/// Emulation with the plugin runs roughly this many times slower than the device would.
const EMULATION_SLOWDOWN: u32 = 100;
/// Least time a run gets, whatever the bench config's time cap: loading and optimizing a
/// model under emulation alone takes seconds.
const MIN_RUN_TIMEOUT: Duration = Duration::from_secs(120);
const BUILD_TIMEOUT: Duration = Duration::from_secs(120);
/// Characters of a failing program's stderr kept in errors.
const TAIL_CHARS: usize = 2000;

/// Host paths of the helpers a measurement runs with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QemuTools {
    /// The instruction-counting TCG plugin (host shared object).
    pub plugin: PathBuf,
    /// The deterministic-randomness `LD_PRELOAD` shim (guest shared object).
    pub shim: PathBuf,
}

/// Measures a [`DeviceArtifact`] of a `linux-cross` target under its user-mode emulator
/// (`Target::emulator`, whose `-L DIR` is the guest sysroot), in instructions.
///
/// One measurement is one emulator run:
/// `EMULATOR -seed 1 -plugin PLUGIN,out=COUNTS -E LD_PRELOAD=SHIM [-E K=V ...] RUNNER bench
/// MODEL [--input IN] --warmup W --repeat N --json`, with `-E` for each of the target's
/// `guest_env`. `W` is `min(config.warmup, 1)` and `N` is `config.min_runs` clamped to
/// `1..=`[`QemuUserBackend::MAX_REPEAT`]: counts are exact, so few samples suffice. The
/// result is [`LatencyStats`] in [`LatencyUnit::Instructions`] over the `N` measured
/// windows (a runner may bracket its `W` warm-up inferences too: then the first `W` of
/// `W + N` windows are dropped). The runner's printed wall-clock JSON is ignored.
///
/// Errors: [`MeasureError::Unavailable`] when the emulator or a C compiler cannot be run,
/// a helper does not build, or the emulator cannot load the plugin;
/// [`MeasureError::Failed`] (1 attempt: counts are deterministic, a retry would fail the
/// same way) when the runner exits non-zero (with the tail of its stderr) or runs past the
/// time limit, when no window or neither `N` nor `W + N` windows were counted, or when the
/// counts file is unusable.
///
/// The runner must keep its symbol table (markers are found by name) and run inference on
/// one thread (the plugin's counter is not per thread).
#[derive(Debug, Clone)]
pub struct QemuUserBackend {
    /// Boxed: a descriptor is a few hundred bytes, a backend is moved around by value.
    target: Box<Target>,
    cache_dir: PathBuf,
    timeout: Option<Duration>,
}

impl QemuUserBackend {
    /// Measured inferences per run at most. Counts are exact (identical samples once the
    /// first inference has warmed the runner up), so further repeats only add emulation time.
    pub const MAX_REPEAT: usize = 3;

    /// A backend for `target`, caching the helpers in [`QemuUserBackend::default_cache_dir`].
    /// Fails with [`MeasureError::Unavailable`] unless `target` is of kind `linux-cross`
    /// with a linker and an emulator.
    pub fn new(target: Target) -> Result<Self, MeasureError> {
        Self::with_cache_dir(target, Self::default_cache_dir())
    }

    /// Like [`QemuUserBackend::new`], caching the helpers in `cache_dir` (created on first
    /// use).
    pub fn with_cache_dir(target: Target, cache_dir: impl Into<PathBuf>) -> Result<Self, MeasureError> {
        let problem = if target.kind != TargetKind::LinuxCross {
            Some(format!("the qemu-user backend measures targets of kind `linux-cross`, not `{}`", target.kind))
        } else if target.linker.is_none() {
            Some("no `linker` to cross-compile the guest shim with".to_string())
        } else if !matches!(&target.emulator, Some(argv) if !argv.is_empty()) {
            Some("no `emulator` to run the runner under".to_string())
        } else {
            None
        };
        match problem {
            Some(reason) => Err(MeasureError::Unavailable { target: target.name, reason }),
            None => Ok(QemuUserBackend { target: Box::new(target), cache_dir: cache_dir.into(), timeout: None }),
        }
    }

    /// Sets the time limit of one emulator run, replacing the default of 100 times the
    /// bench config's `time_cap`, at least two minutes.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// `qemu` in the cache directory ([`crate::cache_dir`]).
    pub fn default_cache_dir() -> PathBuf {
        crate::cache_dir().join("qemu")
    }

    /// Where the helpers are cached.
    pub fn cache_dir(&self) -> &Path {
        &self.cache_dir
    }

    /// The plugin and the shim for this target, built unless the cache holds them for the
    /// current sources, compiler and flags (the file names carry that hash). Concurrent
    /// builds are safe: each compiles to a temporary file that is renamed into place.
    pub fn tools(&self) -> Result<QemuTools, MeasureError> {
        let plugin = build_plugin(&self.cache_dir, &self.target.name)?;
        let linker = self.target.linker.as_deref().unwrap_or_default();
        let shim = self.build("deterministic_random", &self.target.triple, linker, &["-ldl"], SHIM_SOURCE)?;
        Ok(QemuTools { plugin, shim })
    }

    fn build(&self, stem: &str, tag: &str, cc: &str, libs: &[&str], source: &str) -> Result<PathBuf, MeasureError> {
        build_helper(&self.cache_dir, &self.target.name, stem, tag, cc, libs, source)
    }

    /// The emulator argv of one measurement.
    fn command(
        &self,
        tools: &QemuTools,
        counts: &Path,
        artifact: &DeviceArtifact,
        subcommand: &str,
        warmup: usize,
        repeat: usize,
    ) -> Result<Vec<String>, MeasureError> {
        let name = &self.target.name;
        let plugin = path_arg(&tools.plugin, name)?;
        let counts = path_arg(counts, name)?;
        let shim = path_arg(&tools.shim, name)?;
        for (what, value) in [("plugin path", &plugin), ("counts path", &counts), ("shim path", &shim)] {
            if value.contains(',') {
                return Err(
                    self.unavailable(format!("the {what} {value} contains a comma, which qemu splits options on"))
                );
            }
        }
        if shim.contains([':', ' ']) {
            return Err(
                self.unavailable(format!("the shim path {shim} contains `:` or a space, which LD_PRELOAD splits on"))
            );
        }
        let mut preload = shim;
        let mut env = Vec::new();
        for (key, value) in &self.target.guest_env {
            if key.contains([',', '=']) || value.contains(',') {
                return Err(self.unavailable(format!(
                    "guest_env `{key}={value}` contains a comma (or `=` in the name), which qemu's -E cannot pass"
                )));
            }
            if key == "LD_PRELOAD" {
                preload = format!("{preload}:{value}");
            } else {
                env.extend(["-E".to_string(), format!("{key}={value}")]);
            }
        }
        let mut argv = self.target.emulator.clone().unwrap_or_default();
        argv.extend(["-seed".to_string(), QEMU_SEED.to_string()]);
        argv.extend(["-plugin".to_string(), format!("{plugin},out={counts}")]);
        argv.extend(["-E".to_string(), format!("LD_PRELOAD={preload}")]);
        argv.extend(env);
        argv.extend([path_arg(&artifact.runner, name)?, subcommand.to_string(), path_arg(&artifact.model, name)?]);
        if let Some(input) = &artifact.input {
            argv.extend(["--input".to_string(), path_arg(input, name)?]);
        }
        argv.extend(["--warmup".to_string(), warmup.to_string(), "--repeat".to_string(), repeat.to_string()]);
        argv.push("--json".to_string());
        Ok(argv)
    }

    fn unavailable(&self, reason: String) -> MeasureError {
        MeasureError::Unavailable { target: self.target.name.clone(), reason }
    }

    fn failed(&self, reason: String) -> MeasureError {
        MeasureError::Failed { target: self.target.name.clone(), attempts: 1, reason }
    }
}

impl DeviceBackend for QemuUserBackend {
    fn target(&self) -> &Target {
        &self.target
    }

    fn measure(&self, artifact: &DeviceArtifact, config: &BenchConfig) -> Result<LatencyStats, MeasureError> {
        let warmup = config.warmup.min(1);
        let repeat = config.min_runs.clamp(1, Self::MAX_REPEAT);
        let run = self.run_counted(artifact, "bench", warmup, repeat, config.time_cap)?;
        let measured = match run.counts.windows.len() {
            n if n == repeat => &run.counts.windows[..],
            n if n == warmup + repeat => &run.counts.windows[warmup..],
            n => {
                return Err(self.failed(format!(
                    "counted {n} inference window(s), expected {repeat} (measured inferences only) or {} (warm-up \
                     included)",
                    warmup + repeat
                )))
            }
        };
        let samples: Vec<f64> = measured.iter().map(|&c| c as f64).collect();
        LatencyStats::from_samples(LatencyUnit::Instructions, &samples, warmup, config.spread_target)
            .ok_or_else(|| self.failed("no valid instruction count".to_string()))
    }

    fn profile(
        &self,
        artifact: &DeviceArtifact,
        runs: usize,
        time_cap: Duration,
    ) -> Result<ModelProfile, MeasureError> {
        let runs = runs.clamp(1, Self::MAX_REPEAT);
        let run = self.run_counted(artifact, "profile", 1, runs, time_cap)?;
        let line = run.stdout.lines().last().unwrap_or_default();
        let timed: ModelProfile = serde_json::from_str(line).map_err(|e| {
            self.failed(format!("the runner's last stdout line is not a profile ({e}): `{}`", tail(line)))
        })?;
        let nodes: Vec<_> = timed.nodes.into_iter().map(|n| n.node).collect();
        let windows = &run.counts.windows;
        if windows.len() != runs * (1 + nodes.len()) {
            return Err(self.failed(format!(
                "counted {} window(s), expected {} ({runs} run(s) of one whole inference and {} nodes)",
                windows.len(),
                runs * (1 + nodes.len()),
                nodes.len()
            )));
        }
        let as_f64 = |w: &[u64]| w.iter().map(|&c| c as f64).collect::<Vec<_>>();
        let pairs: Vec<&[u64]> = windows.chunks(1 + nodes.len()).collect();
        let whole: Vec<f64> = pairs.iter().map(|p| p[0] as f64).collect();
        let per_node: Vec<Vec<f64>> = pairs.iter().map(|p| as_f64(&p[1..])).collect();
        ModelProfile::from_samples(LatencyUnit::Instructions, nodes, &whole, &per_node).map_err(|e| self.failed(e))
    }
}

/// What one emulated run of the runner left: its stdout and the plugin's counts.
struct CountedRun {
    stdout: String,
    counts: Counts,
}

impl QemuUserBackend {
    /// Runs `RUNNER subcommand MODEL --warmup W --repeat N --json` under the emulator with
    /// the counting plugin; fails unless it exits 0 and counted at least one window.
    fn run_counted(
        &self,
        artifact: &DeviceArtifact,
        subcommand: &str,
        warmup: usize,
        repeat: usize,
        time_cap: Duration,
    ) -> Result<CountedRun, MeasureError> {
        let tools = self.tools()?;
        let run_dir = tempfile::Builder::new()
            .prefix("edgenas-qemu-run-")
            .tempdir()
            .map_err(|e| self.unavailable(format!("cannot create a temporary directory: {e}")))?;
        let counts_path = run_dir.path().join("counts.txt");
        let argv = self.command(&tools, &counts_path, artifact, subcommand, warmup, repeat)?;
        let timeout = self.timeout.unwrap_or_else(|| time_cap.saturating_mul(EMULATION_SLOWDOWN).max(MIN_RUN_TIMEOUT));
        let outcome = run_command(&argv, None, timeout).map_err(|e| match e {
            ProcessError::Spawn { .. } => self.unavailable(format!("cannot start the emulator: {}", error_chain(&e))),
            e => self.failed(error_chain(&e)),
        })?;
        if outcome.stderr.contains("Could not load plugin") {
            return Err(self.unavailable(format!(
                "the emulator cannot load the instruction-counting plugin (qemu-user 7.x with plugin API v1 \
                 needed; qemu-user-static cannot load plugins):\n{}",
                tail(&outcome.stderr)
            )));
        }
        if !outcome.success() {
            let what = if outcome.timed_out { format!("timed out after {timeout:?}") } else { status(&outcome) };
            return Err(self.failed(format!("the runner under emulation {what}; stderr:\n{}", tail(&outcome.stderr))));
        }
        let text = std::fs::read_to_string(&counts_path).map_err(|e| {
            self.failed(format!(
                "the counting plugin left no counts file ({e}); emulator stderr:\n{}",
                tail(&outcome.stderr)
            ))
        })?;
        let counts = parse_counts(&text).map_err(|e| self.failed(format!("unusable counts file: {e}")))?;
        if counts.windows.is_empty() {
            return Err(self.failed(format!(
                "no inference was counted: the runner never called `{}`/`{END_MARKER}` (markers missing, inlined \
                 or stripped from its symbol table?)",
                crate::BEGIN_MARKER
            )));
        }
        Ok(CountedRun { stdout: outcome.stdout, counts })
    }
}

/// Builds one helper from `source` with `cc` into `cache_dir`, unless the cache holds it
/// for the current sources, compiler and flags (the file name carries that hash). Concurrent
/// builds are safe: each compiles to a temporary file that is renamed into place.
fn build_helper(
    cache_dir: &Path,
    target: &str,
    stem: &str,
    tag: &str,
    cc: &str,
    libs: &[&str],
    source: &str,
) -> Result<PathBuf, MeasureError> {
    let unavailable = |reason: String| MeasureError::Unavailable { target: target.to_string(), reason };
    let mut hasher = Sha256::new();
    for part in [cc].iter().chain(&SHARED_FLAGS).chain(libs).chain([&source]) {
        hasher.update(part.as_bytes());
        hasher.update([0]);
    }
    let hash: String = hasher.finalize()[..8].iter().map(|b| format!("{b:02x}")).collect();
    let object = cache_dir.join(format!("{stem}-{tag}-{hash}.so"));
    if object.is_file() {
        return Ok(object);
    }
    let io_error = |what: &str, e: std::io::Error| unavailable(format!("{what} {}: {e}", cache_dir.display()));
    std::fs::create_dir_all(cache_dir).map_err(|e| io_error("cannot create the cache directory", e))?;
    let temp =
        |suffix: &str| tempfile::Builder::new().prefix(&format!("{stem}-")).suffix(suffix).tempfile_in(cache_dir);
    let c_file = temp(".c").map_err(|e| io_error("cannot write a source file in", e))?;
    std::fs::write(c_file.path(), source).map_err(|e| io_error("cannot write a source file in", e))?;
    let so_file = temp(".so.part").map_err(|e| io_error("cannot write an object file in", e))?;
    let mut argv: Vec<String> = std::iter::once(cc).chain(SHARED_FLAGS).map(String::from).collect();
    argv.extend(["-o".to_string(), path_arg(so_file.path(), target)?]);
    argv.push(path_arg(c_file.path(), target)?);
    argv.extend(libs.iter().map(|l| l.to_string()));
    let outcome = run_command(&argv, None, BUILD_TIMEOUT).map_err(|e| {
        unavailable(format!("cannot run the C compiler `{cc}` to build {stem}.so: {}", error_chain(&e)))
    })?;
    if !outcome.success() {
        return Err(unavailable(format!(
            "building {stem}.so with `{cc}` failed ({}):\n{}",
            status(&outcome),
            tail(&outcome.stderr)
        )));
    }
    so_file.persist(&object).map_err(|e| io_error("cannot store the built object in", e.error))?;
    Ok(object)
}

/// The instruction-counting plugin (host gcc), built into `cache_dir` on first use.
pub(crate) fn build_plugin(cache_dir: &Path, target: &str) -> Result<PathBuf, MeasureError> {
    build_helper(cache_dir, target, "insn_count", "host", HOST_CC, &[], PLUGIN_SOURCE)
}

/// What the plugin wrote: one instruction count per begin/end window, and the process total.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Counts {
    pub(crate) windows: Vec<u64>,
    total: u64,
}

/// Parses the plugin's file: decimal counts, one a line, then `total N` as the last line,
/// newline-terminated (a file without it was cut short). No window exceeds the total.
pub(crate) fn parse_counts(text: &str) -> Result<Counts, String> {
    let shown = |line: &str| line.chars().take(40).collect::<String>();
    let mut windows = Vec::new();
    let mut total = None;
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        if total.is_some() {
            return Err(format!("line {number}: `{}` after the `total` line", shown(line)));
        }
        if let Some(rest) = line.strip_prefix("total ") {
            let value = rest.parse().map_err(|_| format!("line {number}: `{}` is not `total N`", shown(line)))?;
            total = Some(value);
        } else {
            let value = line.parse().map_err(|_| format!("line {number}: `{}` is not a count", shown(line)))?;
            windows.push(value);
        }
    }
    let total = match total {
        Some(total) if text.ends_with('\n') => total,
        _ => return Err("no complete `total N` line: the plugin did not finish writing".to_string()),
    };
    if let Some(window) = windows.iter().find(|&&w| w > total) {
        return Err(format!("a window of {window} instructions exceeds the process total {total}"));
    }
    Ok(Counts { windows, total })
}

fn path_arg(path: &Path, target: &str) -> Result<String, MeasureError> {
    path.to_str().map(str::to_string).ok_or_else(|| MeasureError::Unavailable {
        target: target.to_string(),
        reason: format!("cannot pass path {} to the emulator: not valid UTF-8", path.display()),
    })
}

fn status(outcome: &crate::CommandOutcome) -> String {
    match outcome.status {
        Some(code) => format!("exited with status {code}"),
        None => "was killed by a signal".to_string(),
    }
}

/// The last [`TAIL_CHARS`] characters of `text`, trimmed.
pub(crate) fn tail(text: &str) -> String {
    let text = text.trim_end();
    let skip = text.chars().count().saturating_sub(TAIL_CHARS);
    match text.char_indices().nth(skip) {
        Some((at, _)) if skip > 0 => format!("...{}", &text[at..]),
        _ => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_files_parse_and_garbage_is_rejected() {
        assert_eq!(parse_counts("12\n7\ntotal 100\n"), Ok(Counts { windows: vec![12, 7], total: 100 }));
        assert_eq!(parse_counts("total 5\n"), Ok(Counts { windows: vec![], total: 5 }));
        for (text, says) in [
            ("", "no complete `total N`"),
            ("12\n7\n", "no complete `total N`"),
            ("12\ntotal 100", "no complete `total N`"),
            ("12\ntotal 100\n13\n", "line 3: `13` after the `total` line"),
            ("12\nnot a number\ntotal 100\n", "line 2: `not a number` is not a count"),
            ("-3\ntotal 100\n", "line 1: `-3` is not a count"),
            ("\ntotal 100\n", "line 1: `` is not a count"),
            ("error out of memory\ntotal 9\n", "line 1: `error out of memory` is not a count"),
            ("12\ntotal many\n", "line 2: `total many` is not `total N`"),
            ("12\ntotal 99999999999999999999999\n", "is not `total N`"),
            ("101\ntotal 100\n", "exceeds the process total 100"),
        ] {
            let e = parse_counts(text).unwrap_err();
            assert!(e.contains(says), "{text:?}: {e}");
        }
    }

    fn aarch64() -> Target {
        Target::builtin("aarch64-linux").expect("built-in")
    }

    #[test]
    fn only_linux_cross_targets_with_an_emulator_are_accepted() {
        let e = QemuUserBackend::with_cache_dir(Target::host(), "/tmp").unwrap_err();
        assert!(matches!(&e, MeasureError::Unavailable { .. }) && e.to_string().contains("`host`"), "{e}");
        let mut target = aarch64();
        target.emulator = Some(vec![]);
        let e = QemuUserBackend::with_cache_dir(target, "/tmp").unwrap_err();
        assert!(e.to_string().contains("`emulator`"), "{e}");
        assert!(QemuUserBackend::with_cache_dir(aarch64(), "/tmp").is_ok());
    }

    #[test]
    fn the_command_follows_the_runner_contract() {
        let mut target = Target::builtin("armv7-linux").expect("built-in");
        target.guest_env.insert("LD_PRELOAD".into(), "/lib/extra.so".into());
        let backend = QemuUserBackend::with_cache_dir(target, "/cache").unwrap();
        let tools = QemuTools { plugin: "/cache/p.so".into(), shim: "/cache/s.so".into() };
        let artifact = DeviceArtifact { runner: "r".into(), model: "m.nnef.tgz".into(), input: Some("in.npy".into()) };
        let argv = backend.command(&tools, Path::new("/tmp/c.txt"), &artifact, "bench", 1, 3).unwrap();
        assert_eq!(
            argv.join(" "),
            "qemu-arm -L /usr/arm-linux-gnueabihf -seed 1 -plugin /cache/p.so,out=/tmp/c.txt \
             -E LD_PRELOAD=/cache/s.so:/lib/extra.so -E TRACT_CPU_ARM32_NEON=true \
             r bench m.nnef.tgz --input in.npy --warmup 1 --repeat 3 --json"
        );
        let comma = QemuTools { plugin: "/a,b/p.so".into(), ..tools.clone() };
        let e = backend.command(&comma, Path::new("/tmp/c.txt"), &artifact, "bench", 1, 3).unwrap_err();
        assert!(matches!(e, MeasureError::Unavailable { .. }) && e.to_string().contains("comma"), "{e}");
    }

    #[test]
    fn stderr_tails_keep_the_end() {
        assert_eq!(tail("short\n"), "short");
        let long = format!("{}END", "é".repeat(3000));
        let kept = tail(&long);
        assert!(kept.starts_with("...") && kept.ends_with("END") && kept.chars().count() == TAIL_CHARS + 3);
    }
}
