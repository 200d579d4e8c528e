//! What a run leaves for a person: candidates.csv, pareto.csv, pareto.json, pareto.svg and
//! the front's ONNX models, all rewritten from the journal at the end of a run.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use edgenas_compiler::quantize::Precision;
use edgenas_compiler::space::Genome;
use edgenas_deploy::{emit_genome, quantize_for_target, BatchNormInit, Profiler};
use edgenas_runtime::{error_chain, write_atomic, LatencyStats, LatencyUnit};
use edgenas_targets::{Measurement, Target};
use serde::Serialize;

use super::candidate::Candidate;
use super::config::SearchConfig;
use super::journal::{CandidateRecord, CandidateStatus};
use super::pareto::pareto_front;
use crate::SearchError;

/// Feasible evaluated candidates with a measured latency on the Pareto front of their
/// objective vectors, sorted by latency (a `predict-then-measure` candidate that was only
/// predicted never enters).
pub fn front_of(records: &[CandidateRecord]) -> Vec<&CandidateRecord> {
    let feasible: Vec<&CandidateRecord> = records
        .iter()
        .filter(|r| r.feasible && r.status == CandidateStatus::Evaluated && r.objectives.is_some())
        .filter(|r| r.latency.is_some())
        .collect();
    let points: Vec<Vec<f64>> = feasible.iter().filter_map(|r| r.objectives.clone()).collect();
    let mut front: Vec<&CandidateRecord> = pareto_front(&points).into_iter().map(|i| feasible[i]).collect();
    front.sort_by(|a, b| latency_ms(a).total_cmp(&latency_ms(b)).then(a.seq.cmp(&b.seq)));
    front
}

fn latency_ms(r: &CandidateRecord) -> f64 {
    r.latency.as_ref().map_or(f64::NAN, |l| l.median)
}

#[derive(Serialize)]
struct FrontEntry<'a> {
    hash: &'a str,
    accuracy: Option<f64>,
    latency: &'a Option<LatencyStats>,
    macs: u64,
    params: u64,
    peak_activation_bytes: u64,
    onnx: String,
    /// `front/KEY.profile.txt` (and `.json`): the member's per-layer profile on the
    /// search's target, when it was measured on this host or under emulation.
    #[serde(skip_serializing_if = "Option::is_none")]
    profile: Option<String>,
    /// Why profiling the member failed (the rest of the report is written anyway).
    #[serde(skip_serializing_if = "Option::is_none")]
    profile_error: Option<String>,
    genome: &'a Genome,
    precision: Precision,
}

/// Profiled runs per front member on this host (an emulator's counts are exact and take
/// one run).
const FRONT_PROFILE_RUNS: usize = 5;

/// One row of `pareto.csv`.
#[derive(Serialize)]
struct ParetoRow<'a> {
    hash: &'a str,
    accuracy: Option<f64>,
    latency_median: Option<f64>,
    latency_p10: Option<f64>,
    latency_p90: Option<f64>,
    latency_unit: Option<LatencyUnit>,
    macs: u64,
    params: u64,
    peak_activation_bytes: u64,
    onnx: &'a str,
    genome: String,
    precision: Precision,
}

/// One row of `candidates.csv`.
#[derive(Serialize)]
struct CandidateRow<'a> {
    seq: usize,
    hash: &'a str,
    status: CandidateStatus,
    feasible: bool,
    accuracy: Option<f64>,
    latency_median: Option<f64>,
    latency_p10: Option<f64>,
    latency_p90: Option<f64>,
    latency_unit: Option<LatencyUnit>,
    macs: u64,
    params: u64,
    peak_activation_bytes: u64,
    build_emit_ms: f64,
    compile_ms: f64,
    measure_ms: f64,
    evaluate_ms: f64,
    error: String,
    genome: String,
    precision: Precision,
}

/// Writes every report file and the front's ONNX models (quantized for `target`, as the
/// candidates were) into `out_dir`, and for a microcontroller target each member's
/// firmware directory (`front/KEY.firmware`, see `edgenas_deploy::firmware`), or, when
/// the latency was measured on this host or under emulation, each member's per-layer
/// profile there (`front/KEY.profile.txt` and `.json`, see `edgenas_deploy::profile`);
/// returns the front.
pub fn write_reports(
    out_dir: &Path,
    cfg: &SearchConfig,
    records: &[CandidateRecord],
    target: &Target,
) -> Result<Vec<CandidateRecord>, SearchError> {
    let candidate_rows = records.iter().map(|r| CandidateRow {
        seq: r.seq,
        hash: &r.hash,
        status: r.status,
        feasible: r.feasible,
        accuracy: r.accuracy,
        latency_median: r.latency.as_ref().map(|l| l.median),
        latency_p10: r.latency.as_ref().map(|l| l.p10),
        latency_p90: r.latency.as_ref().map(|l| l.p90),
        latency_unit: r.latency.as_ref().map(|l| l.unit),
        macs: r.macs,
        params: r.params,
        peak_activation_bytes: r.peak_activation_bytes,
        build_emit_ms: r.times.build_emit_ms,
        compile_ms: r.times.compile_ms,
        measure_ms: r.times.measure_ms,
        evaluate_ms: r.times.evaluate_ms,
        error: r.error.as_deref().unwrap_or("").replace('\n', " | "),
        genome: r.genome.to_json(),
        precision: r.precision,
    });
    write_file(&out_dir.join("candidates.csv"), &csv_of(candidate_rows)?)?;
    let front = front_of(records);
    let front_dir = out_dir.join("front");
    std::fs::create_dir_all(&front_dir).map_err(SearchError::io("creating", &front_dir))?;
    let mut entries = Vec::with_capacity(front.len());
    let profiler = front_profiler(cfg, target);
    for r in &front {
        let key = Candidate { genome: r.genome.clone(), precision: r.precision }.key();
        let file = format!("front/{key}.onnx");
        let bn = if r.precision.is_f32() { BatchNormInit::Seeded } else { BatchNormInit::Calibrated };
        let report = |source| SearchError::Report { key: key.clone(), source: Box::new(source) };
        let model = emit_genome(&r.genome, cfg.weight_seed, bn).map_err(report)?;
        let deployed = quantize_for_target(&model.onnx, r.precision, target).map_err(report)?;
        write_file(&out_dir.join(&file), &deployed)?;
        if target.kind == edgenas_targets::TargetKind::Mcu {
            let firmware = out_dir.join(format!("front/{key}.firmware"));
            let request = edgenas_deploy::FirmwareRequest { onnx: &deployed, target, out: &firmware, force: true };
            edgenas_deploy::compile_firmware(&request).map_err(report)?;
        }
        let (profile, profile_error) = match &profiler {
            Some(Ok(profiler)) => {
                let time_cap = Duration::from_millis(cfg.latency.time_cap_ms);
                match profiler.profile(&key, &deployed, FRONT_PROFILE_RUNS, time_cap, &mut |_| {}) {
                    Ok(report) => {
                        let stem = format!("front/{key}.profile");
                        write_file(&out_dir.join(format!("{stem}.txt")), report.table().as_bytes())?;
                        let json = serde_json::to_string_pretty(&report)
                            .map_err(|e| SearchError::Config(format!("encoding a profile: {e}")))?;
                        write_file(&out_dir.join(format!("{stem}.json")), json.as_bytes())?;
                        (Some(format!("{stem}.txt")), None)
                    }
                    Err(e) => (None, Some(error_chain(&e))),
                }
            }
            Some(Err(why)) => (None, Some(why.clone())),
            None => (None, None),
        };
        entries.push(FrontEntry {
            hash: &r.hash,
            accuracy: r.accuracy,
            latency: &r.latency,
            macs: r.macs,
            params: r.params,
            peak_activation_bytes: r.peak_activation_bytes,
            onnx: file,
            profile,
            profile_error,
            genome: &r.genome,
            precision: r.precision,
        });
    }
    let pareto_rows = front.iter().zip(&entries).map(|(r, e)| ParetoRow {
        hash: &r.hash,
        accuracy: r.accuracy,
        latency_median: r.latency.as_ref().map(|l| l.median),
        latency_p10: r.latency.as_ref().map(|l| l.p10),
        latency_p90: r.latency.as_ref().map(|l| l.p90),
        latency_unit: r.latency.as_ref().map(|l| l.unit),
        macs: r.macs,
        params: r.params,
        peak_activation_bytes: r.peak_activation_bytes,
        onnx: &e.onnx,
        genome: r.genome.to_json(),
        precision: r.precision,
    });
    write_file(&out_dir.join("pareto.csv"), &csv_of(pareto_rows)?)?;
    let json = serde_json::to_string_pretty(&entries)
        .map_err(|e| SearchError::Config(format!("encoding pareto.json: {e}")))?;
    write_file(&out_dir.join("pareto.json"), json.as_bytes())?;
    write_file(&out_dir.join("pareto.svg"), pareto_svg(records, &front, cfg).as_bytes())?;
    Ok(front.into_iter().cloned().collect())
}

/// The profiler of the front's members: `None` when the latency came from the NB201 table,
/// a program-supplied source, a stand-in device, a microcontroller or a remote device (no per-node counts
/// there), else the profiler of `target` or why it could not be made.
fn front_profiler(cfg: &SearchConfig, target: &Target) -> Option<Result<Profiler, String>> {
    let source = &cfg.latency.target;
    if ["nb201-table:", "custom:", "stand-in:"].iter().any(|p| source.starts_with(p)) {
        return None;
    }
    match target.measurement() {
        Measurement::Local | Measurement::Emulated => Some(Profiler::new(target).map_err(|e| error_chain(&e))),
        Measurement::Microcontroller | Measurement::Remote => None,
    }
}

/// RFC 4180 CSV of `rows` with a header of the field names.
fn csv_of<R: Serialize>(rows: impl Iterator<Item = R>) -> Result<Vec<u8>, SearchError> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    for row in rows {
        writer.serialize(row).map_err(|e| SearchError::Config(format!("writing a CSV row: {e}")))?;
    }
    writer.into_inner().map_err(|e| SearchError::Config(format!("finishing a CSV file: {e}")))
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), SearchError> {
    Ok(write_atomic(path, bytes)?)
}

/// Accuracy vs latency: every feasible evaluated candidate in grey, infeasible ones hollow,
/// the front in red joined as a staircase. Hand-written on purpose: one scatter plot does
/// not pay for a plotting crate's font and rendering stack (plotters pulls in dozens of
/// crates), and the SVG stays byte-stable for the tests.
fn pareto_svg(records: &[CandidateRecord], front: &[&CandidateRecord], cfg: &SearchConfig) -> String {
    let (w, h, ml, mr, mt, mb) = (760.0, 500.0, 70.0, 20.0, 40.0, 55.0);
    let pts: Vec<(f64, f64, bool)> = records
        .iter()
        .filter(|r| r.status == CandidateStatus::Evaluated)
        .filter_map(|r| Some((r.latency.as_ref()?.median, r.accuracy?, r.feasible)))
        .collect();
    let unit: &str = records.iter().find_map(|r| r.latency.as_ref()).map_or("ms", |l| l.unit.into());
    let mut svg = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="white"/>
<text x="{}" y="22" text-anchor="middle" font-size="15">edgenas search: {} / {} / {} candidates, front of {}</text>
"#,
        w / 2.0,
        xml(&cfg.space),
        cfg.strategy,
        pts.len(),
        front.len()
    );
    if pts.is_empty() {
        svg.push_str(r#"<text x="380" y="250" text-anchor="middle">no evaluated candidates</text></svg>"#);
        return svg;
    }
    let (x0, x1) = padded_range(pts.iter().map(|p| p.0));
    let (y0, y1) = padded_range(pts.iter().map(|p| p.1));
    let sx = |x: f64| ml + (x - x0) / (x1 - x0) * (w - ml - mr);
    let sy = |y: f64| h - mb - (y - y0) / (y1 - y0) * (h - mt - mb);
    let _ = writeln!(
        svg,
        r#"<rect x="{ml}" y="{mt}" width="{}" height="{}" fill="none" stroke="black"/>"#,
        w - ml - mr,
        h - mt - mb
    );
    for i in 0..=5 {
        let (xv, yv) = (x0 + (x1 - x0) * i as f64 / 5.0, y0 + (y1 - y0) * i as f64 / 5.0);
        let _ = writeln!(
            svg,
            r##"<line x1="{0}" y1="{1}" x2="{0}" y2="{2}" stroke="#ddd"/><text x="{0}" y="{3}" text-anchor="middle">{4}</text>"##,
            sx(xv),
            mt,
            h - mb,
            h - mb + 16.0,
            tick(xv)
        );
        let _ = writeln!(
            svg,
            r##"<line x1="{0}" y1="{1}" x2="{2}" y2="{1}" stroke="#ddd"/><text x="{3}" y="{4}" text-anchor="end">{5}</text>"##,
            ml,
            sy(yv),
            w - mr,
            ml - 6.0,
            sy(yv) + 4.0,
            tick(yv)
        );
    }
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="{}" text-anchor="middle">latency ({unit}, median)</text>"#,
        (ml + w - mr) / 2.0,
        h - 12.0
    );
    let _ = writeln!(
        svg,
        r#"<text transform="translate(18 {}) rotate(-90)" text-anchor="middle">accuracy</text>"#,
        (mt + h - mb) / 2.0
    );
    for &(x, y, feasible) in &pts {
        let fill = if feasible { "#999" } else { "none" };
        let _ = writeln!(svg, r##"<circle cx="{:.1}" cy="{:.1}" r="3" fill="{fill}" stroke="#999"/>"##, sx(x), sy(y));
    }
    let mut path = String::new();
    let mut prev: Option<(f64, f64)> = None;
    for r in front {
        let (Some(l), Some(a)) = (r.latency.as_ref(), r.accuracy) else { continue };
        let (x, y) = (sx(l.median), sy(a));
        match prev {
            None => {
                let _ = write!(path, "M{x:.1},{y:.1}");
            }
            Some((_, py)) => {
                let _ = write!(path, " L{x:.1},{py:.1} L{x:.1},{y:.1}");
            }
        }
        prev = Some((x, y));
    }
    let _ = writeln!(svg, r##"<path d="{path}" fill="none" stroke="#d62728" stroke-width="1.5"/>"##);
    for r in front {
        if let (Some(l), Some(a)) = (r.latency.as_ref(), r.accuracy) {
            let _ = writeln!(
                svg,
                r##"<circle cx="{:.1}" cy="{:.1}" r="4.5" fill="#d62728"><title>{} acc {a:.3} lat {:.4}</title></circle>"##,
                sx(l.median),
                sy(a),
                r.hash,
                l.median
            );
        }
    }
    if let Some(max) = cfg.constraints.max_latency_ms.filter(|m| *m >= x0 && *m <= x1) {
        let _ = writeln!(
            svg,
            r##"<line x1="{0}" y1="{1}" x2="{0}" y2="{2}" stroke="#1f77b4" stroke-dasharray="4 3"/><text x="{3}" y="{4}" fill="#1f77b4">max latency</text>"##,
            sx(max),
            mt,
            h - mb,
            sx(max) + 4.0,
            mt + 14.0
        );
    }
    svg.push_str("</svg>\n");
    svg
}

fn padded_range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let pad = ((hi - lo) * 0.05).max(hi.abs() * 1e-3).max(1e-9);
    (lo - pad, hi + pad)
}

fn tick(v: f64) -> String {
    if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.4}")
    }
}

fn xml(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}
