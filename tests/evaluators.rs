//! The accuracy evaluators on real candidates: the NB201 table, the training-free proxies,
//! and external training commands (shell scripts written into a temporary directory, run
//! by `/bin/sh` without any command-line parsing by a shell).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use edgenas_compiler::cost::CostReport;
use edgenas_compiler::ir::{Graph, Op};
use edgenas_compiler::rng::SeededRng;
use edgenas_compiler::space::nb201::Nb201Genome;
use edgenas_compiler::space::{Genome, SearchSpace};
use edgenas_compiler::{lower, onnx};
use edgenas_deploy::pipeline::{emit_genome, BatchNormInit};
use edgenas_runtime::stats::spearman;
use edgenas_runtime::{CompiledModel, RunOptions, TensorF32};
use edgenas_search::evaluate::{
    make_evaluator, naswot_probe, naswot_score, AccuracyEvaluator, CommandEvaluator, EvalContext, Nb201Dataset,
    Nb201TableEvaluator, ProxyEvaluator, ProxyKind, DEFAULT_NASWOT_BATCH, NASWOT_SINGULAR_SCORE,
};
use edgenas_targets::{run_command, ProcessError};
use tempfile::TempDir;

mod common;

/// NB201 architecture 6111 (3x3 convs on five edges): the project's reference network.
const ARCH_6111: i64 = 6111;
/// `|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|avg_pool_3x3~2|`, an
/// arbitrary second architecture.
const ARCH_OTHER: &str = "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|avg_pool_3x3~2|";
/// Every edge `none`: each cell outputs zeros.
const ARCH_ALL_NONE: &str = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|";

/// One candidate as the search hands it to an evaluator: emitted model and genome JSON
/// written into a work directory of its own.
struct Candidate {
    _dir: TempDir,
    genome: Genome,
    graph: Graph,
    onnx: Vec<u8>,
    onnx_path: PathBuf,
    arch_json_path: PathBuf,
    workdir: PathBuf,
}

impl Candidate {
    fn new(genome: Genome) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let workdir = dir.path().join("work dir");
        std::fs::create_dir(&workdir).unwrap();
        let emitted = emit_genome(&genome, 0, BatchNormInit::Seeded).unwrap();
        let onnx_path = workdir.join("model.onnx");
        let arch_json_path = workdir.join("genome.json");
        std::fs::write(&onnx_path, &emitted.onnx).unwrap();
        std::fs::write(&arch_json_path, genome.to_json()).unwrap();
        Candidate { _dir: dir, genome, graph: emitted.graph, onnx: emitted.onnx, onnx_path, arch_json_path, workdir }
    }

    fn nb201_index(index: i64) -> Self {
        Self::new(Genome::Nb201(Nb201Genome::from_index(index).unwrap()))
    }

    fn nb201_arch(arch: &str) -> Self {
        Self::new(Genome::Nb201(Nb201Genome::from_arch(&arch.parse().unwrap())))
    }

    fn ctx(&self) -> EvalContext<'_> {
        EvalContext {
            genome: &self.genome,
            graph: &self.graph,
            onnx: &self.onnx,
            onnx_path: &self.onnx_path,
            arch_json_path: &self.arch_json_path,
            workdir: &self.workdir,
        }
    }

    /// Writes `body` as a `/bin/sh` script into the work directory; returns its path.
    fn script(&self, body: &str) -> String {
        let path = self.workdir.join("train.sh");
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        path.to_str().unwrap().to_string()
    }

    /// A command evaluator running `script` with `args` through `/bin/sh`.
    fn command(&self, script: &str, args: &[&str], timeout: Duration) -> CommandEvaluator {
        let mut argv = vec!["/bin/sh".to_string(), script.to_string()];
        argv.extend(args.iter().map(|a| a.to_string()));
        CommandEvaluator { argv, timeout }
    }
}

#[test]
fn table_evaluator_reads_the_shipped_accuracy() {
    let c = Candidate::nb201_index(ARCH_6111);
    let got = Nb201TableEvaluator { dataset: Nb201Dataset::Cifar10 }.evaluate(&c.ctx()).unwrap();
    // compiler/data/nb201.csv, row 6111, column cifar10_acc.
    assert_eq!(got.accuracy, 94.37333333333333);
    assert_eq!(got.trained_onnx, None);
    let c100 = Nb201TableEvaluator { dataset: Nb201Dataset::Cifar100 }.evaluate(&c.ctx()).unwrap();
    // Same row, column cifar100_acc.
    assert_eq!(c100.accuracy, 73.21999999999998);
}

#[test]
fn table_evaluator_rejects_other_spaces_and_unknown_datasets() {
    let genome = SearchSpace::resolve("mbconv-mcu").unwrap().sample(&mut SeededRng::new(1));
    let c = Candidate::new(genome);
    let err = Nb201TableEvaluator { dataset: Nb201Dataset::Cifar10 }.evaluate(&c.ctx()).unwrap_err();
    assert!(err.to_string().contains("the nb201-table evaluator only scores NB201 genomes"), "{err}");
    let err = Nb201Dataset::parse("cifar-10").unwrap_err().to_string();
    assert!(err.contains("unknown NB201 dataset `cifar-10`") && err.contains("cifar10, cifar100, imagenet16"), "{err}");
    assert_eq!("imagenet16".parse::<Nb201Dataset>(), Ok(Nb201Dataset::Imagenet16));
}

#[test]
fn naswot_is_deterministic_and_tells_architectures_apart() {
    let a = Candidate::nb201_index(ARCH_6111);
    let b = Candidate::nb201_arch(ARCH_OTHER);
    let naswot = ProxyEvaluator::new(ProxyKind::Naswot);
    let first = naswot.evaluate(&a.ctx()).unwrap().accuracy;
    let again = naswot.evaluate(&a.ctx()).unwrap().accuracy;
    let other = naswot.evaluate(&b.ctx()).unwrap().accuracy;
    assert_eq!(first.to_bits(), again.to_bits());
    // The kernel has integer entries: a non-singular one has log-determinant >= 0.
    assert!(first.is_finite() && first > 0.0 && other > 0.0, "{first} {other}");
    assert_ne!(first, other);
    let reseeded = ProxyEvaluator { seed: 1, ..naswot }.evaluate(&a.ctx()).unwrap().accuracy;
    assert_ne!(first, reseeded);
}

/// NASWOT against a reference nobody here wrote: onnxruntime runs the same probe network
/// on the same inputs and numpy builds the kernel and its log-determinant
/// (tests/peer/naswot.py). The activation codes are signs of the ReLU outputs; both
/// engines compute them from f32 sums in different orders, so a pre-activation within
/// rounding of 0 may flip a bit, which moves two kernel entries by 1 out of ~10^4 and the
/// log-determinant by ~1e-4 per flip. 1e-2 absolute covers a few flips and is far below
/// the gap between architectures (tens of units, see the test above).
const NASWOT_VS_NUMPY: f64 = 1e-2;

#[test]
fn naswot_agrees_with_a_numpy_reference() {
    let dir = tempfile::tempdir().unwrap();
    for (name, arch) in [("6111", None), ("other", Some(ARCH_OTHER))] {
        let c = match arch {
            None => Candidate::nb201_index(ARCH_6111),
            Some(a) => Candidate::nb201_arch(a),
        };
        let probe = naswot_probe(&c.graph, DEFAULT_NASWOT_BATCH, 0).unwrap();
        let model = dir.path().join(format!("{name}.onnx"));
        let inputs = dir.path().join(format!("{name}.npy"));
        std::fs::write(&model, &probe.onnx).unwrap();
        edgenas_runtime::write_npy_f32(&inputs, &probe.input).unwrap();
        let main = probe.main_outputs.to_string();
        let out = common::run_peer("naswot.py", &[&model, &inputs, Path::new(&main)]);
        let reference: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
        let ours = naswot_score(&c.graph, DEFAULT_NASWOT_BATCH, 0).unwrap();
        let theirs = reference["score"].as_f64().unwrap();
        eprintln!("NB201 {name}: edgenas {ours}, numpy {theirs} ({} units)", reference["units"]);
        assert_eq!(reference["sign"].as_f64(), Some(1.0), "the kernel is positive definite");
        assert!((ours - theirs).abs() <= NASWOT_VS_NUMPY, "{ours} vs {theirs}");
    }
}

#[test]
fn naswot_of_a_network_blind_to_its_input_is_the_singular_score() {
    let c = Candidate::nb201_arch(ARCH_ALL_NONE);
    let score = ProxyEvaluator { batch: 8, ..ProxyEvaluator::new(ProxyKind::Naswot) }.evaluate(&c.ctx()).unwrap();
    assert_eq!(score.accuracy, NASWOT_SINGULAR_SCORE);
}

#[test]
fn counting_proxies_are_the_cost_report() {
    let c = Candidate::nb201_index(ARCH_6111);
    let cost = CostReport::analyze(&c.graph).unwrap();
    let params = ProxyEvaluator::new(ProxyKind::Params).evaluate(&c.ctx()).unwrap();
    let macs = ProxyEvaluator::new(ProxyKind::Macs).evaluate(&c.ctx()).unwrap();
    assert_eq!(params.accuracy, cost.params as f64);
    assert_eq!(macs.accuracy, cost.macs as f64);
    assert_eq!("macs".parse::<ProxyKind>(), Ok(ProxyKind::Macs));
    assert!(ProxyKind::parse("synflow").unwrap_err().to_string().contains("naswot, params, macs"));
}

#[test]
fn extra_outputs_expose_activations_after_the_main_output() {
    let graph = Nb201Genome::from_index(ARCH_6111).unwrap().build().unwrap();
    let deployed = lower::lower(&graph, 0).unwrap();
    let relus: Vec<_> = deployed
        .execution_order()
        .unwrap()
        .into_iter()
        .filter(|&n| matches!(deployed.node(n).op, Op::Activation(_)))
        .collect();
    let model = onnx::EmitOptions::default().emit_with_extra_outputs(&deployed, &relus).unwrap();
    let names: Vec<String> = model.graph.output.iter().map(|o| o.name.clone()).collect();
    assert_eq!(names.len(), 1 + relus.len());
    assert_eq!(names[0], "output");
    assert_eq!(names[1..], relus.iter().map(|&n| deployed.node(n).name.clone()).collect::<Vec<_>>());

    let plain = CompiledModel::from_onnx_bytes(
        &onnx::to_bytes(&onnx::emit(&deployed, &Default::default()).unwrap()).unwrap(),
        "plain",
        &RunOptions::default(),
    )
    .unwrap();
    let probe =
        CompiledModel::from_onnx_bytes(&onnx::to_bytes(&model).unwrap(), "probe", &RunOptions::default()).unwrap();
    let input = TensorF32::new(vec![1, 3, 32, 32], (0..3072).map(|i| (i % 17) as f32 / 8.0 - 1.0).collect()).unwrap();
    let (p, q) = (plain.run(&input).unwrap(), probe.run(&input).unwrap());
    assert_eq!(q.len(), 1 + relus.len());
    // Exposing activations must not change the logits (tract may fuse differently).
    assert!(p[0].data.iter().zip(&q[0].data).all(|(a, b)| (a - b).abs() <= 1e-4 * (1.0 + a.abs())));
    assert!(q[1..].iter().all(|t| t.shape[0] == 1 && t.data.iter().all(|&v| v >= 0.0)));

    let twice = [relus[0], relus[0]];
    let err = onnx::EmitOptions::default().emit_with_extra_outputs(&deployed, &twice).unwrap_err();
    assert!(err.to_string().contains("listed twice"), "{err}");
    let err = onnx::EmitOptions::default().emit_with_extra_outputs(&deployed, deployed.outputs()).unwrap_err();
    assert!(err.to_string().contains("already a graph output"), "{err}");
}

#[test]
fn spearman_on_hand_ranked_series() {
    // Any strictly increasing map of the same order: ranks equal, correlation 1 (or -1).
    assert_eq!(spearman(&[1.0, 2.0, 3.0, 4.0], &[10.0, 20.0, 25.0, 1e6]), 1.0);
    assert_eq!(spearman(&[1.0, 2.0, 3.0, 4.0], &[4.0, 3.0, 2.0, 1.0]), -1.0);
    // Ranks [1,2,3,4,5] vs [1,2,3.5,5,3.5] (the two 7s share ranks 3 and 4): deviations
    // [-2,-1,0,1,2] and [-2,-1,0.5,2,0.5], covariance sum 8, squares 10 and 9.5:
    // 8 / sqrt(95) = 0.8207826816681233.
    let r = spearman(&[1.0, 2.0, 3.0, 4.0, 5.0], &[5.0, 6.0, 7.0, 8.0, 7.0]);
    assert!((r - 0.8207826816681233).abs() < 1e-12, "{r}");
    // Ranks [1,2.5,2.5,4] (the two 2s share ranks 2 and 3) vs [4,3,2,1]: deviations
    // [-1.5,0,0,1.5] and [1.5,0.5,-0.5,-1.5]: -4.5 / sqrt(4.5 * 5) = -0.9486832980505138.
    let r = spearman(&[1.0, 2.0, 2.0, 3.0], &[4.0, 3.0, 2.0, 1.0]);
    assert!((r + 0.9486832980505138).abs() < 1e-12, "{r}");
    assert!(spearman(&[1.0, 1.0, 1.0], &[1.0, 2.0, 3.0]).is_nan());
    assert!(spearman(&[1.0], &[2.0]).is_nan());
}

#[test]
fn command_evaluator_substitutes_placeholders_and_reads_the_last_json_line() {
    let c = Candidate::nb201_index(ARCH_6111);
    let script = c.script(
        r#"for a in "$@"; do echo "$a" >> args.txt; done
echo "epoch 1 loss 2.3"
echo '{"accuracy": 12.5}'
echo "not json {"
: > trained.onnx
echo '{"accuracy": 91.25, "onnx": "trained.onnx", "loss": 0.3}'
echo
echo '   '
echo "done" >&2"#,
    );
    let eval =
        c.command(&script, &["{onnx}", "--arch={arch_json}", "{workdir}/out", "{unknown}"], Duration::from_secs(20));
    let got = eval.evaluate(&c.ctx()).unwrap();
    assert_eq!(got.accuracy, 91.25);
    assert_eq!(got.trained_onnx, Some(c.workdir.join("trained.onnx")));
    let args = std::fs::read_to_string(c.workdir.join("args.txt")).unwrap();
    let expected = format!(
        "{}\n--arch={}\n{}/out\n{{unknown}}\n",
        c.onnx_path.display(),
        c.arch_json_path.display(),
        c.workdir.display()
    );
    assert_eq!(args, expected);
    assert_eq!(eval.name(), "command:/bin/sh");
}

#[test]
fn command_evaluator_reports_a_failing_command_with_its_stderr_tail() {
    let c = Candidate::nb201_index(ARCH_6111);
    let script = c.script(r#"i=1; while [ $i -le 30 ]; do echo "stderr line $i" >&2; i=$((i+1)); done; exit 3"#);
    let err = c.command(&script, &[], Duration::from_secs(20)).evaluate(&c.ctx()).unwrap_err().to_string();
    assert!(err.contains("exited with status 3"), "{err}");
    assert!(err.contains("stderr line 30") && err.contains("stderr line 11"), "{err}");
    assert!(!err.contains("stderr line 10\n"), "only the last 20 lines: {err}");
}

#[test]
fn command_evaluator_kills_a_hanging_command() {
    let c = Candidate::nb201_index(ARCH_6111);
    let script = c.script("echo started >&2\nsleep 30\necho '{\"accuracy\": 1}'");
    let start = Instant::now();
    let err = c.command(&script, &[], Duration::from_secs(1)).evaluate(&c.ctx()).unwrap_err().to_string();
    assert!(err.contains("timed out after 1s") && err.contains("started"), "{err}");
    // The 1 s limit plus the kill and at most the 2 s output grace period.
    assert!(start.elapsed() < Duration::from_secs(8), "took {:?}", start.elapsed());
}

#[test]
fn command_evaluator_rejects_bad_result_lines() {
    let c = Candidate::nb201_index(ARCH_6111);
    let cases = [
        ("echo 'accuracy: 93'", "printed no JSON result line"),
        ("echo '{\"acc\": 93}'", "without \"accuracy\""),
        ("echo '{\"accuracy\": \"93\"}'", "\"accuracy\" is not a number"),
        ("echo '{\"accuracy\": 93, \"onnx\": \"missing.onnx\"}'", "does not exist"),
        ("echo '{\"accuracy\": 93, \"onnx\": 7}'", "\"onnx\" is not a path"),
    ];
    for (body, expected) in cases {
        let script = c.script(&format!("{body}\necho 'garbage' >&2"));
        let err = c.command(&script, &[], Duration::from_secs(20)).evaluate(&c.ctx()).unwrap_err().to_string();
        assert!(err.contains(expected) && err.contains("garbage"), "{body}: {err}");
    }
}

#[test]
fn make_evaluator_builds_what_the_config_names() {
    use edgenas_search::config::EvaluatorConfig;
    let table = make_evaluator(&EvaluatorConfig::Nb201Table { dataset: "cifar100".into() }).unwrap();
    assert_eq!(table.name(), "nb201-table:cifar100");
    let proxy = make_evaluator(&EvaluatorConfig::Proxy { proxy: "params".into() }).unwrap();
    assert_eq!(proxy.name(), "params");
    let command = make_evaluator(&EvaluatorConfig::Command { argv: vec!["train".into()], timeout_s: 2.5 }).unwrap();
    assert_eq!(command.name(), "command:train");
    let bad = |cfg| make_evaluator(&cfg).err().map(|e| format!("{e:#}")).unwrap_or_default();
    assert!(bad(EvaluatorConfig::Nb201Table { dataset: "mnist".into() }).contains("unknown NB201 dataset `mnist`"));
    assert!(bad(EvaluatorConfig::Proxy { proxy: "zen".into() }).contains("unknown proxy `zen`"));
    assert!(bad(EvaluatorConfig::Command { argv: vec![], timeout_s: 1.0 }).contains("must name a program"));
    assert!(bad(EvaluatorConfig::Command { argv: vec!["t".into()], timeout_s: f64::NAN }).contains("positive"));
}

#[test]
fn run_command_captures_chatty_output_without_deadlock() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("chatty.sh");
    // 20,000 lines of 60 bytes on each stream: 1.2 MB, far beyond a 64 KiB pipe buffer.
    std::fs::write(&script, "i=0; while [ $i -lt 20000 ]; do echo \"$i ..................................................\"; echo \"$i err ..............................................\" >&2; i=$((i+1)); done; pwd").unwrap();
    let argv = vec!["/bin/sh".to_string(), script.to_str().unwrap().to_string()];
    let out = run_command(&argv, Some(dir.path()), Duration::from_secs(60)).unwrap();
    assert!(out.success() && !out.timed_out, "{out:?}");
    assert_eq!(out.stdout.lines().count(), 20_001);
    assert_eq!(out.stderr.lines().count(), 20_000);
    let cwd = Path::new(out.stdout.lines().last().unwrap()).canonicalize().unwrap();
    assert_eq!(cwd, dir.path().canonicalize().unwrap());
}

#[test]
fn run_command_errors_name_the_problem() {
    assert!(matches!(run_command(&[], None, Duration::from_secs(1)), Err(ProcessError::EmptyArgv)));
    let missing = vec!["/nonexistent/edgenas-trainer".to_string()];
    let err = run_command(&missing, None, Duration::from_secs(1)).unwrap_err();
    assert!(err.to_string().contains("cannot start `/nonexistent/edgenas-trainer`"), "{err}");
    let out = run_command(&["false".to_string()], None, Duration::from_secs(5)).unwrap();
    assert_eq!(out.status, Some(1));
    assert!(!out.success());
}
