//! Building the device runner (`edgenas-runner`, crate `runtime/runner`) for a target with
//! cargo, natively or cross-compiled with the target's linker, and the toolchain versions
//! a bundle manifest records.
//!
//! The runner is built from the sources this crate carries ([`crate::runner_source`]),
//! unpacked into the cache directory ([`crate::cache_dir`]), so an installed `edgenas`
//! builds runners with no source tree around. Builds go to their own cargo target
//! directory (default `<cache>/runner-target`), shared by every build of every target,
//! profile and feature set, and never contending for the lock of a workspace's own target
//! directory (a test run by `cargo test` can build the runner).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::process::run_command_with;
use crate::{run_command, ProcessError, Target, TargetKind};

/// The runner's package and binary name.
pub const RUNNER_NAME: &str = "edgenas-runner";
/// A clean release cross build of tract takes minutes on 2 cores; this is the limit.
const BUILD_TIMEOUT: Duration = Duration::from_secs(60 * 60);
const VERSION_TIMEOUT: Duration = Duration::from_secs(30);
/// Lines of cargo's stderr kept in a [`BuildError::Cargo`].
const STDERR_TAIL_LINES: usize = 25;

/// The cargo profile a runner is built with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[derive(strum::Display, strum::EnumString, strum::IntoStaticStr, strum::VariantArray)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum RunnerProfile {
    /// cargo's `release` profile.
    #[default]
    Release,
    /// The workspace's `runner-small` profile: opt-level "s", fat LTO, one codegen unit,
    /// panic = abort, debug info stripped (symbols kept for the inference markers).
    Small,
}

impl RunnerProfile {
    /// The profile's name for cargo's `--profile`.
    pub fn cargo_profile(self) -> &'static str {
        match self {
            RunnerProfile::Release => "release",
            RunnerProfile::Small => "runner-small",
        }
    }
}

/// Optional features of the runner; none by default (NNEF with tract's core operators).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct RunnerFeatures {
    /// `onnx`: also load `.onnx` files (links the ONNX parser, tract-onnx).
    pub onnx: bool,
    /// `nnef-onnx-ops`: load NNEF files using the `tract_onnx` operator registry.
    pub nnef_onnx_ops: bool,
}

impl RunnerFeatures {
    /// The cargo feature names, in a fixed order.
    pub fn names(self) -> Vec<&'static str> {
        let mut names = vec![];
        if self.onnx {
            names.push("onnx");
        }
        if self.nnef_onnx_ops {
            names.push("nnef-onnx-ops");
        }
        names
    }
}

/// How to build the runner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunnerBuild {
    /// A cargo workspace holding `runtime/runner` to build from; `None`: the sources this
    /// crate carries, unpacked into [`crate::cache_dir`].
    pub workspace: Option<PathBuf>,
    pub profile: RunnerProfile,
    pub features: RunnerFeatures,
    /// Cargo's target directory; `None`: `<cache>/runner-target`.
    pub target_dir: Option<PathBuf>,
    /// Limit for the whole cargo invocation.
    pub timeout: Duration,
}

/// What a runner build reports while it works (for a progress display).
#[derive(Debug, Clone, PartialEq)]
pub enum BuildProgress<'a> {
    /// cargo is about to start.
    Started { target: &'a str, triple: &'a str, profile: RunnerProfile, features: &'a [&'static str] },
    /// One line cargo printed (`Compiling tract-core v0.23.9`, ...).
    Cargo(&'a str),
    /// cargo finished, successfully or not, after this long.
    Finished { elapsed: Duration, ok: bool },
}

impl RunnerBuild {
    /// A build of the carried sources with `profile` and no optional feature.
    pub fn new(profile: RunnerProfile) -> Self {
        RunnerBuild {
            workspace: None,
            profile,
            features: RunnerFeatures::default(),
            target_dir: None,
            timeout: BUILD_TIMEOUT,
        }
    }

    /// The cargo target directory used.
    pub fn cargo_target_dir(&self) -> PathBuf {
        self.target_dir.clone().unwrap_or_else(|| crate::cache_dir().join("runner-target"))
    }

    /// Where cargo leaves the binary for `target`.
    pub fn artifact(&self, target: &Target) -> PathBuf {
        let mut dir = self.cargo_target_dir();
        if target.kind != TargetKind::Host {
            dir.push(&target.triple);
        }
        dir.join(self.profile.cargo_profile()).join(RUNNER_NAME)
    }

    /// The full command line for a build in `workspace`, environment assignments first
    /// (run through `env`, so that no shell is involved): `env CARGO_TARGET_DIR=..
    /// [CARGO_TARGET_<TRIPLE>_LINKER=..] CARGO build -p edgenas-runner --manifest-path ..
    /// --profile P [--target TRIPLE] [--features ..]`, where `CARGO` is `$CARGO` when set
    /// (running under cargo), else `cargo`.
    ///
    /// The C parts of tract (tract-linalg's assembly kernels) are compiled by the cc crate
    /// with its default cross compiler for the triple (`aarch64-linux-gnu-gcc`,
    /// `arm-linux-gnueabihf-gcc`); for another one set `CC_<triple>` in the environment.
    pub fn argv(&self, target: &Target, workspace: &Path) -> Vec<String> {
        let mut argv = vec!["env".to_string(), format!("CARGO_TARGET_DIR={}", self.cargo_target_dir().display())];
        let cross = target.kind != TargetKind::Host;
        if let (true, Some(linker)) = (cross, &target.linker) {
            let upper = target.triple.to_uppercase().replace(['-', '.'], "_");
            argv.push(format!("CARGO_TARGET_{upper}_LINKER={linker}"));
        }
        argv.push(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string()));
        let manifest = workspace.join("Cargo.toml");
        argv.extend(["build", "-p", RUNNER_NAME, "--manifest-path", &manifest.display().to_string()].map(String::from));
        argv.extend(["--profile".to_string(), self.profile.cargo_profile().to_string()]);
        if cross {
            argv.extend(["--target".to_string(), target.triple.clone()]);
        }
        let features = self.features.names();
        if !features.is_empty() {
            argv.extend(["--features".to_string(), features.join(",")]);
        }
        argv
    }

    /// The workspace to build in: [`RunnerBuild::workspace`], or the carried sources
    /// unpacked into the cache.
    fn source_tree(&self) -> Result<PathBuf, BuildError> {
        match &self.workspace {
            Some(dir) => {
                let manifest = dir.join("runtime").join("runner").join("Cargo.toml");
                if manifest.is_file() {
                    Ok(dir.clone())
                } else {
                    Err(BuildError::SourceMissing { manifest })
                }
            }
            None => crate::runner_source::unpack(&crate::cache_dir()),
        }
    }
}

/// Why the runner could not be built.
#[derive(Debug, Error)]
pub enum BuildError {
    /// The runner is a Linux program; microcontrollers get no runner binary.
    #[error("target `{target}` is of kind `{kind}`: the runner is built for kinds `host` and `linux-cross` only")]
    UnsupportedKind { target: String, kind: TargetKind },
    /// The workspace given to build from is not there.
    #[error("the runner sources to build from are missing: {} does not exist", manifest.display())]
    SourceMissing { manifest: PathBuf },
    /// The carried runner sources cannot be unpacked into the cache directory.
    #[error("cannot prepare the runner sources: {reason}")]
    Source { reason: String },
    /// cargo could not be started.
    #[error("cannot run cargo to build the runner")]
    Spawn(#[source] ProcessError),
    /// cargo ran and failed; `stderr_tail` holds the end of what it said.
    #[error(
        "building the runner for `{target}` ({triple}) failed{}:\n{stderr_tail}\nhint: `edgenas targets --check` lists what is missing for the target",
        status.map(|s| format!(" with status {s}")).unwrap_or_default()
    )]
    Cargo { target: String, triple: String, status: Option<i32>, stderr_tail: String },
    /// cargo ran past [`RunnerBuild::timeout`] and was killed.
    #[error("building the runner for `{target}` took longer than {}s and was stopped", after.as_secs())]
    TimedOut { target: String, after: Duration },
    /// cargo succeeded but the binary is not where it should be, or cannot be copied.
    #[error("cannot copy the runner from {}", from.display())]
    Copy { from: PathBuf, source: std::io::Error },
    /// The lock that keeps concurrent builds in one target directory apart failed.
    #[error("cannot lock {}", path.display())]
    Lock { path: PathBuf, source: std::io::Error },
}

/// Builds the runner for `target` with `profile` and no optional feature from the carried
/// sources and copies it to `out_dir/edgenas-runner`; see [`build_runner_with`].
pub fn build_runner(target: &Target, profile: RunnerProfile, out_dir: &Path) -> Result<PathBuf, BuildError> {
    build_runner_with(target, &RunnerBuild::new(profile), out_dir, &mut |_| {})
}

/// Builds the runner for `target` as `build` says and copies it to
/// `out_dir/edgenas-runner` (replaced atomically, mode 0755); returns that path.
/// `progress` hears when cargo starts, each line it prints, and when it ends.
///
/// Runs [`RunnerBuild::argv`]: kind `host` builds natively (no `--target`), other kinds
/// for the descriptor's triple with its linker. cargo is incremental, so a build already
/// done for the same target, profile and features only re-checks freshness. `out_dir`
/// must exist.
pub fn build_runner_with(
    target: &Target,
    build: &RunnerBuild,
    out_dir: &Path,
    progress: &mut dyn FnMut(&BuildProgress<'_>),
) -> Result<PathBuf, BuildError> {
    if target.kind == TargetKind::Mcu {
        return Err(BuildError::UnsupportedKind { target: target.name.clone(), kind: target.kind });
    }
    let workspace = build.source_tree()?;
    // Builds with other features or profiles write the same artifact path: hold the target
    // directory's lock from the build until the binary is copied, or a concurrent build
    // (another thread or process) could replace it in between.
    let _lock = lock_target_dir(&build.cargo_target_dir())?;
    let features = build.features.names();
    progress(&BuildProgress::Started {
        target: &target.name,
        triple: &target.triple,
        profile: build.profile,
        features: &features,
    });
    let started = Instant::now();
    let outcome = run_command_with(&build.argv(target, &workspace), Some(&workspace), build.timeout, &mut |line| {
        progress(&BuildProgress::Cargo(line))
    });
    let ok = outcome.as_ref().is_ok_and(|o| o.success());
    progress(&BuildProgress::Finished { elapsed: started.elapsed(), ok });
    let outcome = outcome.map_err(BuildError::Spawn)?;
    if outcome.timed_out {
        return Err(BuildError::TimedOut { target: target.name.clone(), after: build.timeout });
    }
    if !outcome.success() {
        let lines: Vec<&str> = outcome.stderr.lines().collect();
        let stderr_tail = lines[lines.len().saturating_sub(STDERR_TAIL_LINES)..].join("\n");
        return Err(BuildError::Cargo {
            target: target.name.clone(),
            triple: target.triple.clone(),
            status: outcome.status,
            stderr_tail,
        });
    }
    let from = build.artifact(target);
    let to = out_dir.join(RUNNER_NAME);
    let copied =
        std::fs::read(&from).map_err(|source| BuildError::Copy { from: from.clone(), source }).and_then(|bytes| {
            edgenas_runtime::write_atomic_executable(&to, &bytes, 0o755)
                .map_err(|e| BuildError::Copy { from: from.clone(), source: std::io::Error::other(e.to_string()) })
        });
    copied.map(|()| to)
}

/// An exclusive lock on `dir/.edgenas-runner-build.lock`, released when the file is dropped.
fn lock_target_dir(dir: &Path) -> Result<std::fs::File, BuildError> {
    let path = dir.join(".edgenas-runner-build.lock");
    let error = |source| BuildError::Lock { path: path.clone(), source };
    std::fs::create_dir_all(dir).map_err(error)?;
    let file = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(&path).map_err(error)?;
    file.lock().map_err(error)?;
    Ok(file)
}

/// The versions of the tools that build a target's runner, each the first line its
/// `--version` printed, or why it could not be had (never fails).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolchainVersions {
    /// `rustc -V`.
    pub rustc: String,
    /// `cargo -V`.
    pub cargo: String,
    /// `<linker> --version`: the descriptor's linker, `cc` for a native build without one.
    pub linker: String,
}

/// Asks rustc, cargo and the target's linker for their versions; see [`ToolchainVersions`].
pub fn toolchain_versions(target: &Target) -> ToolchainVersions {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let linker = target.linker.clone().unwrap_or_else(|| "cc".to_string());
    ToolchainVersions {
        rustc: first_line_of(&[std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_string()), "-V".to_string()]),
        cargo: first_line_of(&[cargo, "-V".to_string()]),
        linker: first_line_of(&[linker, "--version".to_string()]),
    }
}

fn first_line_of(argv: &[String]) -> String {
    match run_command(argv, None, VERSION_TIMEOUT) {
        Ok(out) if out.success() => out.stdout.lines().next().unwrap_or_default().trim().to_string(),
        Ok(out) => format!("unknown (`{}` failed: {})", argv.join(" "), out.stderr.lines().next().unwrap_or("")),
        Err(e) => format!("unknown ({e})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build() -> RunnerBuild {
        RunnerBuild {
            workspace: Some(PathBuf::from("/src/edgenas")),
            target_dir: Some(PathBuf::from("/cache/runner-target")),
            ..RunnerBuild::new(RunnerProfile::Small)
        }
    }

    #[test]
    fn cross_builds_name_the_triple_and_the_descriptor_linker() {
        let target = Target::builtin("armv7-linux").unwrap();
        let argv = build().argv(&target, Path::new("/src/edgenas")).join(" ");
        for part in [
            "env CARGO_TARGET_DIR=/cache/runner-target ",
            "CARGO_TARGET_ARMV7_UNKNOWN_LINUX_GNUEABIHF_LINKER=arm-linux-gnueabihf-gcc ",
            "build -p edgenas-runner --manifest-path /src/edgenas/Cargo.toml --profile runner-small",
            "--target armv7-unknown-linux-gnueabihf",
        ] {
            assert!(argv.contains(part), "{part} missing in {argv}");
        }
        assert!(!argv.contains("--features"), "{argv}");
        assert_eq!(
            build().artifact(&target),
            PathBuf::from("/cache/runner-target/armv7-unknown-linux-gnueabihf/runner-small/edgenas-runner")
        );
    }

    #[test]
    fn host_builds_are_native_and_features_are_listed() {
        let host = Target::host();
        let mut b = build();
        b.profile = RunnerProfile::Release;
        b.features = RunnerFeatures { onnx: true, nnef_onnx_ops: true };
        let argv = b.argv(&host, Path::new("/w")).join(" ");
        assert!(!argv.contains("--target") && !argv.contains("LINKER"), "{argv}");
        assert!(argv.ends_with("--profile release --features onnx,nnef-onnx-ops"), "{argv}");
        assert_eq!(b.artifact(&host), PathBuf::from("/cache/runner-target/release/edgenas-runner"));
    }

    #[test]
    fn mcu_targets_and_missing_sources_are_refused_before_cargo_runs() {
        let out = std::env::temp_dir();
        let mcu = Target::builtin("cortex-m4").unwrap();
        assert!(matches!(build_runner(&mcu, RunnerProfile::Release, &out), Err(BuildError::UnsupportedKind { .. })));
        let mut heard = 0;
        let err = build_runner_with(&Target::host(), &build(), &out, &mut |_| heard += 1).unwrap_err();
        assert!(matches!(err, BuildError::SourceMissing { .. }), "{err}");
        assert!(err.to_string().contains("/src/edgenas/runtime/runner/Cargo.toml"), "{err}");
        assert_eq!(heard, 0, "nothing started");
    }

    #[test]
    fn profiles_parse_from_their_cli_names() {
        assert_eq!("small".parse(), Ok(RunnerProfile::Small));
        assert_eq!("release".parse(), Ok(RunnerProfile::Release));
        assert!("debug".parse::<RunnerProfile>().is_err());
        assert_eq!(RunnerProfile::Small.cargo_profile(), "runner-small");
        assert_eq!(RunnerProfile::Small.to_string(), "small");
    }
}
