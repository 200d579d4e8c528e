use std::sync::OnceLock;

use super::{Nb201Arch, NB201_SIZE};
use crate::space::SpaceError;

/// One architecture's row of the NB201 table.
#[derive(Debug, Clone, PartialEq)]
pub struct Nb201Row {
    pub index: usize,
    pub arch: Nb201Arch,
    pub cifar10_acc: f64,
    pub cifar100_acc: f64,
    pub imagenet16_acc: f64,
    /// Published latency in ms per device, in the order of [`Nb201Table::devices`].
    pub latency_ms: Vec<f64>,
}

/// The NB201 table: accuracy and published device latencies per architecture, indexed by
/// the standard NB201 index. Invariant: `rows[i].index == i`, every arch appears once.
#[derive(Debug, Clone)]
pub struct Nb201Table {
    rows: Vec<Nb201Row>,
    devices: Vec<String>,
    index_by_code: Vec<usize>,
}

/// The columns every table starts with, read by name.
#[derive(serde::Deserialize)]
struct RequiredColumns {
    index: usize,
    arch: String,
    cifar10_acc: f64,
    cifar100_acc: f64,
    imagenet16_acc: f64,
}

const BUILTIN_CSV: &str = include_str!("../../../data/nb201.csv");
const REQUIRED: [&str; 5] = ["index", "arch", "cifar10_acc", "cifar100_acc", "imagenet16_acc"];

impl Nb201Table {
    /// The table shipped in this crate (compiler/data/nb201.csv, see its README for sources).
    pub fn builtin() -> &'static Nb201Table {
        static TABLE: OnceLock<Nb201Table> = OnceLock::new();
        TABLE.get_or_init(|| {
            Nb201Table::from_csv(BUILTIN_CSV, "builtin nb201.csv").expect("the shipped NB201 table is valid")
        })
    }

    /// Parses a table with columns `index,arch,cifar10_acc,cifar100_acc,imagenet16_acc`
    /// followed by any number of `lat_ms_<device>` columns (RFC 4180 CSV, fields trimmed).
    /// All 15,625 architectures must be present exactly once, rows in index order.
    pub fn from_csv(text: &str, origin: &str) -> Result<Self, SpaceError> {
        let bad = |line: u64, reason: String| SpaceError::Parse {
            path: origin.to_string(),
            reason: format!("line {line}: {reason}"),
        };
        let mut reader = csv::ReaderBuilder::new().trim(csv::Trim::All).from_reader(text.as_bytes());
        let header = reader.headers().map_err(|e| bad(1, e.to_string()))?.clone();
        let columns: Vec<&str> = header.iter().collect();
        if columns.len() < REQUIRED.len() || columns[..REQUIRED.len()] != REQUIRED {
            return Err(bad(1, format!("header must start with {}", REQUIRED.join(","))));
        }
        let mut devices = Vec::new();
        for c in &columns[REQUIRED.len()..] {
            let device = c.strip_prefix("lat_ms_").ok_or_else(|| bad(1, format!("unexpected column `{c}`")))?;
            devices.push(device.to_string());
        }
        let mut rows = Vec::with_capacity(NB201_SIZE);
        let mut index_by_code = vec![usize::MAX; NB201_SIZE];
        for record in reader.records() {
            let record = record.map_err(|e| {
                let line = e.position().map_or(0, |p| p.line());
                bad(line, e.to_string())
            })?;
            let line = record.position().map_or(0, |p| p.line());
            let row: RequiredColumns = record.deserialize(Some(&header)).map_err(|e| bad(line, e.to_string()))?;
            if row.index != rows.len() {
                return Err(bad(line, format!("index {} out of order (expected {})", row.index, rows.len())));
            }
            let arch: Nb201Arch = row.arch.parse().map_err(|e: SpaceError| bad(line, e.to_string()))?;
            let slot = &mut index_by_code[arch.code()];
            if *slot != usize::MAX {
                return Err(bad(line, format!("arch {arch} already at index {slot}")));
            }
            *slot = row.index;
            let latency_ms = (REQUIRED.len()..columns.len())
                .map(|k| {
                    let field = record.get(k).unwrap_or_default();
                    field
                        .parse::<f64>()
                        .map_err(|_| bad(line, format!("`{field}` in column {} is not a number", columns[k])))
                })
                .collect::<Result<_, _>>()?;
            rows.push(Nb201Row {
                index: row.index,
                arch,
                cifar10_acc: row.cifar10_acc,
                cifar100_acc: row.cifar100_acc,
                imagenet16_acc: row.imagenet16_acc,
                latency_ms,
            });
        }
        if rows.len() != NB201_SIZE {
            return Err(bad(0, format!("{} rows, NAS-Bench-201 has {NB201_SIZE}", rows.len())));
        }
        Ok(Nb201Table { rows, devices, index_by_code })
    }

    pub fn rows(&self) -> &[Nb201Row] {
        &self.rows
    }

    pub fn row(&self, index: usize) -> Option<&Nb201Row> {
        self.rows.get(index)
    }

    /// Device names of the `lat_ms_<device>` columns.
    pub fn devices(&self) -> &[String] {
        &self.devices
    }

    /// The NB201 index of `arch` (every arch has one: the table is complete).
    pub fn index_of(&self, arch: &Nb201Arch) -> usize {
        self.index_by_code[arch.code()]
    }

    /// Published latency of `index` on `device`, if the table has that device.
    pub fn latency_ms(&self, index: usize, device: &str) -> Option<f64> {
        let col = self.devices.iter().position(|d| d == device)?;
        Some(self.rows.get(index)?.latency_ms[col])
    }
}
