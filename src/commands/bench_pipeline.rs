use anyhow::Result;
use edgenas_deploy::pipeline::time_pipeline;

use super::genome_or_default;
use crate::cli::BenchPipelineArgs;

pub fn bench_pipeline(args: &BenchPipelineArgs) -> Result<()> {
    let genome = genome_or_default(&args.source)?;
    let t = time_pipeline(&genome, args.repeat)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&t)?);
    } else {
        println!("genome:    {}", t.genome);
        println!(
            "medians over {} runs (ms): build IR {:.3}  lower {:.3}  emit {:.3}  tract load {:.3}  optimize {:.3}  total {:.3}",
            t.repeat, t.build_ir_ms, t.lower_ms, t.emit_ms, t.load_ms, t.optimize_ms, t.total_ms
        );
    }
    Ok(())
}
