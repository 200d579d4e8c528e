//! `edgenas latency-corr`: latency sources measured over sampled NB201 architectures,
//! their Spearman correlations, and resuming from the measurement journal.

use std::path::Path;

use common::{edgenas, stderr, stdout};
use serde_json::Value;

mod common;

const SOURCES: &str = "host,nb201-table:pixel3,aarch64-linux";

fn latency_corr(out: &Path) -> (Value, String) {
    let o = edgenas(&[
        "latency-corr",
        "--sample",
        "6",
        "--seed",
        "1",
        "--sources",
        SOURCES,
        "--time-cap-ms",
        "200",
        "--out",
        out.to_str().unwrap(),
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    (serde_json::from_str(&stdout(&o)).unwrap(), stderr(&o))
}

/// Spearman's rho with average ranks for ties, written out independently of the crate's.
fn spearman(a: &[f64], b: &[f64]) -> f64 {
    let ranks = |x: &[f64]| -> Vec<f64> {
        x.iter()
            .map(|v| {
                let below = x.iter().filter(|w| *w < v).count() as f64;
                let equal = x.iter().filter(|w| *w == v).count() as f64;
                below + (equal + 1.0) / 2.0
            })
            .collect()
    };
    let (ra, rb) = (ranks(a), ranks(b));
    let mean = |x: &[f64]| x.iter().sum::<f64>() / x.len() as f64;
    let (ma, mb) = (mean(&ra), mean(&rb));
    let cov: f64 = ra.iter().zip(&rb).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let var = |r: &[f64], m: f64| r.iter().map(|x| (x - m) * (x - m)).sum::<f64>();
    cov / (var(&ra, ma) * var(&rb, mb)).sqrt()
}

#[test]
fn correlates_every_pair_of_sources_and_resumes_from_its_journal() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("corr");
    let (report, _) = latency_corr(&out);

    let sources = report["sources"].as_array().unwrap();
    assert_eq!(sources.len(), 3);
    for s in sources {
        assert_eq!((s["measured"].as_u64(), s["failed"].as_u64()), (Some(6), Some(0)), "{s}");
    }
    assert_eq!(sources[2]["unit"], "instructions");
    assert_eq!(sources[0]["unit"], "ms");

    let csv = std::fs::read_to_string(out.join("latencies.csv")).unwrap();
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some(format!("nb201_index,{SOURCES}").as_str()));
    let rows: Vec<Vec<f64>> = lines.map(|l| l.split(',').skip(1).map(|v| v.parse().unwrap()).collect()).collect();
    assert_eq!(rows.len(), 6);
    let column = |c: usize| rows.iter().map(|r| r[c]).collect::<Vec<f64>>();
    // Whole counts; an architecture whose output does not depend on its input folds to a
    // constant and runs a few thousand instructions, the others millions.
    assert!(column(2).iter().all(|&n| n > 0.0 && n.fract() == 0.0), "instruction counts: {:?}", column(2));
    assert!(column(2).iter().any(|&n| n > 1e6), "instruction counts: {:?}", column(2));

    let pairs = report["correlations"].as_array().unwrap();
    assert_eq!(pairs.len(), 3);
    for (pair, (a, b)) in pairs.iter().zip([(0, 1), (0, 2), (1, 2)]) {
        assert_eq!(pair["n"], 6);
        let rho = pair["spearman"].as_f64().unwrap();
        assert!((rho - spearman(&column(a), &column(b))).abs() < 1e-12, "{pair}");
    }
    // NB201 latency is dominated by how many 3x3 convolutions an architecture has, which
    // every source sees: the emulated instruction counts rank the six architectures like
    // the Pixel 3 column does, apart from at most a near-tie.
    let a64_pixel3 = pairs[2]["spearman"].as_f64().unwrap();
    assert!(a64_pixel3 > 0.6, "aarch64 instructions vs pixel3: {a64_pixel3}");

    let journal = out.join("measurements.jsonl");
    let lines = std::fs::read_to_string(&journal).unwrap();
    assert_eq!(lines.lines().count(), 18);
    let (again, log) = latency_corr(&out);
    assert!(log.contains("resuming, 18 of 18 measurements"), "{log}");
    assert_eq!(again, report);

    // Drop the last measurement and tear the line before it: both are measured again.
    let kept: Vec<&str> = lines.lines().take(16).collect();
    let torn = &lines.lines().nth(16).unwrap()[..20];
    std::fs::write(&journal, format!("{}\n{torn}", kept.join("\n"))).unwrap();
    let (resumed, log) = latency_corr(&out);
    assert!(log.contains("resuming, 16 of 18 measurements"), "{log}");
    assert_eq!(std::fs::read_to_string(&journal).unwrap().lines().count(), 18);
    assert_eq!(resumed["sources"], report["sources"]);
}

#[test]
fn bad_sources_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    for (sources, needle) in [
        ("host", "at least two sources"),
        ("host,host", "`host` twice"),
        ("host,no-such-board", "no-such-board"),
        ("host,nb201-table:toaster", "toaster"),
        ("host,cortex-m4", "microcontroller"),
    ] {
        let o = edgenas(&[
            "latency-corr",
            "--sample",
            "3",
            "--sources",
            sources,
            "--out",
            dir.path().join("bad").to_str().unwrap(),
        ]);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(1), "{sources}: {err}");
        assert!(err.contains(needle) && !err.contains("panicked"), "{sources}: {err}");
    }
}
