//! `edgenas-runner`: the program an edgenas bundle ships to the device. It loads one model
//! (`.nnef.tgz`; `.int8`, an int8 program run on the project's int8 ops inside tract; or
//! `.onnx` when built with the `onnx` feature) with tract and runs, benchmarks or profiles
//! it.
//!
//! Contract (relied on by the device backends of `edgenas-targets`, see its `device.rs`):
//! - `edgenas-runner run MODEL --input IN.npy --output OUT.npy` writes the first output as
//!   an f32 `.npy`.
//! - `edgenas-runner bench MODEL [--input IN.npy] [--warmup W] [--repeat N] [--json]` runs W
//!   unmeasured and N measured single inferences (defaults 5 and 50) on `IN.npy` or on a
//!   fixed pseudo-random input; with `--json` the last stdout line is the `LatencyStats`
//!   JSON of the wall-clock samples in ms.
//! - `edgenas-runner profile MODEL [--input IN.npy] [--warmup W] [--repeat N] --json` runs W
//!   unmeasured inferences, then N pairs of a whole inference and a node-by-node one (see
//!   `edgenas_runtime::Runner::run_observed`); the last stdout line is the
//!   `edgenas_runtime::ModelProfile` JSON of the wall-clock times in ms. The whole inference
//!   is bracketed by the markers, and so is each node of the node-by-node one: per pair,
//!   one window for the whole model and then one window per plan node.
//! - Every inference of `run` and `bench` is bracketed by calls to [`edgenas_inference_begin`] and
//!   [`edgenas_inference_end`], so an emulator can count the instructions in between.
//! - Any failure (missing file, bad `.npy`, wrong input shape, unloadable model, bad
//!   arguments) prints `error: ...` on stderr and exits with status 1; a tract panic too.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use edgenas_runtime::{
    read_npy_f32, write_npy_f32, BenchConfig, CompiledModel, LatencyStats, LatencyUnit, ModelProfile, NodeObserver,
    RunOptions, Runner, RuntimeError,
};

const USAGE: &str = "usage:
  edgenas-runner run MODEL --input IN.npy --output OUT.npy
  edgenas-runner bench MODEL [--input IN.npy] [--warmup W] [--repeat N] [--json]
  edgenas-runner profile MODEL [--input IN.npy] [--warmup W] [--repeat N] [--json]
MODEL is a .nnef.tgz, an .int8 program (or .onnx, if this runner was built with the `onnx` feature).";

const DEFAULT_WARMUP: usize = 5;
const DEFAULT_REPEAT: usize = 50;
/// Most inferences (warm-up and measured) one `bench` runs: a million single inferences
/// take hours even for the smallest model, and the samples fit in memory.
const MAX_RUNS: usize = 1_000_000;

static mut MARKER: u32 = 0;

/// Called right before each inference. Exported and never inlined; the volatile write keeps
/// optimizers (LTO included) from removing it or merging it with [`edgenas_inference_end`].
#[no_mangle]
#[inline(never)]
pub extern "C" fn edgenas_inference_begin() {
    // SAFETY: a single-threaded volatile store to a private static; nothing reads it.
    unsafe { std::ptr::write_volatile(&raw mut MARKER, 1) }
}

/// Called right after each inference; see [`edgenas_inference_begin`].
#[no_mangle]
#[inline(never)]
pub extern "C" fn edgenas_inference_end() {
    // SAFETY: as in `edgenas_inference_begin`.
    unsafe { std::ptr::write_volatile(&raw mut MARKER, 2) }
}

#[derive(Debug, PartialEq)]
enum Command {
    Run { model: PathBuf, input: PathBuf, output: PathBuf },
    Bench { model: PathBuf, input: Option<PathBuf>, warmup: usize, repeat: usize, json: bool },
    Profile { model: PathBuf, input: Option<PathBuf>, warmup: usize, repeat: usize, json: bool },
    Help,
    Version,
}

fn main() -> ExitCode {
    std::panic::set_hook(Box::new(|info| {
        eprintln!("error: internal error (tract panicked): {info}");
        std::process::exit(1);
    }));
    let result = parse(std::env::args_os().skip(1)).and_then(execute);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn execute(command: Command) -> Result<(), String> {
    match command {
        Command::Help => println!("{USAGE}"),
        Command::Version => println!("edgenas-runner {}", env!("CARGO_PKG_VERSION")),
        Command::Run { model, input, output } => {
            let model = load(&model)?;
            let mut runner = runner(&model, Some(&input))?;
            edgenas_inference_begin();
            let outputs = runner.run();
            edgenas_inference_end();
            let outputs = outputs.map_err(describe)?;
            let first = outputs.first().ok_or("the model produced no output")?;
            write_npy_f32(&output, first).map_err(|e| format!("writing the output: {}", describe(e)))?;
            eprintln!("wrote {} with shape {:?}", output.display(), first.shape);
        }
        Command::Bench { model, input, warmup, repeat, json } => {
            let model = load(&model)?;
            let mut runner = runner(&model, input.as_deref())?;
            let stats = bench(&mut runner, warmup, repeat)?;
            if json {
                println!("{}", serde_json::to_string(&stats).map_err(|e| e.to_string())?);
            } else {
                println!(
                    "median {:.4} ms (p10 {:.4}, p90 {:.4}, min {:.4}) over {} runs after {} warm-up",
                    stats.median, stats.p10, stats.p90, stats.min, stats.n, stats.warmup
                );
            }
        }
        Command::Profile { model, input, warmup, repeat, json } => {
            let compiled = load(&model)?;
            let mut runner = runner(&compiled, input.as_deref())?;
            let profile = profile(&compiled, &mut runner, warmup, repeat)?;
            if json {
                println!("{}", serde_json::to_string(&profile).map_err(|e| e.to_string())?);
            } else {
                for node in &profile.nodes {
                    println!(
                        "{:>4} {:<40} {:<20} {:>12} MACs {:>10.4} ms",
                        node.node.step, node.node.name, node.node.op, node.node.macs, node.cost
                    );
                }
                println!(
                    "whole model: median {:.4} ms over {} runs; nodes sum to {:.4} ms",
                    profile.whole,
                    profile.runs,
                    profile.node_total()
                );
            }
        }
    }
    Ok(())
}

/// Marks each node of a node-by-node inference as an inference window, and times it.
struct MarkingObserver {
    started: Instant,
    samples: Vec<f64>,
}

impl NodeObserver for MarkingObserver {
    fn before(&mut self, _: usize) {
        self.started = Instant::now();
        edgenas_inference_begin();
    }

    fn after(&mut self, _: usize) {
        edgenas_inference_end();
        self.samples.push(self.started.elapsed().as_secs_f64() * 1e3);
    }
}

/// `warmup` unmarked inferences, then `repeat` pairs of a marked whole inference and a
/// node-by-node one with every node marked.
fn profile(model: &CompiledModel, runner: &mut Runner, warmup: usize, repeat: usize) -> Result<ModelProfile, String> {
    let nodes = model.plan_nodes().map_err(describe)?;
    for _ in 0..warmup {
        runner.run_once().map_err(describe)?;
    }
    let (mut whole, mut per_node) = (Vec::with_capacity(repeat), Vec::with_capacity(repeat));
    for _ in 0..repeat {
        let start = Instant::now();
        edgenas_inference_begin();
        let done = runner.run_once();
        edgenas_inference_end();
        whole.push(start.elapsed().as_secs_f64() * 1e3);
        done.map_err(describe)?;
        let mut marking = MarkingObserver { started: Instant::now(), samples: Vec::with_capacity(nodes.len()) };
        runner.run_observed(&mut marking).map_err(describe)?;
        per_node.push(marking.samples);
    }
    ModelProfile::from_samples(LatencyUnit::Ms, nodes, &whole, &per_node)
}

fn load(path: &Path) -> Result<CompiledModel, String> {
    let opts = RunOptions::default();
    let extension = path.extension().map(|e| e.to_ascii_lowercase());
    let model = match extension.as_ref().and_then(|e| e.to_str()) {
        Some("onnx") => load_onnx(path, &opts),
        Some("int8") => std::fs::read(path)
            .map_err(|source| RuntimeError::Io { path: path.to_path_buf(), source })
            .and_then(|bytes| CompiledModel::from_int8_bytes(&bytes, &path.display().to_string())),
        _ => CompiledModel::from_nnef_path(path, &opts),
    };
    model.map_err(describe)
}

#[cfg(feature = "onnx")]
fn load_onnx(path: &Path, opts: &RunOptions) -> Result<CompiledModel, RuntimeError> {
    CompiledModel::from_onnx_path(path, opts)
}

#[cfg(not(feature = "onnx"))]
fn load_onnx(path: &Path, _: &RunOptions) -> Result<CompiledModel, RuntimeError> {
    Err(RuntimeError::Load {
        path: path.display().to_string(),
        reason: "this runner was built without the `onnx` feature: it loads .nnef.tgz models only".to_string(),
    })
}

fn runner(model: &CompiledModel, input: Option<&Path>) -> Result<Runner, String> {
    let runner = match input {
        Some(path) => {
            let tensor = read_npy_f32(path).map_err(|e| format!("reading the input: {}", describe(e)))?;
            model.runner_with_input(&tensor)
        }
        None => model.runner(),
    };
    runner.map_err(describe)
}

/// `e` and its chain of sources, `: `-separated.
fn describe(e: RuntimeError) -> String {
    edgenas_runtime::error_chain(&e)
}

/// `warmup` unmeasured, then `repeat` measured inferences, each bracketed by the markers.
fn bench(runner: &mut Runner, warmup: usize, repeat: usize) -> Result<LatencyStats, String> {
    let mut samples = Vec::with_capacity(repeat);
    for ix in 0..warmup + repeat {
        let start = Instant::now();
        edgenas_inference_begin();
        let done = runner.run_once();
        edgenas_inference_end();
        let elapsed = start.elapsed();
        done.map_err(describe)?;
        if ix >= warmup {
            samples.push(elapsed.as_secs_f64() * 1e3);
        }
    }
    let spread_target = BenchConfig::default().spread_target;
    LatencyStats::from_samples(LatencyUnit::Ms, &samples, warmup, spread_target)
        .ok_or_else(|| "no valid latency sample".to_string())
}

fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Command, String> {
    let mut args = args.into_iter();
    let sub = match args.next() {
        None => return Err(format!("no subcommand\n{USAGE}")),
        Some(sub) => sub.into_string().map_err(|s| format!("unknown subcommand {s:?}\n{USAGE}"))?,
    };
    match sub.as_str() {
        "-h" | "--help" | "help" => return Ok(Command::Help),
        "-V" | "--version" => return Ok(Command::Version),
        "run" | "bench" | "profile" => {}
        other => return Err(format!("unknown subcommand `{other}`\n{USAGE}")),
    }
    let (mut model, mut input, mut output, mut warmup, mut repeat, mut json) = (None, None, None, None, None, false);
    while let Some(arg) = args.next() {
        let text = arg.to_string_lossy().into_owned();
        let (flag, inline) = match text.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => (flag.to_string(), Some(OsString::from(value))),
            _ => (text.clone(), None),
        };
        let mut value = |name: &str| {
            inline.clone().or_else(|| args.next()).ok_or_else(|| format!("`{name}` needs a value\n{USAGE}"))
        };
        match flag.as_str() {
            "-h" | "--help" => return Ok(Command::Help),
            "--input" => input = Some(PathBuf::from(value("--input")?)),
            "--output" if sub == "run" => output = Some(PathBuf::from(value("--output")?)),
            "--warmup" if sub != "run" => warmup = Some(count("--warmup", value("--warmup")?)?),
            "--repeat" if sub != "run" => repeat = Some(count("--repeat", value("--repeat")?)?),
            "--json" if sub != "run" && inline.is_none() => json = true,
            _ if text.starts_with('-') => return Err(format!("unexpected argument `{text}` for `{sub}`\n{USAGE}")),
            _ if model.is_none() => model = Some(PathBuf::from(arg)),
            _ => return Err(format!("unexpected extra argument `{text}`\n{USAGE}")),
        }
    }
    let model = model.ok_or_else(|| format!("`{sub}` needs a MODEL path\n{USAGE}"))?;
    if sub == "run" {
        let missing = |flag: &str| format!("`run` needs `{flag}`\n{USAGE}");
        return Ok(Command::Run {
            model,
            input: input.ok_or_else(|| missing("--input IN.npy"))?,
            output: output.ok_or_else(|| missing("--output OUT.npy"))?,
        });
    }
    let repeat = repeat.unwrap_or(DEFAULT_REPEAT);
    if repeat == 0 {
        return Err("`--repeat` must be at least 1".to_string());
    }
    let warmup = warmup.unwrap_or(DEFAULT_WARMUP);
    if warmup.checked_add(repeat).is_none_or(|runs| runs > MAX_RUNS) {
        return Err(format!("`--warmup` plus `--repeat` must be at most {MAX_RUNS} inferences"));
    }
    if sub == "profile" {
        return Ok(Command::Profile { model, input, warmup, repeat, json });
    }
    Ok(Command::Bench { model, input, warmup, repeat, json })
}

fn count(flag: &str, value: OsString) -> Result<usize, String> {
    let text = value.to_string_lossy();
    text.parse().map_err(|_| format!("`{flag}` takes a non-negative integer, got `{text}`"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(args: &[&str]) -> Result<Command, String> {
        parse(args.iter().map(OsString::from))
    }

    #[test]
    fn parses_the_contract() {
        assert_eq!(
            parse_str(&["run", "m.nnef.tgz", "--input", "in.npy", "--output=out.npy"]),
            Ok(Command::Run { model: "m.nnef.tgz".into(), input: "in.npy".into(), output: "out.npy".into() })
        );
        assert_eq!(
            parse_str(&["bench", "m.nnef.tgz", "--warmup", "2", "--repeat", "7", "--json"]),
            Ok(Command::Bench { model: "m.nnef.tgz".into(), input: None, warmup: 2, repeat: 7, json: true })
        );
        assert_eq!(
            parse_str(&["bench", "--input", "x.npy", "m"]),
            Ok(Command::Bench {
                model: "m".into(),
                input: Some("x.npy".into()),
                warmup: DEFAULT_WARMUP,
                repeat: DEFAULT_REPEAT,
                json: false
            })
        );
        assert_eq!(
            parse_str(&["profile", "m.nnef.tgz", "--repeat", "3", "--warmup=1", "--json"]),
            Ok(Command::Profile { model: "m.nnef.tgz".into(), input: None, warmup: 1, repeat: 3, json: true })
        );
        assert_eq!(parse_str(&["--help"]), Ok(Command::Help));
    }

    #[test]
    fn rejects_bad_arguments_with_a_reason() {
        for (args, needle) in [
            (&[][..], "no subcommand"),
            (&["frobnicate"], "unknown subcommand"),
            (&["run", "m"], "--input"),
            (&["run", "m", "--input", "i.npy"], "--output"),
            (&["run", "--input", "i.npy", "--output", "o.npy"], "MODEL"),
            (&["bench", "m", "--repeat", "0"], "at least 1"),
            (&["bench", "m", "--warmup", "-3"], "non-negative"),
            (&["bench", "m", "--output", "o.npy"], "unexpected argument"),
            (&["bench", "m", "n"], "extra argument"),
            (&["bench", "m", "--repeat"], "needs a value"),
            (&["bench", "m", "--repeat", "18446744073709551615", "--warmup", "1"], "at most 1000000"),
            (&["bench", "m", "--repeat", "1", "--warmup", "18446744073709551615"], "at most 1000000"),
        ] {
            let err = parse_str(args).unwrap_err();
            assert!(err.contains(needle), "{args:?}: {err}");
        }
    }
}
