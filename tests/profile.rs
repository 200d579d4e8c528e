//! `edgenas profile`: per-node costs of tract's optimized plan, mapped to the ONNX layers,
//! on this host (wall clock) and under qemu-aarch64 (instructions, counted per node by the
//! runner's markers around each node).

use std::time::Duration;

use edgenas_deploy::pipeline::default_genome;
use edgenas_deploy::{emit_genome, profile_model, BatchNormInit, ProfileReport};
use edgenas_runtime::LatencyUnit;
use edgenas_targets::Target;

fn nb201_6111() -> Vec<u8> {
    emit_genome(&default_genome(), 0, BatchNormInit::Seeded).expect("emit NB201 6111").onnx
}

fn profile(onnx: &[u8], target: &str, runs: usize) -> ProfileReport {
    let target = Target::resolve(target).expect("built-in target");
    profile_model("nb201-6111", onnx, &target, runs, Duration::from_secs(10), &mut |_| {}).expect("profile")
}

/// Every ONNX Conv owns at least one plan node that does its multiply-accumulates, and
/// tract's MAC count of those nodes is the conv's own (`Cout·Cin/g·kh·kw·Hout·Wout`).
fn assert_every_conv_appears(report: &ProfileReport, onnx: &[u8]) {
    let convs: Vec<_> = report.layers.iter().filter(|l| l.onnx_op == "Conv").collect();
    assert!(convs.len() >= 20, "NB201 6111 has dozens of convs, found {}", convs.len());
    for conv in &convs {
        assert!(!conv.steps.is_empty(), "conv {} has no node in the plan", conv.layer);
        assert!(conv.macs > 0, "conv {} has no MACs", conv.layer);
    }
    let expected = edgenas_compiler::cost::CostReport::analyze(
        &edgenas_compiler::onnx::import(onnx).expect("import the emitted model").graph,
    )
    .expect("cost report")
    .macs;
    let counted: u64 = report.layers.iter().map(|l| l.macs).sum();
    // tract counts the classifier, the convs and the average pool's additions as FMAs;
    // the NB201 MAC convention counts convs and the classifier. The two agree to 1%.
    let ratio = counted as f64 / expected as f64;
    assert!((0.99..=1.01).contains(&ratio), "tract counts {counted} MACs, the cost report {expected}");
}

#[test]
fn host_profile_maps_every_conv_and_accounts_for_the_whole_run() {
    let onnx = nb201_6111();
    let report = profile(&onnx, "host", 5);
    assert_eq!(report.profile.unit, LatencyUnit::Ms);
    assert_every_conv_appears(&report, &onnx);
    assert!(report.profile.nodes.iter().all(|n| n.cost.is_finite() && n.cost >= 0.0));
    // Wall clock on a shared 2-core machine: the node-by-node run and the whole run are
    // separate runs, so only a loose band is checked here; the 5% goal is checked on exact
    // instruction counts below.
    let coverage = report.profile.coverage();
    assert!((0.7..=1.3).contains(&coverage), "nodes cover {coverage:.3} of a whole run");
}

#[test]
fn emulated_profile_counts_repeat_exactly_and_sum_to_the_whole_model() {
    let onnx = nb201_6111();
    let first = profile(&onnx, "aarch64-linux", 1);
    assert_eq!(first.profile.unit, LatencyUnit::Instructions);
    assert_every_conv_appears(&first, &onnx);
    // Instruction counts are exact; what the node windows leave out is the plan's
    // bookkeeping between nodes (a fraction of a percent) — the bound is 5%.
    let coverage = first.profile.coverage();
    assert!((0.95..=1.05).contains(&coverage), "nodes cover {coverage:.4} of a whole run");
    let second = profile(&onnx, "aarch64-linux", 1);
    let costs = |r: &ProfileReport| r.profile.nodes.iter().map(|n| (n.node.name.clone(), n.cost)).collect::<Vec<_>>();
    assert_eq!(costs(&first), costs(&second), "per-node instruction counts differ between two runs");
    let heaviest = first.profile.nodes.iter().max_by(|a, b| a.cost.total_cmp(&b.cost)).expect("nodes");
    assert!(heaviest.node.macs > 0, "the costliest node should be a matmul, got {heaviest:?}");
}

#[test]
fn bad_requests_name_the_problem() {
    let onnx = nb201_6111();
    let mcu = Target::resolve("cortex-m4").expect("built-in");
    let err = profile_model("m", &onnx, &mcu, 1, Duration::from_secs(1), &mut |_| {}).unwrap_err();
    assert!(err.to_string().contains("microcontroller"), "{err}");
    let host = Target::resolve("host").expect("built-in");
    let err = profile_model("m", &onnx, &host, 0, Duration::from_secs(1), &mut |_| {}).unwrap_err();
    assert!(err.to_string().contains("at least one run"), "{err}");
    let err = profile_model("broken.onnx", b"not onnx", &host, 1, Duration::from_secs(1), &mut |_| {}).unwrap_err();
    assert!(err.to_string().contains("broken.onnx") && err.to_string().contains("not an ONNX model"), "{err}");
}

#[test]
fn the_cli_prints_the_table_or_the_json() {
    let run = |extra: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_edgenas"))
            .args(["profile", "--nb201-index", "6111", "--runs", "2"])
            .args(extra)
            .output()
            .expect("run edgenas");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).expect("utf-8")
    };
    let json: serde_json::Value = serde_json::from_str(&run(&["--json"])).expect("JSON report");
    assert_eq!(json["target"], "host");
    assert!(json["profile"]["nodes"].as_array().is_some_and(|n| n.len() > 100), "{json}");
    let table = run(&[]);
    assert!(table.contains("tract op") && table.contains("MAC/ns") && table.contains("coverage"), "{table}");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_edgenas"))
        .args(["profile", "--target", "no-such-target"])
        .output()
        .expect("run edgenas");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no-such-target"));
}
