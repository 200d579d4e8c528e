//! The `remote` backend: a real device reached through command templates (ssh, adb, or any
//! program of the same shape), measured by wall clock with the runner on the device.
//!
//! A template is an argv list, never a shell string: placeholders are substituted inside
//! each item and every item stays one argument of the local program. What the device does
//! with the arguments is its own business (ssh and `adb shell` join them with spaces for
//! the device's shell), which is why the remote paths this backend makes never need quoting.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use edgenas_runtime::{BenchConfig, LatencyStats, LatencyUnit, RuntimeError};
use serde::{Deserialize, Serialize};

use crate::process::error_chain;
use crate::process::timeout_from_secs;
use crate::{
    run_command, CommandOutcome, DeviceArtifact, DeviceBackend, MeasureError, ProcessError, Target, TargetError,
};

const DEFAULT_TIMEOUT_S: f64 = 60.0;
const DEFAULT_RETRIES: usize = 3;
const DEFAULT_BACKOFF_S: f64 = 2.0;
const DEFAULT_MAX_BACKOFF_S: f64 = 30.0;
/// The longest pause between two attempts a descriptor may ask for (1 hour).
const MAX_BACKOFF_S: f64 = 3600.0;
/// The longest runner stdout line quoted in a failure reason, in characters.
const QUOTE_MAX: usize = 300;
/// The longest stderr tail quoted in a failure reason, in characters.
const STDERR_TAIL_MAX: usize = 1000;
/// Remote file names in `workdir`. The model keeps its extension (`.onnx`, `.nnef.tgz`),
/// which tells the runner its format.
const RUNNER_NAME: &str = "edgenas-runner";
const MODEL_STEM: &str = "model";
const INPUT_NAME: &str = "input.npy";
const OUTPUT_NAME: &str = "output.npy";

/// Placeholders each template may use.
const PUSH_PLACEHOLDERS: [&str; 3] = ["local", "remote", "workdir"];
const RUN_PLACEHOLDERS: [&str; 5] = ["args", "runner", "model", "input", "workdir"];

/// How to reach a device: the `[remote]` table of a target descriptor.
///
/// Each template is an argv list (program first) whose items may contain placeholders:
/// - `push` copies one local file to the device: `{local}` (the local path), `{remote}` (the
///   path on the device). `ssh`: `["scp", "{local}", "pi@board:{remote}"]`; Android:
///   `["adb", "push", "{local}", "{remote}"]`. It must keep the executable bit of the runner
///   (`scp` and `adb push` do).
/// - `run` runs the runner on the device: `{args}` (an item of its own, exactly once)
///   expands to the runner's arguments as separate items; `{runner}`, `{model}`, `{input}`
///   are the remote paths. `ssh`: `["ssh", "pi@board", "{runner}", "{args}"]`; Android:
///   `["adb", "shell", "{runner}", "{args}"]`.
/// - `pull` (optional) copies one device file back: `{remote}` to `{local}`. Only
///   [`RemoteBackend::infer`] needs it.
///
/// Every template may also use `{workdir}`. Remote paths are `WORKDIR/edgenas-runner`,
/// `WORKDIR/model.EXT`, `WORKDIR/input.npy` and `WORKDIR/output.npy`; `workdir` must exist on
/// the device and is limited to letters, digits and `_ . / - + ~`, so no remote path needs
/// quoting. Text in braces that is not a placeholder name (`{` lowercase letters and `_`
/// `}`) is kept as is; an unknown placeholder name is an error.
///
/// Deserializing validates ([`RemoteCommands::validate`]), so a descriptor with a bad
/// template fails to load with the reason.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RemoteCommandsToml")]
pub struct RemoteCommands {
    /// Copies `{local}` to `{remote}` on the device.
    pub push: Vec<String>,
    /// Runs `{runner} {args}` on the device; its stdout is the runner's.
    pub run: Vec<String>,
    /// Copies `{remote}` on the device to `{local}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull: Option<Vec<String>>,
    /// Directory on the device that receives the pushed files.
    pub workdir: String,
    /// Time limit of each command, in seconds (default 60, at most 7 days). Past it the
    /// local program and its process group are killed.
    pub timeout_s: f64,
    /// Attempts after the first one for each command that fails, hangs or prints an
    /// unusable result (default 3).
    pub retries: usize,
    /// Pause before the first retry, in seconds (default 2); each further retry waits
    /// twice as long as the one before, up to `max_backoff_s`, so a retry outlasts a short
    /// network outage instead of failing with it.
    pub backoff_s: f64,
    /// Longest pause between two attempts, in seconds (default 30, at most 3600).
    pub max_backoff_s: f64,
}

/// The TOML form of [`RemoteCommands`], before validation.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RemoteCommandsToml {
    push: Vec<String>,
    run: Vec<String>,
    #[serde(default)]
    pull: Option<Vec<String>>,
    workdir: String,
    #[serde(default = "default_timeout_s")]
    timeout_s: f64,
    #[serde(default = "default_retries")]
    retries: usize,
    #[serde(default = "default_backoff_s")]
    backoff_s: f64,
    #[serde(default = "default_max_backoff_s")]
    max_backoff_s: f64,
}

fn default_timeout_s() -> f64 {
    DEFAULT_TIMEOUT_S
}

fn default_retries() -> usize {
    DEFAULT_RETRIES
}

fn default_backoff_s() -> f64 {
    DEFAULT_BACKOFF_S
}

fn default_max_backoff_s() -> f64 {
    DEFAULT_MAX_BACKOFF_S
}

impl TryFrom<RemoteCommandsToml> for RemoteCommands {
    type Error = String;

    fn try_from(t: RemoteCommandsToml) -> Result<Self, String> {
        let commands = RemoteCommands {
            push: t.push,
            run: t.run,
            pull: t.pull,
            workdir: t.workdir,
            timeout_s: t.timeout_s,
            retries: t.retries,
            backoff_s: t.backoff_s,
            max_backoff_s: t.max_backoff_s,
        };
        commands.validate()?;
        Ok(commands)
    }
}

impl RemoteCommands {
    /// Checks the templates and limits; the error names the field.
    ///
    /// Rules: every template starts with a non-empty program; `push` and `pull` use
    /// `{local}` and `{remote}`; `run` uses `{runner}` and has `{args}` as an item of its own
    /// exactly once; no template uses a placeholder it does not have; `workdir` is non-empty
    /// and shell-safe; `timeout_s` is a positive number of seconds, at most
    /// [`crate::MAX_TIMEOUT`]; `backoff_s` and `max_backoff_s` are in `[0, 3600]`, the
    /// first no larger than the second.
    pub fn validate(&self) -> Result<(), String> {
        check_template("push", &self.push, &PUSH_PLACEHOLDERS, &["local", "remote"])?;
        check_template("run", &self.run, &RUN_PLACEHOLDERS, &["runner", "args"])?;
        if let Some(pull) = &self.pull {
            check_template("pull", pull, &PUSH_PLACEHOLDERS, &["local", "remote"])?;
        }
        let args_items = self.run.iter().filter(|item| item.as_str() == "{args}").count();
        if args_items != 1 {
            return Err(format!(
                "`remote.run` must have \"{{args}}\" as an item of its own exactly once, found {args_items}"
            ));
        }
        if let Some(item) = self.run.iter().find(|item| item.as_str() != "{args}" && item.contains("{args}")) {
            return Err(format!("`remote.run`: \"{{args}}\" must be an item of its own, not part of \"{item}\""));
        }
        if self.workdir.is_empty() {
            return Err("`remote.workdir` is empty".into());
        }
        if let Some(c) = self.workdir.chars().find(|&c| !(c.is_ascii_alphanumeric() || "_./-+~".contains(c))) {
            return Err(format!(
                "`remote.workdir` {:?} contains {c:?}: use letters, digits and `_ . / - + ~` only, so remote paths need no quoting",
                self.workdir
            ));
        }
        timeout_from_secs("remote.timeout_s", self.timeout_s)?;
        for (field, value) in [("backoff_s", self.backoff_s), ("max_backoff_s", self.max_backoff_s)] {
            if !(0.0..=MAX_BACKOFF_S).contains(&value) {
                return Err(format!("`remote.{field}` must be between 0 and {MAX_BACKOFF_S} seconds, got {value}"));
            }
        }
        if self.backoff_s > self.max_backoff_s {
            return Err(format!(
                "`remote.backoff_s` ({}) is larger than `remote.max_backoff_s` ({})",
                self.backoff_s, self.max_backoff_s
            ));
        }
        Ok(())
    }

    /// The time limit of each command ([`RemoteCommands::validate`] checked it).
    pub fn timeout(&self) -> Duration {
        timeout_from_secs("remote.timeout_s", self.timeout_s).unwrap_or(Duration::from_secs_f64(DEFAULT_TIMEOUT_S))
    }

    /// The pause before attempt `attempt` (1-based) of a command: none before the first,
    /// then `backoff_s`, doubling per attempt, capped at `max_backoff_s`.
    pub fn pause_before(&self, attempt: usize) -> Duration {
        let retry = match attempt.checked_sub(2) {
            None => return Duration::ZERO,
            Some(retry) => retry,
        };
        let factor = 2f64.powi(i32::try_from(retry).unwrap_or(i32::MAX));
        Duration::from_secs_f64((self.backoff_s * factor).min(self.max_backoff_s))
    }

    /// The path `name` gets in `workdir` on the device.
    fn remote_path(&self, name: &str) -> String {
        format!("{}/{name}", self.workdir.trim_end_matches('/'))
    }
}

/// One piece of a template item: literal text or a `{name}` placeholder.
#[derive(Debug, PartialEq)]
enum Piece<'a> {
    Text(&'a str),
    Slot(&'a str),
}

/// Splits a template item into text and placeholders (`{` lowercase ASCII letters or `_` `}`).
fn pieces(item: &str) -> Vec<Piece<'_>> {
    let mut out = Vec::new();
    let (mut text_start, mut at) = (0, 0);
    while let Some(offset) = item[at..].find('{') {
        let open = at + offset;
        let name_end =
            item[open + 1..].find(|c: char| !(c.is_ascii_lowercase() || c == '_')).map_or(item.len(), |n| open + 1 + n);
        if name_end > open + 1 && item[name_end..].starts_with('}') {
            if open > text_start {
                out.push(Piece::Text(&item[text_start..open]));
            }
            out.push(Piece::Slot(&item[open + 1..name_end]));
            text_start = name_end + 1;
            at = text_start;
        } else {
            at = open + 1;
        }
    }
    if text_start < item.len() {
        out.push(Piece::Text(&item[text_start..]));
    }
    out
}

fn check_template(field: &str, template: &[String], allowed: &[&str], required: &[&str]) -> Result<(), String> {
    if template.first().is_none_or(|program| program.trim().is_empty()) {
        return Err(format!("`remote.{field}` must start with a program name"));
    }
    let used: Vec<&str> = template
        .iter()
        .flat_map(|item| pieces(item))
        .filter_map(|piece| match piece {
            Piece::Slot(name) => Some(name),
            Piece::Text(_) => None,
        })
        .collect();
    if let Some(unknown) = used.iter().find(|name| !allowed.contains(name)) {
        let allowed: Vec<String> = allowed.iter().map(|name| format!("{{{name}}}")).collect();
        return Err(format!("`remote.{field}`: unknown placeholder {{{unknown}}} (allowed: {})", allowed.join(" ")));
    }
    if let Some(missing) = required.iter().find(|name| !used.contains(name)) {
        return Err(format!("`remote.{field}` must use the placeholder {{{missing}}}"));
    }
    Ok(())
}

/// Substitutes `values` into every item of `template`; the item `{args}` becomes the items
/// of `args`. Substitution is one pass: a value containing braces is never expanded again.
/// Placeholders without a value (already rejected by validation) are kept as written.
fn expand(template: &[String], values: &[(&str, &str)], args: &[String]) -> Vec<String> {
    let mut argv = Vec::with_capacity(template.len() + args.len());
    for item in template {
        if item == "{args}" {
            argv.extend(args.iter().cloned());
            continue;
        }
        let mut expanded = String::with_capacity(item.len());
        for piece in pieces(item) {
            match piece {
                Piece::Text(text) => expanded.push_str(text),
                Piece::Slot(name) => match values.iter().find(|(key, _)| *key == name) {
                    Some((_, value)) => expanded.push_str(value),
                    None => {
                        expanded.push('{');
                        expanded.push_str(name);
                        expanded.push('}');
                    }
                },
            }
        }
        argv.push(expanded);
    }
    argv
}

/// A step of a remote measurement, as reported to the observer and named in failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::Display)]
pub enum RemoteStep {
    #[strum(to_string = "push runner")]
    PushRunner,
    #[strum(to_string = "push model")]
    PushModel,
    #[strum(to_string = "push input")]
    PushInput,
    /// `RUNNER bench ...`.
    #[strum(to_string = "bench")]
    Bench,
    /// `RUNNER run ...`.
    #[strum(to_string = "run")]
    Run,
    #[strum(to_string = "pull")]
    Pull,
}

/// What one attempt of one command did, passed to the observer after the attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptReport {
    pub step: RemoteStep,
    /// 1-based number of this attempt.
    pub attempt: usize,
    /// Attempts allowed for the step (`retries + 1`).
    pub attempts: usize,
    /// The pause taken before this attempt ([`RemoteCommands::pause_before`]).
    pub paused: Duration,
    /// The local argv that ran.
    pub argv: Vec<String>,
    /// `None` when the attempt succeeded, else why it did not.
    pub failure: Option<String>,
}

type Observer = Box<dyn Fn(&AttemptReport) + Send + Sync>;

/// Wall-clock latency on a device reached through the target's [`RemoteCommands`].
///
/// [`DeviceBackend::measure`] pushes the runner, the model and the input (if any) to the
/// device, once per call, then runs, per the runner contract (see [`crate::DeviceBackend`]),
/// `RUNNER bench MODEL [--input IN] --warmup W --repeat N --json` with
/// `W = config.warmup` and `N = config.min_runs`: the runner takes a fixed number of
/// samples, so the host's adaptive stopping (`max_runs`, `spread_target`, `time_cap`) is
/// not forwarded, and `config.threads` must be 1 (the contract has no thread option). The
/// last non-empty stdout line must be [`LatencyStats`] JSON with unit `ms`, `N` samples and
/// `W` warm-up runs; the result is in ms, as [`Target::unit`] says for a target with
/// `[remote]` commands.
///
/// Each command runs with the time limit of [`RemoteCommands::timeout_s`] and is attempted
/// up to `retries + 1` times, pausing between attempts as [`RemoteCommands::pause_before`]
/// says (exponential backoff with a cap). Errors:
/// - [`MeasureError::Unavailable`]: a command's program cannot be started (not installed),
///   or [`RemoteBackend::infer`] without a `pull` template. Not retried.
/// - [`MeasureError::Failed`]: a command failed (exit status, signal, timeout) or the
///   runner printed no usable statistics on every attempt; `reason` names the step and the
///   last attempt's problem with the stderr tail or the quoted stdout line. `attempts` 0
///   means nothing ran: a local file is missing or its path is not UTF-8, or the `run`
///   template uses `{input}` for an artifact without input.
/// - [`MeasureError::Runtime`]: `config` cannot be expressed to the runner.
///
/// The device's `workdir` holds one artifact at a time: measure one artifact per device at
/// a time.
pub struct RemoteBackend {
    target: Box<Target>,
    commands: RemoteCommands,
    observer: Option<Observer>,
}

impl fmt::Debug for RemoteBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteBackend")
            .field("target", &self.target.name)
            .field("commands", &self.commands)
            .field("observer", &self.observer.is_some())
            .finish()
    }
}

impl RemoteBackend {
    /// The backend of `target`, which must have valid `remote` commands
    /// ([`TargetError::Invalid`] otherwise, naming the target).
    pub fn new(target: Target) -> Result<Self, TargetError> {
        let invalid = |reason: String| TargetError::Invalid { origin: format!("`{}`", target.name), reason };
        let commands = target.remote.clone().ok_or_else(|| {
            invalid("has no `remote` commands (a [remote] table with push, run and workdir)".to_string())
        })?;
        commands.validate().map_err(invalid)?;
        Ok(RemoteBackend { target: Box::new(target), commands, observer: None })
    }

    /// Calls `observer` after every attempt of every command (for progress logs; the
    /// library itself prints nothing).
    pub fn with_observer(mut self, observer: impl Fn(&AttemptReport) + Send + Sync + 'static) -> Self {
        self.observer = Some(Box::new(observer));
        self
    }

    /// The commands in use.
    pub fn commands(&self) -> &RemoteCommands {
        &self.commands
    }

    /// Runs `RUNNER run MODEL --input IN --output OUT` on the device (runner contract) and
    /// pulls `OUT` to the local file `output`. Pushes as [`DeviceBackend::measure`] does;
    /// errors as there, and [`MeasureError::Unavailable`] without a `pull` template.
    pub fn infer(&self, runner: &Path, model: &Path, input: &Path, output: &Path) -> Result<(), MeasureError> {
        let pull = self.commands.pull.as_ref().ok_or_else(|| MeasureError::Unavailable {
            target: self.target.name.clone(),
            reason: "no `remote.pull` command: cannot fetch outputs from the device".to_string(),
        })?;
        let output_local = self.local(output)?.to_string();
        let artifact = DeviceArtifact { runner: runner.into(), model: model.into(), input: Some(input.into()) };
        let remote = self.push_artifact(&artifact)?;
        let output_remote = self.commands.remote_path(OUTPUT_NAME);
        let input_remote = remote.input.clone().unwrap_or_default();
        let args = strings(["run", &remote.model, "--input", &input_remote, "--output", &output_remote]);
        let argv = self.run_argv(&remote, &args)?;
        self.attempt(RemoteStep::Run, &argv, |outcome| check_success(&argv[0], outcome, self.commands.timeout()))?;
        let argv = expand(
            pull,
            &[("local", &output_local), ("remote", &output_remote), ("workdir", &self.commands.workdir)],
            &[],
        );
        self.attempt(RemoteStep::Pull, &argv, |outcome| check_success(&argv[0], outcome, self.commands.timeout()))
    }

    fn push_artifact(&self, artifact: &DeviceArtifact) -> Result<RemoteArtifact, MeasureError> {
        let locals =
            [("runner", Some(&artifact.runner)), ("model", Some(&artifact.model)), ("input", artifact.input.as_ref())];
        for (role, path) in locals.into_iter().filter_map(|(role, path)| Some((role, path?))) {
            if !path.is_file() {
                return Err(self.precondition(format!("the {role} {} is not a file", path.display())));
            }
            self.local(path)?;
        }
        if artifact.input.is_none() && self.commands.run.iter().any(|item| item.contains("{input}")) {
            return Err(self.precondition("`remote.run` uses {input} but the artifact has no input".to_string()));
        }
        let runner = self.push(RemoteStep::PushRunner, &artifact.runner, RUNNER_NAME)?;
        let model = self.push(
            RemoteStep::PushModel,
            &artifact.model,
            &format!("{MODEL_STEM}{}", model_suffix(&artifact.model)),
        )?;
        let input = match &artifact.input {
            Some(path) => Some(self.push(RemoteStep::PushInput, path, INPUT_NAME)?),
            None => None,
        };
        Ok(RemoteArtifact { runner, model, input })
    }

    /// Pushes `local` to `workdir/name`; returns the remote path.
    fn push(&self, step: RemoteStep, local: &Path, name: &str) -> Result<String, MeasureError> {
        let remote = self.commands.remote_path(name);
        let local = self.local(local)?;
        let argv = expand(
            &self.commands.push,
            &[("local", local), ("remote", &remote), ("workdir", &self.commands.workdir)],
            &[],
        );
        self.attempt(step, &argv, |outcome| check_success(&argv[0], outcome, self.commands.timeout()))?;
        Ok(remote)
    }

    /// The `run` command for `args`. The target's `guest_env` is set for the runner on the
    /// device, as the bundle's `run.sh` sets it: the item `{runner}` becomes `env K=V ...
    /// RUNNER` (the device's `env`, which Linux and Android have).
    fn run_argv(&self, remote: &RemoteArtifact, args: &[String]) -> Result<Vec<String>, MeasureError> {
        let values = [
            ("runner", remote.runner.as_str()),
            ("model", remote.model.as_str()),
            ("input", remote.input.as_deref().unwrap_or_default()),
            ("workdir", self.commands.workdir.as_str()),
        ];
        let mut template = Vec::with_capacity(self.commands.run.len() + self.target.guest_env.len() + 1);
        for item in &self.commands.run {
            if item == "{runner}" && !self.target.guest_env.is_empty() {
                template.push("env".to_string());
                for (key, value) in &self.target.guest_env {
                    let safe = |s: &str, extra: &str| {
                        !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || extra.contains(c))
                    };
                    if !safe(key, "") || !safe(value, ".,:/+-=") {
                        return Err(self.precondition(format!(
                            "guest_env `{key}={value}` cannot be passed through a remote shell: use letters, digits \
                             and `_ . , : / + - =` only"
                        )));
                    }
                    template.push(format!("{key}={value}"));
                }
            }
            template.push(item.clone());
        }
        Ok(expand(&template, &values, args))
    }

    /// Runs `argv` up to `retries + 1` times until `check` accepts an outcome.
    fn attempt<T>(
        &self,
        step: RemoteStep,
        argv: &[String],
        check: impl Fn(&CommandOutcome) -> Result<T, String>,
    ) -> Result<T, MeasureError> {
        let attempts = self.commands.retries.saturating_add(1);
        let mut last = String::new();
        for attempt in 1..=attempts {
            let paused = self.commands.pause_before(attempt);
            std::thread::sleep(paused);
            let report = |failure: Option<String>| {
                self.report(&AttemptReport { step, attempt, attempts, paused, argv: argv.to_vec(), failure })
            };
            let result = match run_command(argv, None, self.commands.timeout()) {
                Ok(outcome) => check(&outcome),
                Err(ProcessError::Spawn { program, source }) => {
                    let reason = format!("{step}: cannot start `{program}`: {source}");
                    report(Some(reason.clone()));
                    return Err(MeasureError::Unavailable { target: self.target.name.clone(), reason });
                }
                Err(e) => Err(error_chain(&e)),
            };
            report(result.as_ref().err().cloned());
            match result {
                Ok(value) => return Ok(value),
                Err(reason) => last = reason,
            }
        }
        Err(MeasureError::Failed { target: self.target.name.clone(), attempts, reason: format!("{step}: {last}") })
    }

    fn report(&self, report: &AttemptReport) {
        if let Some(observer) = &self.observer {
            observer(report);
        }
    }

    fn local<'p>(&self, path: &'p Path) -> Result<&'p str, MeasureError> {
        path.to_str().ok_or_else(|| self.precondition(format!("the local path {} is not UTF-8", path.display())))
    }

    /// A failure before any command ran.
    fn precondition(&self, reason: String) -> MeasureError {
        MeasureError::Failed { target: self.target.name.clone(), attempts: 0, reason }
    }

    fn runtime(&self, source: RuntimeError) -> MeasureError {
        MeasureError::Runtime { target: self.target.name.clone(), source }
    }
}

impl DeviceBackend for RemoteBackend {
    fn target(&self) -> &Target {
        &self.target
    }

    fn measure(&self, artifact: &DeviceArtifact, config: &BenchConfig) -> Result<LatencyStats, MeasureError> {
        if config.min_runs == 0 {
            return Err(self.runtime(RuntimeError::BenchConfig("min_runs must be at least 1".to_string())));
        }
        if config.threads != 1 {
            return Err(self.runtime(RuntimeError::Threads(format!(
                "{} threads requested, but the device runner measures single-threaded (the runner contract has no thread option)",
                config.threads
            ))));
        }
        let remote = self.push_artifact(artifact)?;
        let mut args = strings(["bench", &remote.model]);
        if let Some(input) = &remote.input {
            args.extend(strings(["--input", input]));
        }
        let (warmup, repeat) = (config.warmup.to_string(), config.min_runs.to_string());
        args.extend(strings(["--warmup", &warmup, "--repeat", &repeat, "--json"]));
        let argv = self.run_argv(&remote, &args)?;
        self.attempt(RemoteStep::Bench, &argv, |outcome| {
            check_success(&argv[0], outcome, self.commands.timeout())?;
            parse_stats(&outcome.stdout, config.warmup, config.min_runs)
        })
    }
}

/// Remote paths of a pushed artifact.
struct RemoteArtifact {
    runner: String,
    model: String,
    input: Option<String>,
}

fn strings<const N: usize>(items: [&str; N]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// `.nnef.EXT` for NNEF archives, else the last extension if it is alphanumeric, else
/// nothing.
fn model_suffix(path: &Path) -> String {
    let clean = |ext: &str| !ext.is_empty() && ext.chars().all(|c| c.is_ascii_alphanumeric());
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    match name.split('.').collect::<Vec<_>>().as_slice() {
        [_, .., "nnef", last] if clean(last) => format!(".nnef.{last}"),
        [_, .., last] if clean(last) => format!(".{last}"),
        _ => String::new(),
    }
}

/// `Ok` when the program exited with status 0, else what went wrong with the stderr tail.
fn check_success(program: &str, outcome: &CommandOutcome, timeout: Duration) -> Result<(), String> {
    if outcome.success() {
        return Ok(());
    }
    let what = if outcome.timed_out {
        format!("`{program}` timed out after {} s and was killed", timeout.as_secs_f64())
    } else {
        match outcome.status {
            Some(code) => format!("`{program}` exited with status {code}"),
            None => format!("`{program}` was killed by a signal"),
        }
    };
    Err(match stderr_tail(&outcome.stderr) {
        Some(tail) => format!("{what}; stderr: {tail}"),
        None => format!("{what} (no stderr)"),
    })
}

/// The runner's statistics from its last non-empty stdout line, checked against the
/// contract (unit ms, `repeat` samples, `warmup` warm-up runs).
fn parse_stats(stdout: &str, warmup: usize, repeat: usize) -> Result<LatencyStats, String> {
    let line = stdout
        .lines()
        .map(str::trim)
        .rfind(|line| !line.is_empty())
        .ok_or("the runner printed nothing on stdout (expected LatencyStats JSON as its last line)")?;
    let stats: LatencyStats = serde_json::from_str(line)
        .map_err(|e| format!("the runner's last stdout line is not LatencyStats JSON ({e}): {}", quote(line)))?;
    if stats.unit != LatencyUnit::Ms {
        return Err(format!("the runner reported unit `instructions`, expected `ms`: {}", quote(line)));
    }
    if stats.n != repeat || stats.warmup != warmup {
        return Err(format!(
            "the runner reported {} samples after {} warm-up runs, asked for {repeat} after {warmup}: {}",
            stats.n,
            stats.warmup,
            quote(line)
        ));
    }
    Ok(stats)
}

/// `line` in backquotes, clipped to [`QUOTE_MAX`] characters.
fn quote(line: &str) -> String {
    match line.char_indices().nth(QUOTE_MAX) {
        Some((end, _)) => format!("`{}…`", &line[..end]),
        None => format!("`{line}`"),
    }
}

/// The last [`STDERR_TAIL_MAX`] characters of `stderr`, trimmed; `None` when empty.
fn stderr_tail(stderr: &str) -> Option<String> {
    let trimmed = stderr.trim();
    if trimmed.is_empty() {
        return None;
    }
    let chars = trimmed.chars().count();
    Some(match trimmed.char_indices().nth(chars.saturating_sub(STDERR_TAIL_MAX)) {
        Some((start, _)) if start > 0 => format!("…{}", &trimmed[start..]),
        _ => trimmed.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ssh() -> RemoteCommands {
        RemoteCommands {
            push: strings(["scp", "{local}", "pi@board:{remote}"]),
            run: strings(["ssh", "pi@board", "{runner}", "{args}"]),
            pull: Some(strings(["scp", "pi@board:{remote}", "{local}"])),
            workdir: "/tmp/edgenas/".into(),
            timeout_s: 1.0,
            retries: 1,
            backoff_s: 0.5,
            max_backoff_s: 2.0,
        }
    }

    #[test]
    fn pieces_split_placeholders_and_keep_other_braces() {
        assert_eq!(
            pieces("a{local}:{remote}}{X}{}{"),
            [Piece::Text("a"), Piece::Slot("local"), Piece::Text(":"), Piece::Slot("remote"), Piece::Text("}{X}{}{"),]
        );
    }

    #[test]
    fn expansion_keeps_each_item_one_argument() {
        let c = ssh();
        let argv = expand(&c.push, &[("local", "/my dir/a b.onnx"), ("remote", &c.remote_path("model.onnx"))], &[]);
        assert_eq!(argv, ["scp", "/my dir/a b.onnx", "pi@board:/tmp/edgenas/model.onnx"]);
        let args = strings(["bench", "m x", "--json"]);
        let argv = expand(&c.run, &[("runner", "/r {model}"), ("model", "M")], &args);
        assert_eq!(argv, ["ssh", "pi@board", "/r {model}", "bench", "m x", "--json"]);
    }

    #[test]
    fn validation_names_the_field_and_the_placeholder() {
        assert_eq!(ssh().validate(), Ok(()));
        let bad = [
            (RemoteCommands { push: vec![], ..ssh() }, "`remote.push` must start"),
            (RemoteCommands { push: strings(["scp", "{local}", "b:{remot}"]), ..ssh() }, "{remot}"),
            (RemoteCommands { push: strings(["scp", "{local}"]), ..ssh() }, "{remote}"),
            (RemoteCommands { run: strings(["ssh", "b", "{runner}"]), ..ssh() }, "{args}"),
            (RemoteCommands { run: strings(["ssh", "b", "{runner} {args}"]), ..ssh() }, "found 0"),
            (RemoteCommands { run: strings(["ssh", "{runner}", "{args}", "x{args}"]), ..ssh() }, "not part of"),
            (RemoteCommands { run: strings(["ssh", "b", "{args}"]), ..ssh() }, "{runner}"),
            (RemoteCommands { pull: Some(strings(["scp", "{remote}", "{args}"])), ..ssh() }, "`remote.pull`"),
            (RemoteCommands { workdir: String::new(), ..ssh() }, "`remote.workdir` is empty"),
            (RemoteCommands { workdir: "/tmp/a b".into(), ..ssh() }, "`remote.workdir`"),
            (RemoteCommands { workdir: "/tmp/$(x)".into(), ..ssh() }, "`remote.workdir`"),
            (RemoteCommands { timeout_s: 0.0, ..ssh() }, "`remote.timeout_s`"),
            (RemoteCommands { timeout_s: f64::INFINITY, ..ssh() }, "`remote.timeout_s`"),
            (RemoteCommands { timeout_s: 1e19, ..ssh() }, "at most 604800"),
            (RemoteCommands { backoff_s: -1.0, ..ssh() }, "`remote.backoff_s`"),
            (RemoteCommands { max_backoff_s: 1e9, ..ssh() }, "`remote.max_backoff_s`"),
            (RemoteCommands { backoff_s: 3.0, ..ssh() }, "larger than `remote.max_backoff_s`"),
        ];
        for (commands, needle) in bad {
            let e = commands.validate().unwrap_err();
            assert!(e.contains(needle), "{needle}: {e}");
        }
    }

    #[test]
    fn descriptor_tables_parse_with_defaults_and_validate() {
        let base = "name = \"pi\"\nkind = \"host\"\nunit = \"ms\"\n[remote]\nworkdir = \"/tmp/e\"\n";
        let ok = format!("{base}push = [\"adb\", \"push\", \"{{local}}\", \"{{remote}}\"]\nrun = [\"adb\", \"shell\", \"{{runner}}\", \"{{args}}\"]\n");
        let target = Target::from_toml(&ok, "pi.toml").unwrap();
        let remote = target.remote.unwrap();
        assert_eq!((remote.timeout_s, remote.retries, remote.pull), (DEFAULT_TIMEOUT_S, DEFAULT_RETRIES, None));
        assert_eq!((remote.backoff_s, remote.max_backoff_s), (DEFAULT_BACKOFF_S, DEFAULT_MAX_BACKOFF_S));
        let t = Target::from_toml(&format!("{ok}timeout_s = 2\nretries = 0\n"), "pi.toml").unwrap();
        assert_eq!(t.remote.map(|r| (r.timeout_s, r.retries)), Some((2.0, 0)));

        let e = Target::from_toml(&format!("{ok}colour = 1\n"), "pi.toml").unwrap_err().to_string();
        assert!(e.contains("pi.toml") && e.contains("colour"), "{e}");
        let e = Target::from_toml(&ok.replace("{args}", "{arg}"), "pi.toml").unwrap_err().to_string();
        assert!(e.contains("pi.toml") && e.contains("{arg}"), "{e}");
        assert!(Target::host().remote.is_none());
    }

    #[test]
    fn backend_needs_remote_commands() {
        let e = RemoteBackend::new(Target::host()).unwrap_err().to_string();
        assert!(e.contains("`host`") && e.contains("remote"), "{e}");
        let mut target = Target::host();
        target.remote = Some(RemoteCommands { workdir: "a b".into(), ..ssh() });
        assert!(RemoteBackend::new(target).unwrap_err().to_string().contains("workdir"));
    }

    #[test]
    fn pauses_double_up_to_the_cap() {
        let c = ssh();
        let pauses: Vec<f64> = (1..=5).map(|a| c.pause_before(a).as_secs_f64()).collect();
        assert_eq!(pauses, [0.0, 0.5, 1.0, 2.0, 2.0]);
        assert_eq!(RemoteCommands { backoff_s: 0.0, ..ssh() }.pause_before(4), Duration::ZERO);
        assert_eq!(c.pause_before(usize::MAX), Duration::from_secs(2));
    }

    #[test]
    fn model_suffixes_keep_the_format() {
        for (name, suffix) in [
            ("/a/m.onnx", ".onnx"),
            ("/a/net-f16.nnef.tgz", ".nnef.tgz"),
            ("nnef.tgz", ".tgz"),
            ("/a/m", ""),
            ("/a/m.on nx", ""),
            ("/a/.onnx", ".onnx"),
        ] {
            assert_eq!(model_suffix(Path::new(name)), suffix, "{name}");
        }
    }

    #[test]
    fn stats_lines_are_checked_against_the_contract() {
        let stats = LatencyStats::from_samples(LatencyUnit::Ms, &[1.0, 2.0, 3.0], 2, 0.05).unwrap();
        let json = serde_json::to_string(&stats).unwrap();
        assert_eq!(parse_stats(&format!("loading\n{json}\n\n"), 2, 3), Ok(stats.clone()));
        assert!(parse_stats("", 2, 3).unwrap_err().contains("nothing"));
        let e = parse_stats(&format!("{json}\nhello world\n"), 2, 3).unwrap_err();
        assert!(e.contains("`hello world`"), "{e}");
        let e = parse_stats(&json.replace("\"ms\"", "\"instructions\""), 2, 3).unwrap_err();
        assert!(e.contains("expected `ms`"), "{e}");
        let e = parse_stats(&json, 2, 4).unwrap_err();
        assert!(e.contains("asked for 4"), "{e}");
        let long = "x".repeat(2 * QUOTE_MAX);
        assert!(parse_stats(&long, 2, 3).unwrap_err().contains('…'));
    }
}
