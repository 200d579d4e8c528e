//! `edgenas targets`: the target descriptors and, with `--check`, which of their
//! toolchains this machine has.

use anyhow::{Context, Result};
use edgenas_targets::{check_toolchains, Target, ToolchainReport};

use crate::cli::TargetsArgs;

const SETUP_SCRIPT: &str = "bash scripts/setup-cross.sh";

/// Lists the built-in targets (or the one `--target` names); with `--check` reports their
/// toolchains. The check is a report: missing tools do not make it fail.
pub fn targets(args: &TargetsArgs) -> Result<()> {
    let targets = match &args.target {
        Some(t) => vec![Target::resolve(t).context("--target")?],
        None => Target::builtins(),
    };
    if args.check {
        let reports = check_toolchains(&targets);
        if args.json {
            println!("{}", serde_json::to_string_pretty(&reports).context("writing the report as JSON")?);
        } else {
            print_reports(&reports);
        }
    } else if args.json {
        println!("{}", serde_json::to_string_pretty(&targets).context("writing the targets as JSON")?);
    } else {
        print_table(&targets);
    }
    Ok(())
}

fn print_table(targets: &[Target]) {
    let kib = |v: Option<u64>| v.map_or("-".to_string(), |k| format!("{k} KiB"));
    let mut rows =
        vec![["NAME", "KIND", "TRIPLE", "CORES", "CLOCK", "SRAM", "FLASH", "UNIT", "FEATURES"].map(String::from)];
    for t in targets {
        rows.push([
            t.name.clone(),
            t.kind.to_string(),
            t.triple.clone(),
            t.cores.to_string(),
            t.clock_mhz.map_or("-".to_string(), |c| format!("{c} MHz")),
            kib(t.sram_kib),
            kib(t.flash_kib),
            t.unit().to_string(),
            if t.features.is_empty() { "-".to_string() } else { t.features.join(",") },
        ]);
    }
    let widths: Vec<usize> = (0..rows[0].len()).map(|c| rows.iter().map(|r| r[c].len()).max().unwrap_or(0)).collect();
    for row in &rows {
        let cells: Vec<String> = row.iter().zip(&widths).map(|(cell, w)| format!("{cell:<w$}")).collect();
        println!("{}", cells.join("  ").trim_end());
    }
    println!();
    println!("Descriptors: targets/builtin/*.toml (every field commented); give your own with --target FILE.toml.");
    println!("Emulated targets report instructions (never emulated wall time); host reports ms.");
}

fn print_reports(reports: &[ToolchainReport]) {
    let name_width = reports.iter().flat_map(|r| &r.checks).map(|c| c.name.len()).max().unwrap_or(0);
    for report in reports {
        let missing = report.missing().count();
        match (report.checks.len(), missing) {
            (0, _) => println!("{}: nothing to install", report.target),
            (n, 0) => println!("{}: all {n} requirements present", report.target),
            (n, m) => println!("{}: {m} of {n} requirements missing", report.target),
        }
        for check in &report.checks {
            println!(
                "  {:<8} {:<14} {:<name_width$}  {}",
                if check.ok { "ok" } else { "MISSING" },
                check.what.to_string(),
                check.name,
                check.detail
            );
            if let Some(fix) = check.fix.as_ref().filter(|_| !check.ok) {
                println!("  {:<8} fix: {fix}", "");
            }
        }
    }
    if reports.iter().any(|r| !r.ok) {
        println!();
        println!("To install every built-in target's toolchain (apt + rustup, idempotent): {SETUP_SCRIPT}");
    }
}
