use anyhow::{bail, Context, Result};
use edgenas_compiler::cost::CostReport;
use edgenas_compiler::onnx;
use edgenas_compiler::space::Genome;
use serde::Serialize;

use super::genome_from_source;
use crate::cli::InfoArgs;

#[derive(Serialize)]
struct InfoReport {
    source: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    genome: Option<Genome>,
    #[serde(skip_serializing_if = "Option::is_none")]
    nb201_arch: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    nb201_index: Option<usize>,
    cost: CostReport,
}

pub fn info(args: &InfoArgs) -> Result<()> {
    if let Some(name) = &args.target {
        return info_mcu(args, name);
    }
    let report = match (&args.model, genome_from_source(&args.source)?) {
        (Some(_), Some(_)) => bail!("give either an ONNX model or an architecture, not both"),
        (None, None) => bail!("info needs an ONNX model or an architecture (--arch, --nb201-index, --nb201-arch)"),
        (Some(path), None) => {
            let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
            let imported = onnx::import(&bytes).with_context(|| format!("importing {}", path.display()))?;
            let genome = imported
                .metadata
                .iter()
                .find(|(k, _)| k == "edgenas.genome")
                .and_then(|(_, v)| Genome::from_json(v).ok());
            let params = imported.graph.node_ids().map(|n| imported.graph.node(n).op.def().trainable_params()).sum();
            let cost = CostReport::of_deployed(&imported.graph, params)
                .with_context(|| format!("analyzing {}", path.display()))?;
            with_nb201(path.display().to_string(), genome, cost)
        }
        (None, Some(genome)) => {
            let graph = genome.build()?;
            let cost = CostReport::analyze(&graph)?;
            with_nb201(format!("genome {}", genome.content_hash()), Some(genome), cost)
        }
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_human(&report);
    }
    Ok(())
}

fn with_nb201(source: String, genome: Option<Genome>, cost: CostReport) -> InfoReport {
    let (nb201_arch, nb201_index) = match &genome {
        Some(Genome::Nb201(g)) => (Some(g.arch.clone()), Some(g.index)),
        _ => (None, None),
    };
    InfoReport { source, genome, nb201_arch, nb201_index, cost }
}

fn print_human(r: &InfoReport) {
    let c = &r.cost;
    println!("source:               {}", r.source);
    if let (Some(arch), Some(index)) = (&r.nb201_arch, r.nb201_index) {
        println!("nb201 arch:           {arch}");
        println!("nb201 index:          {index}");
    }
    println!("input / output:       {:?} -> {:?}", c.input_shape, c.output_shape);
    println!("MACs:                 {} ({:.2} M)", c.macs, c.macs as f64 / 1e6);
    println!("params:               {} ({:.3} M)", c.params, c.params as f64 / 1e6);
    println!(
        "weight bytes:         f32 {}  f16 {}  int8 {}",
        c.weight_bytes.f32, c.weight_bytes.f16, c.weight_bytes.int8
    );
    println!("peak activation:      {} bytes (f32, during `{}`)", c.peak_activation_bytes, c.peak_at);
    println!();
    println!("{:<32} {:<18} {:<18} {:>12} {:>12} {:>12}", "layer", "op", "output", "MACs", "weights B", "live act B");
    for l in &c.layers {
        println!(
            "{:<32} {:<18} {:<18} {:>12} {:>12} {:>12}",
            l.name,
            l.op,
            format!("{:?}", l.output_shape),
            l.macs,
            l.weight_bytes_f32,
            l.live_activation_bytes
        );
    }
}

/// `info --target MCU`: the firmware built in a temporary directory, its memory and flash
/// against the target's limits.
fn info_mcu(args: &InfoArgs, name: &str) -> Result<()> {
    let target = edgenas_targets::Target::resolve(name).context("--target")?;
    anyhow::ensure!(
        target.kind == edgenas_targets::TargetKind::Mcu,
        "--target `{}` is of kind `{}`: info --target reports firmware memory, for microcontrollers",
        target.name,
        target.kind
    );
    let (label, onnx) = super::firmware::int8_model(args.model.as_deref(), &args.source, &target)?;
    let dir = tempfile::tempdir().context("creating a temporary directory")?;
    let out = dir.path().join("firmware");
    let request = edgenas_deploy::FirmwareRequest { onnx: &onnx, target: &target, out: &out, force: false };
    let report =
        edgenas_deploy::compile_firmware(&request).with_context(|| format!("building {label} for {}", target.name))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("source:          {label}");
        super::firmware::print_report(&report);
    }
    Ok(())
}
