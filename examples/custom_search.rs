//! A latency-in-the-loop search driven through the library, with an accuracy evaluator
//! and a latency source written here: the evaluator rewards parameters (a stand-in for
//! your trainer), the latency source counts MACs at a made-up throughput (a stand-in for
//! your device). The search, its journal, its Pareto report and its resume are the
//! library's, exactly as `edgenas search` runs them.
//!
//! Run: `cargo run --example custom_search -- [OUT_DIR]` (default: runs/custom-search).

use std::path::PathBuf;
use std::time::Duration;

use edgenas_compiler::cost::CostReport;
use edgenas_deploy::DeployProgress;
use edgenas_runtime::{LatencyStats, LatencyUnit};
use edgenas_search::{
    AccuracyEvaluator, AccuracyResult, BoxError, EvalContext, LatencyInput, LatencySource, Measured, Search,
    SearchConfig, SearchEvent,
};

/// "Accuracy" that grows with the logarithm of the parameter count, saturating at 95%:
/// replace `evaluate` with a call to your training job.
struct ParamsAccuracy;

impl AccuracyEvaluator for ParamsAccuracy {
    fn name(&self) -> String {
        "log-params".into()
    }

    fn evaluate(&self, ctx: &EvalContext<'_>) -> Result<AccuracyResult, BoxError> {
        let params = CostReport::analyze(ctx.graph)?.params as f64;
        Ok(AccuracyResult { accuracy: (10.0 * params.ln()).min(95.0), trained_onnx: None })
    }
}

/// Latency of a device that runs a fixed number of MACs per millisecond: replace `measure`
/// with a call to your board, phone or predictor.
struct MacsPerMs(f64);

impl LatencySource for MacsPerMs {
    fn name(&self) -> String {
        format!("macs-per-ms-{}", self.0)
    }

    fn unit(&self) -> LatencyUnit {
        LatencyUnit::Ms
    }

    fn measure(&self, input: &LatencyInput<'_>, _: &mut dyn FnMut(&DeployProgress<'_>)) -> Result<Measured, BoxError> {
        let macs = CostReport::analyze(&input.genome.build()?)?.macs as f64;
        let ms = macs / self.0;
        let latency = LatencyStats::from_samples(LatencyUnit::Ms, &[ms], 0, 0.0).ok_or("no latency")?;
        Ok(Measured { latency, compile: Duration::ZERO })
    }
}

fn main() -> Result<(), BoxError> {
    let out = std::env::args().nth(1).map_or_else(|| PathBuf::from("runs/custom-search"), PathBuf::from);
    let mut config = SearchConfig::default_run();
    config.space = "mbconv-mcu".into();
    config.strategy = "evolution".parse()?;
    config.budget = 40;
    config.seed = 1;
    let mut candidates = 0;
    let mut observer = |event: &SearchEvent<'_>| match event {
        SearchEvent::Candidate { progress, .. } => {
            candidates += 1;
            if progress.used % 10 == 0 {
                eprintln!("{}/{} evaluated, front {}", progress.used, progress.budget, progress.front);
            }
        }
        SearchEvent::Finished(summary) => eprintln!("done: {} on the front", summary.front.len()),
        _ => {}
    };
    let search = Search::new(config).with_evaluator(ParamsAccuracy).with_latency_source(MacsPerMs(2.0e6));
    let summary = if out.join("journal.jsonl").exists() {
        search.resume(&out, &mut observer)?
    } else {
        search.start(&out, &mut observer)?
    };
    println!("{} candidates seen, {} evaluated; Pareto front:", candidates, summary.evaluated);
    for r in &summary.front {
        let latency = r.latency.as_ref().map_or(f64::NAN, |l| l.median);
        println!(
            "  {}  accuracy {:.2}  latency {:.3} ms  ({} MACs)",
            r.hash,
            r.accuracy.unwrap_or(f64::NAN),
            latency,
            r.macs
        );
    }
    println!("report: {}/pareto.csv", out.display());
    Ok(())
}
