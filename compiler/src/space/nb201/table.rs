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
    /// followed by any number of `lat_ms_<device>` columns. All 15,625 architectures must
    /// be present exactly once, rows in index order.
    pub fn from_csv(text: &str, origin: &str) -> Result<Self, SpaceError> {
        let bad = |line: usize, reason: String| SpaceError::Parse {
            path: origin.to_string(),
            reason: format!("line {line}: {reason}"),
        };
        let mut lines = text.lines().enumerate();
        let (_, header) = lines.next().ok_or_else(|| bad(1, "empty file".into()))?;
        let columns: Vec<&str> = header.trim().split(',').collect();
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
        for (i, line) in lines {
            if line.trim().is_empty() {
                continue;
            }
            let fields: Vec<&str> = line.trim().split(',').collect();
            if fields.len() != columns.len() {
                return Err(bad(i + 1, format!("{} fields, header has {}", fields.len(), columns.len())));
            }
            let num = |k: usize| {
                fields[k]
                    .parse::<f64>()
                    .map_err(|_| bad(i + 1, format!("`{}` in column {} is not a number", fields[k], columns[k])))
            };
            let index: usize = fields[0].parse().map_err(|_| bad(i + 1, format!("bad index `{}`", fields[0])))?;
            if index != rows.len() {
                return Err(bad(i + 1, format!("index {index} out of order (expected {})", rows.len())));
            }
            let arch: Nb201Arch = fields[1].parse().map_err(|e: SpaceError| bad(i + 1, e.to_string()))?;
            let slot = &mut index_by_code[arch.code()];
            if *slot != usize::MAX {
                return Err(bad(i + 1, format!("arch {arch} already at index {slot}")));
            }
            *slot = index;
            rows.push(Nb201Row {
                index,
                arch,
                cifar10_acc: num(2)?,
                cifar100_acc: num(3)?,
                imagenet16_acc: num(4)?,
                latency_ms: (REQUIRED.len()..columns.len()).map(num).collect::<Result<_, _>>()?,
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
