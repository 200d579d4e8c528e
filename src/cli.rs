//! Command-line surface. Each subcommand's arguments are one struct; see `commands/`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use edgenas_compiler::names::parse_name;
use edgenas_compiler::quantize::Precision;
use edgenas_search::evaluate::Nb201Dataset;
use edgenas_search::evaluate::DEFAULT_NASWOT_BATCH;
use edgenas_targets::RunnerProfile;

fn precision(s: &str) -> Result<Precision, String> {
    parse_name("precision", s).map_err(|e| e.to_string())
}

fn runner_profile(s: &str) -> Result<RunnerProfile, String> {
    parse_name("runner profile", s).map_err(|e| e.to_string())
}

fn dataset(s: &str) -> Result<Nb201Dataset, String> {
    Nb201Dataset::parse(s).map_err(|e| e.to_string())
}

/// Hardware-aware neural architecture search with the device's latency in the loop.
#[derive(Debug, Parser)]
#[command(name = "edgenas", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Search spaces: sample genomes.
    #[command(subcommand)]
    Space(SpaceCommand),
    /// Build an architecture and write it as an ONNX model with seeded weights.
    Export(ExportArgs),
    /// Cost analysis: MACs, params, weight bytes, peak activation memory, per-layer table.
    Info(InfoArgs),
    /// Run an ONNX model with tract on an f32 .npy input.
    Run(RunArgs),
    /// Measure latency on this host with tract (default: NB201 arch 6111).
    Bench(BenchArgs),
    /// Cost of each node of tract's optimized plan, mapped to the ONNX layers: wall clock on
    /// this host, instructions per node under a target's emulator.
    Profile(ProfileArgs),
    /// Time the per-candidate pipeline stages: build IR, lower + emit ONNX, load, optimize.
    BenchPipeline(BenchPipelineArgs),
    /// Multi-objective architecture search with the latency measured in the loop.
    Search(Box<SearchArgs>),
    /// Convert an ONNX model to fp16 or int8, with a fidelity report against the f32 model.
    Quantize(QuantizeArgs),
    /// Spearman correlation of the training-free proxies with NB201 accuracy.
    ProxyCorr(ProxyCorrArgs),
    /// Spearman correlation between latency sources (host wall clock, instructions on a
    /// cross target, NB201 table columns) over sampled NB201 architectures.
    LatencyCorr(LatencyCorrArgs),
    /// Search quality without a device: strategies on the NB201 table, a latency column
    /// playing the device.
    Nb201Bench(Nb201BenchArgs),
    /// Latency predictors: fit one for a target from a few measured architectures, or
    /// benchmark few-shot prediction on a latency table.
    #[command(subcommand)]
    Predictor(PredictorCommand),
    /// Target devices: list the built-in descriptors with their limits, or check which
    /// cross toolchains are installed.
    Targets(TargetsArgs),
    /// Deployable bundle for a target: the model as NNEF (or ONNX), the runner built for the
    /// target, manifest.json and run.sh; for a microcontroller, firmware sources (model.c,
    /// model.h, kernels), the QEMU board build and report.json.
    Compile(CompileArgs),
    /// Measure a device farm's jobs of one target (see `search --queue`), until stopped.
    Worker(WorkerArgs),
    /// The device farm: workers, queues, dead letters.
    #[command(subcommand)]
    Farm(FarmCommand),
}

#[derive(Debug, Subcommand)]
pub enum PredictorCommand {
    /// Few-shot benchmark: the table's column `lat_ms_D` is the unseen device, seen only
    /// through K sampled architectures; the other columns are prior knowledge.
    Eval(PredictorEvalArgs),
    /// Fit a latency predictor of a target from K candidates of earlier runs, spread over
    /// their MACs (measured on the target now unless a run measured them there), the other
    /// targets of those runs as priors; or from K rows of an NB201-table column.
    Fit(PredictorFitArgs),
}

#[derive(Debug, Args)]
pub struct PredictorEvalArgs {
    /// A table with columns `index,arch,cifar10_acc,cifar100_acc,imagenet16_acc,lat_ms_*`;
    /// default: the shipped NB201 table.
    #[arg(long, value_name = "PATH")]
    pub table: Option<PathBuf>,
    /// The unseen device (a `lat_ms_<device>` column), or `all` for each in turn.
    #[arg(long, default_value = "all")]
    pub device: String,
    /// Measured architectures of the unseen device; comma-separated for several.
    #[arg(long, default_value = "10", value_delimiter = ',')]
    pub samples: Vec<usize>,
    /// Seeds (0..seeds) per device and K.
    #[arg(long, default_value_t = 10)]
    pub seeds: u64,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct PredictorFitArgs {
    /// The latency source to predict: a target of the runs in --from, or
    /// `nb201-table:<device>` (its samples read from the shipped table).
    #[arg(long)]
    pub target: String,
    /// Measured architectures to fit from.
    #[arg(long, default_value_t = 10)]
    pub samples: usize,
    /// Search run directories (their journals) or latency cache files
    /// (`latency_cache.jsonl`) that hold the measurements.
    #[arg(long, value_name = "RUN_DIR|CACHE", num_args = 1..)]
    pub from: Vec<PathBuf>,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Per-candidate measurement cap, for candidates measured now.
    #[arg(long, default_value_t = 1000)]
    pub time_cap_ms: u64,
    /// Where to write the predictor; default: `predictor-<target>.json` in the latency
    /// cache directory (EDGENAS_CACHE_DIR, else ~/.cache/edgenas, as the runner builds).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum SpaceCommand {
    /// Print uniformly sampled genomes as JSON lines.
    Sample(SampleArgs),
    /// Print the genome of torchvision's MobileNetV2 at a width and resolution.
    MobilenetV2(MobilenetV2Args),
}

#[derive(Debug, Args)]
pub struct MobilenetV2Args {
    #[arg(long, default_value_t = 1.0)]
    pub width: f32,
    #[arg(long, default_value_t = 224)]
    pub resolution: usize,
    #[arg(long, default_value_t = 1000)]
    pub classes: usize,
}

#[derive(Debug, Args)]
pub struct SampleArgs {
    /// nb201, mbconv-phone, mbconv-mcu, or the path of a space TOML file.
    #[arg(long)]
    pub space: String,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[arg(long, default_value_t = 1)]
    pub count: usize,
}

/// Where an architecture comes from (at most one; commands choose their default).
#[derive(Debug, Args, Clone, Default)]
#[group(multiple = false)]
pub struct ArchSource {
    /// A genome JSON file (as printed by `space sample`).
    #[arg(long, value_name = "ARCH.json")]
    pub arch: Option<PathBuf>,
    /// An NB201 architecture by its index (0..=15624).
    #[arg(long, value_name = "I", allow_negative_numbers = true)]
    pub nb201_index: Option<i64>,
    /// An NB201 architecture by its arch string.
    #[arg(long, value_name = "STR")]
    pub nb201_arch: Option<String>,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub source: ArchSource,
    #[arg(long, value_name = "M.onnx")]
    pub out: PathBuf,
    /// Seed of the He-initialized weights.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Keep the seeded BatchNorm statistics instead of measuring them on a batch of
    /// standard-normal inputs (faster; activations then grow with depth).
    #[arg(long)]
    pub seeded_batchnorm: bool,
}

#[derive(Debug, Args)]
pub struct InfoArgs {
    /// An ONNX model (instead of an architecture source).
    #[arg(value_name = "M.onnx")]
    pub model: Option<PathBuf>,
    #[command(flatten)]
    pub source: ArchSource,
    /// A microcontroller target (built-in name or descriptor file): also build the
    /// firmware and print peak SRAM and flash against the target's limits.
    #[arg(long, value_name = "NAME|FILE")]
    pub target: Option<String>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[arg(value_name = "M.onnx")]
    pub model: PathBuf,
    #[arg(long, value_name = "IN.npy")]
    pub input: PathBuf,
    #[arg(long, value_name = "OUT.npy")]
    pub output: PathBuf,
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// An ONNX model; without it (and without an architecture source) NB201 arch 6111.
    #[arg(value_name = "M.onnx")]
    pub model: Option<PathBuf>,
    #[command(flatten)]
    pub source: ArchSource,
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Stop once (p90 - p10) / median is at most this.
    #[arg(long, default_value_t = 0.05)]
    pub spread: f64,
    /// Stop measuring after this many milliseconds.
    #[arg(long, default_value_t = 3000)]
    pub time_cap_ms: u64,
    /// Where to measure: `host` (tract in this process, wall clock), or a `linux-cross`
    /// target (built-in name or descriptor file): the model is shipped as `compile` ships it
    /// and run by the target's runner under its emulator (instructions) or through its
    /// remote commands (wall clock on the device).
    #[arg(long, default_value = "host")]
    pub target: String,
    /// Quantize the model to this precision first, as `search` does for its candidates
    /// (f16, f16-mixed, int8, int8-mixed; int8 in the target's fastest layout). Without it
    /// the model is measured as given.
    #[arg(long, value_parser = precision)]
    pub precision: Option<Precision>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ProfileArgs {
    /// An ONNX model; without it (and without an architecture source) NB201 arch 6111.
    #[arg(value_name = "M.onnx")]
    pub model: Option<PathBuf>,
    #[command(flatten)]
    pub source: ArchSource,
    /// `host` (tract in this process, wall clock per node) or a `linux-cross` target
    /// (instructions per node, counted under its emulator).
    #[arg(long, default_value = "host")]
    pub target: String,
    /// Quantize the model to this precision first, as `bench --precision` does.
    #[arg(long, value_parser = precision)]
    pub precision: Option<Precision>,
    /// Profiled runs (each a whole run and a node-by-node run); medians are reported.
    #[arg(long, default_value_t = 20)]
    pub runs: usize,
    /// Device-time budget used to size the emulator's timeout.
    #[arg(long, default_value_t = 3000)]
    pub time_cap_ms: u64,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct BenchPipelineArgs {
    #[command(flatten)]
    pub source: ArchSource,
    /// Repetitions; medians are reported.
    #[arg(long, default_value_t = 20)]
    pub repeat: usize,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct Nb201BenchArgs {
    /// A table with the columns of compiler/data/nb201.csv (default: the shipped one).
    #[arg(long, value_name = "PATH")]
    pub table: Option<PathBuf>,
    /// Device whose `lat_ms_<device>` column is the latency.
    #[arg(long, default_value = "pixel3")]
    pub device: String,
    /// Latency budget in ms; default: the median of the device column.
    #[arg(long)]
    pub latency_budget_ms: Option<f64>,
    /// Evaluations per search.
    #[arg(long, default_value_t = 100)]
    pub budget: usize,
    /// Comma-separated: random, evolution, nsga2, predictor.
    #[arg(long, default_value = "random,evolution,nsga2", value_delimiter = ',')]
    pub strategies: Vec<String>,
    /// Number of seeds (0..seeds) per strategy.
    #[arg(long, default_value_t = 10)]
    pub seeds: u64,
    /// Accuracy column: cifar10, cifar100 or imagenet16.
    #[arg(long, default_value = "cifar10")]
    pub dataset: String,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct SearchArgs {
    /// A search config TOML (see examples/); flags given too override its fields.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Continue the interrupted run in DIR with the config stored there.
    #[arg(long, value_name = "DIR", conflicts_with_all = [
        "config", "space", "evaluator", "strategy", "budget", "seed", "max_latency_ms", "max_params", "max_macs",
        "max_peak_activation_bytes", "target", "dataset", "proxy", "command", "command_timeout_s", "population",
        "time_cap_ms", "out", "precisions", "latency", "parallel",
    ])]
    pub resume: Option<PathBuf>,
    /// nb201, mbconv-phone, mbconv-mcu, or a space TOML path.
    #[arg(long)]
    pub space: Option<String>,
    /// nb201-table, proxy or command.
    #[arg(long)]
    pub evaluator: Option<String>,
    /// random, evolution, nsga2 or predictor.
    #[arg(long)]
    pub strategy: Option<String>,
    /// Evaluated candidates.
    #[arg(long)]
    pub budget: Option<usize>,
    #[arg(long)]
    pub seed: Option<u64>,
    #[arg(long)]
    pub max_latency_ms: Option<f64>,
    #[arg(long)]
    pub max_params: Option<u64>,
    #[arg(long)]
    pub max_macs: Option<u64>,
    #[arg(long)]
    pub max_peak_activation_bytes: Option<u64>,
    /// Latency source: host (wall clock, tract), nb201-table:<device> (published NB201
    /// latencies), or a cross target (`edgenas targets`: a built-in name or a descriptor
    /// file), measured by its runner under QEMU (instruction counts) or via its remote
    /// commands (wall clock on the device).
    #[arg(long)]
    pub target: Option<String>,
    /// NB201 accuracy column for the nb201-table evaluator: cifar10, cifar100, imagenet16.
    #[arg(long)]
    pub dataset: Option<String>,
    /// Proxy for the proxy evaluator: naswot, params or macs.
    #[arg(long)]
    pub proxy: Option<String>,
    /// Trainer command for the command evaluator, split on whitespace (use a config file
    /// for arguments with spaces); placeholders {onnx} {arch_json} {workdir}.
    #[arg(long)]
    pub command: Option<String>,
    #[arg(long)]
    pub command_timeout_s: Option<f64>,
    #[arg(long)]
    pub population: Option<usize>,
    /// Per-candidate latency measurement cap.
    #[arg(long)]
    pub time_cap_ms: Option<u64>,
    /// measure (every candidate) or predict-then-measure (a latency predictor refitted on
    /// every measurement skips candidates that cannot enter the front; front members are
    /// always measured).
    #[arg(long, value_name = "MODE")]
    pub latency: Option<String>,
    /// Deployment precisions to search over, e.g. f32,int8 (f32, f16, f16-mixed, int8,
    /// int8-mixed); each candidate is quantized and measured in its precision.
    #[arg(long, value_delimiter = ',')]
    pub precisions: Option<Vec<String>>,
    /// Run directory (default: runs/search-<unix time>).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Latency cache shared across runs (default: DIR/latency_cache.jsonl).
    #[arg(long, value_name = "FILE")]
    pub latency_cache: Option<PathBuf>,
    /// Candidates in flight at once, told in proposal order, so the run is the same
    /// whatever the timing (stored in the config; default 1, or --workers-min with
    /// --queue).
    #[arg(long, value_name = "N")]
    pub parallel: Option<usize>,
    /// Send every measurement to the device farm at this Redis URL
    /// (redis://[:password@]host:port[/db]); workers started with `edgenas worker
    /// --target T` measure them.
    #[arg(long, value_name = "URL")]
    pub queue: Option<String>,
    /// With --queue: live workers of the target to wait for before the first job.
    #[arg(long, value_name = "N", requires = "queue")]
    pub workers_min: Option<usize>,
    /// With --queue: a job whose worker neither answers nor heartbeats for this long goes
    /// to another worker (default 30).
    #[arg(long, value_name = "S", requires = "queue")]
    pub job_timeout_s: Option<f64>,
    /// With --queue: deliveries before a job is dead-lettered and its candidate journaled
    /// as failed (default 3).
    #[arg(long, value_name = "N", requires = "queue")]
    pub max_deliveries: Option<u32>,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// The farm's Redis URL (redis://[:password@]host:port[/db]).
    #[arg(long, value_name = "URL")]
    pub queue: String,
    /// The latency target this worker measures, named as searches name it (host, a
    /// built-in target or descriptor file, stand-in:<ms>:<target>).
    #[arg(long)]
    pub target: String,
    /// Consumer name, unique on the farm (default: host name and pid).
    #[arg(long)]
    pub name: Option<String>,
    /// Per-job measurement cap of this worker's device.
    #[arg(long, default_value_t = 2000)]
    pub time_cap_ms: u64,
    /// Seconds between heartbeats while measuring.
    #[arg(long, default_value_t = 2.0)]
    pub heartbeat_s: f64,
    /// Stop after answering N jobs.
    #[arg(long, value_name = "N")]
    pub max_jobs: Option<usize>,
}

#[derive(Debug, Subcommand)]
pub enum FarmCommand {
    /// Live workers, each target's queued, pending and dead-lettered jobs.
    Status(FarmStatusArgs),
    /// Benchmark on a Redis you run: candidates per minute against the number of workers
    /// (threads of this process measuring a stand-in device that takes a fixed time), and
    /// the farm's cost per job against the same run in one process.
    Bench(FarmBenchArgs),
}

#[derive(Debug, Args)]
pub struct FarmBenchArgs {
    #[arg(long, value_name = "URL")]
    pub queue: String,
    /// Worker counts to measure, in order; speedups are against the first.
    #[arg(long, value_delimiter = ',', default_value = "1,2,4")]
    pub workers: Vec<usize>,
    /// Wall time of one stand-in measurement.
    #[arg(long, default_value_t = 200)]
    pub stand_in_ms: u64,
    /// Candidates per throughput run.
    #[arg(long, default_value_t = 100)]
    pub budget: usize,
    /// Candidates per overhead run (a stand-in that takes no time), and repeats.
    #[arg(long, default_value_t = 100)]
    pub overhead_jobs: usize,
    #[arg(long, default_value_t = 3)]
    pub repeats: usize,
}

#[derive(Debug, Args)]
pub struct FarmStatusArgs {
    #[arg(long, value_name = "URL")]
    pub queue: String,
    /// Print the status as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct QuantizeArgs {
    #[arg(value_name = "M.onnx")]
    pub model: PathBuf,
    /// Target precision.
    #[arg(long, value_parser = ["fp16", "int8"])]
    pub to: String,
    /// Mixed precision: keep the first and the last weighted layer in f32.
    #[arg(long)]
    pub mixed: bool,
    /// int8 calibration inputs: a .npy f32 array [N, ...] of model inputs, or a raw
    /// little-endian f32 file with --calib-shape.
    #[arg(long, value_name = "FILE", conflicts_with = "calib_synthetic")]
    pub calib: Option<PathBuf>,
    /// Shape of a raw --calib file, e.g. 100,3,32,32.
    #[arg(long, value_name = "N,C,H,W", value_delimiter = ',', requires = "calib")]
    pub calib_shape: Option<Vec<usize>>,
    /// Calibrate on N standard-normal inputs (the default, with N = 100).
    #[arg(long, value_name = "N")]
    pub calib_synthetic: Option<usize>,
    /// Seed of the synthetic calibration inputs.
    #[arg(long, default_value_t = 0)]
    pub calib_seed: u64,
    /// Activation range method: minmax, percentile (99.99) or percentile:P.
    #[arg(long, default_value = "minmax")]
    pub method: String,
    /// int8 layout: qdq (onnxruntime's integer form), qoperator (QLinearConv, tract's
    /// integer kernels) or auto (the one measured fastest on --target).
    #[arg(long, default_value = "auto")]
    pub format: String,
    /// int8: 7-bit weights, for onnxruntime on x86 CPUs without VNNI (its uint8 x int8
    /// kernels saturate with full-range weights; tract's do not).
    #[arg(long)]
    pub reduce_range: bool,
    /// int8: quantize every activation, also between weighted layers and at the output, so
    /// that the model runs without float (what microcontrollers need; implied by an `mcu`
    /// --target). QDQ only.
    #[arg(long)]
    pub integer_only: bool,
    /// Target the model is meant for (chooses --format auto; an `mcu` target implies
    /// --integer-only).
    #[arg(long, default_value = "host", value_name = "T")]
    pub target: String,
    /// Fail (exit 1, no model written) when the held-out top-1 agreement with the f32 model
    /// is below P percent.
    #[arg(long, value_name = "P")]
    pub min_top1_agreement: Option<f64>,
    /// fp16 only: compute in f16 end to end, with f16 input and output tensors (default:
    /// f32 I/O behind Casts).
    #[arg(long)]
    pub f16_io: bool,
    #[arg(long, value_name = "Q.onnx")]
    pub out: PathBuf,
    /// Write the quantization and fidelity report as JSON.
    #[arg(long, value_name = "R.json")]
    pub report: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct TargetsArgs {
    /// Report which toolchain parts each target needs are installed and which are missing
    /// (a report: exits 0 either way).
    #[arg(long)]
    pub check: bool,
    /// Only this target: a built-in name or the path of a target TOML file.
    #[arg(long, value_name = "NAME|FILE")]
    pub target: Option<String>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct CompileArgs {
    /// The ONNX model to deploy (single input, concrete shape); for a microcontroller an
    /// integer-only int8 model (`quantize --to int8 --integer-only`). Instead of it, an
    /// architecture source: emitted with weight seed 0 (and quantized to integer-only int8
    /// on the way for a microcontroller).
    #[arg(value_name = "M.onnx")]
    pub model: Option<PathBuf>,
    #[command(flatten)]
    pub source: ArchSource,
    /// Target device: a built-in name or the path of a target TOML file.
    #[arg(long, value_name = "NAME|FILE")]
    pub target: String,
    /// The bundle directory to create (a firmware directory for a microcontroller).
    #[arg(long, value_name = "BUNDLE")]
    pub out: PathBuf,
    /// Runner build profile: `release`, or `small` (opt-level s, fat LTO, panic = abort).
    #[arg(long, default_value = "release", value_parser = runner_profile)]
    pub profile: RunnerProfile,
    /// Replace BUNDLE if it already exists.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct ProxyCorrArgs {
    /// Distinct NB201 architectures to score, drawn uniformly.
    #[arg(long, default_value_t = 500)]
    pub sample: usize,
    /// Seed of the sample (NASWOT weights and inputs always use seed 0).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Accuracy column: cifar10, cifar100 or imagenet16.
    #[arg(long, default_value = "cifar10", value_parser = dataset)]
    pub dataset: Nb201Dataset,
    /// NASWOT mini-batch size.
    #[arg(long, default_value_t = DEFAULT_NASWOT_BATCH)]
    pub batch: usize,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct LatencyCorrArgs {
    /// Distinct NB201 architectures, drawn uniformly.
    #[arg(long, default_value_t = 200)]
    pub sample: usize,
    /// Seed of the sample (weights always use seed 0, as `search` does).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Latency sources, as `search --target` spells them: `host`, a cross target
    /// (`aarch64-linux`, ...), `nb201-table:<device>`.
    #[arg(long, value_delimiter = ',', default_value = "host,aarch64-linux,nb201-table:pixel3")]
    pub sources: Vec<String>,
    /// Measurement time cap per architecture on the host, in milliseconds.
    #[arg(long, default_value_t = 1000)]
    pub time_cap_ms: u64,
    /// Output directory; a directory holding measurements from an earlier run is resumed.
    #[arg(long, default_value = "runs/latency-corr")]
    pub out: std::path::PathBuf,
    #[arg(long)]
    pub json: bool,
}
