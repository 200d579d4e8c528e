//! Few-shot latency prediction benchmarked on a latency table: one device's column is the
//! unseen device, seen only through `K` sampled architectures; every other `lat_ms_*`
//! column of the same table is prior knowledge (HELP's setting). Scored over every
//! architecture that was not sampled.

use edgenas_compiler::cost::ArchFeatures;
use edgenas_compiler::quantize::Precision;
use edgenas_compiler::rng::SeededRng;
use edgenas_compiler::space::nb201::{Nb201Arch, Nb201Genome, Nb201Op, Nb201Table, NB201_EDGES};
use edgenas_compiler::space::{Genome, SearchSpace};
use edgenas_runtime::stats;
use serde::Serialize;

use super::ensemble::{stratified_sample, ColumnGroup, LatencyEnsemble};
use super::regression::Ridge;
use super::PredictorError;

/// What every device of a table contributes as prior knowledge, computed once per table:
/// its log-latencies and a smoothed version (a ridge regression of them on the genome
/// encoding over the whole column), plus log-MACs of every architecture.
pub struct TablePriors {
    devices: Vec<String>,
    log_latency: Vec<Vec<f64>>,
    smoothed: Vec<Vec<f64>>,
    log_macs: Vec<f64>,
}

impl TablePriors {
    /// Errors on a table without at least two devices or with a latency that is not a
    /// positive finite number (naming the row and device).
    pub fn new(table: &Nb201Table) -> Result<Self, PredictorError> {
        let devices = table.devices().to_vec();
        if devices.len() < 2 {
            return Err(PredictorError::Config(format!(
                "the table has {} latency column(s); few-shot transfer needs the unseen device and at least one other",
                devices.len()
            )));
        }
        let space = SearchSpace::resolve("nb201").map_err(|e| PredictorError::Config(e.to_string()))?;
        let macs = Nb201Macs::new()?;
        let mut encodings = Vec::with_capacity(table.rows().len());
        let mut log_macs = Vec::with_capacity(table.rows().len());
        for row in table.rows() {
            let genome = Genome::Nb201(Nb201Genome::from_arch(&row.arch));
            encodings.push(space.encode(&genome).map_err(|e| PredictorError::Config(e.to_string()))?);
            log_macs.push((macs.of(&row.arch) as f64).ln_1p());
        }
        let mut log_latency = vec![Vec::with_capacity(table.rows().len()); devices.len()];
        for row in table.rows() {
            for (d, &ms) in row.latency_ms.iter().enumerate() {
                if !(ms.is_finite() && ms > 0.0) {
                    return Err(PredictorError::Config(format!(
                        "row {} has latency {ms} on `{}`; latencies must be positive",
                        row.index, devices[d]
                    )));
                }
                log_latency[d].push(ms.ln());
            }
        }
        let smoothed = log_latency
            .iter()
            .map(|column| {
                let fit = Ridge::fit(&encodings, column, &[1.0]);
                encodings.iter().map(|e| fit.as_ref().map_or(f64::NAN, |f| f.predict(e))).collect()
            })
            .collect();
        Ok(TablePriors { devices, log_latency, smoothed, log_macs })
    }

    pub fn devices(&self) -> &[String] {
        &self.devices
    }

    fn device(&self, name: &str) -> Result<usize, PredictorError> {
        self.devices.iter().position(|d| d == name).ok_or_else(|| {
            PredictorError::Config(format!("the table has no device `{name}` (it has {})", self.devices.join(", ")))
        })
    }

    /// Input rows for predicting `target`: for every other device its log-latency and its
    /// smoothed log-latency, then log-MACs; one member group per column.
    pub fn inputs(&self, target: &str) -> Result<(Vec<Vec<f64>>, Vec<ColumnGroup>), PredictorError> {
        let t = self.device(target)?;
        let others: Vec<usize> = (0..self.devices.len()).filter(|&d| d != t).collect();
        let mut groups = Vec::new();
        for &d in &others {
            groups.push(format!("lat_ms_{}", self.devices[d]));
            groups.push(format!("lat_ms_{} smoothed", self.devices[d]));
        }
        groups.push("macs".to_string());
        let groups = groups.into_iter().enumerate().map(|(c, name)| ColumnGroup::log(name, vec![c])).collect();
        let rows = (0..self.log_macs.len())
            .map(|i| {
                let mut r: Vec<f64> =
                    others.iter().flat_map(|&d| [self.log_latency[d][i], self.smoothed[d][i]]).collect();
                r.push(self.log_macs[i]);
                r
            })
            .collect();
        Ok((rows, groups))
    }

    /// The `k` architectures measured on `target` for seed `seed`, spread over the mean
    /// log-latency of the other devices (which never reads `target`'s column).
    pub fn samples(&self, target: &str, k: usize, seed: u64) -> Result<Vec<usize>, PredictorError> {
        let t = self.device(target)?;
        let others: Vec<usize> = (0..self.devices.len()).filter(|&d| d != t).collect();
        let score: Vec<f64> = (0..self.log_macs.len())
            .map(|i| others.iter().map(|&d| self.log_latency[d][i]).sum::<f64>() / others.len() as f64)
            .collect();
        Ok(stratified_sample(&score, k, &mut SeededRng::derive(seed, "predictor.samples")))
    }
}

/// MACs of NB201 architectures from 25 cost analyses instead of one per architecture: an
/// NB201 network's MACs are those of the all-`skip_connect` network plus what the op of
/// each live edge adds (every edge runs on the same cell shape). An edge is live when a
/// path of non-`none` edges leads from the cell input through it to the cell output; the
/// others read only zeros or feed nothing, so no engine runs them and
/// [`ArchFeatures`] does not count them. A cell with no such path outputs zeros, and the
/// deployed graph folds everything before it away: such a network costs what the
/// all-`none` one does.
pub struct Nb201Macs {
    base: u64,
    disconnected: u64,
    added: [[u64; 5]; NB201_EDGES],
}

impl Nb201Macs {
    pub fn new() -> Result<Self, PredictorError> {
        let macs_of = |arch: &Nb201Arch| -> Result<u64, PredictorError> {
            let graph = Genome::Nb201(Nb201Genome::from_arch(arch))
                .build()
                .map_err(|e| PredictorError::Config(format!("{arch}: {e}")))?;
            Ok(ArchFeatures::of_architecture(&graph, Precision::F32)
                .map_err(|e| PredictorError::Config(format!("{arch}: {e}")))?
                .macs)
        };
        let skips = Nb201Arch { ops: [Nb201Op::SkipConnect; NB201_EDGES] };
        let base = macs_of(&skips)?;
        let mut added = [[0; 5]; NB201_EDGES];
        for (edge, row) in added.iter_mut().enumerate() {
            for op in [Nb201Op::NorConv1x1, Nb201Op::NorConv3x3, Nb201Op::AvgPool3x3] {
                let mut arch = skips;
                arch.ops[edge] = op;
                row[op as usize] = macs_of(&arch)?.saturating_sub(base);
            }
        }
        let disconnected = macs_of(&Nb201Arch { ops: [Nb201Op::None; NB201_EDGES] })?;
        Ok(Nb201Macs { base, disconnected, added })
    }

    pub fn of(&self, arch: &Nb201Arch) -> u64 {
        const ENDS: [(usize, usize); NB201_EDGES] = [(0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3)];
        let open = |e: usize| arch.ops[e] != Nb201Op::None;
        let mut from_input = [true, false, false, false];
        for (e, &(a, b)) in ENDS.iter().enumerate() {
            from_input[b] |= open(e) && from_input[a];
        }
        let mut to_output = [false, false, false, true];
        for (e, &(a, b)) in ENDS.iter().enumerate().rev() {
            to_output[a] |= open(e) && to_output[b];
        }
        if !to_output[0] {
            return self.disconnected;
        }
        self.base
            + (0..NB201_EDGES)
                .filter(|&e| open(e) && from_input[ENDS[e].0] && to_output[ENDS[e].1])
                .map(|e| self.added[e][arch.ops[e] as usize])
                .sum::<u64>()
    }
}

/// Fits the predictor of `target` from the measured `samples` only: the target column is
/// read at those rows and nowhere else.
pub fn fit_from_samples(
    priors: &TablePriors,
    table: &Nb201Table,
    target: &str,
    samples: &[usize],
) -> Result<(LatencyEnsemble, Vec<Vec<f64>>), PredictorError> {
    let t = priors.device(target)?;
    let (rows, groups) = priors.inputs(target)?;
    let x: Vec<Vec<f64>> = samples.iter().map(|&i| rows[i].clone()).collect();
    let y: Vec<f64> = samples.iter().map(|&i| table.rows()[i].latency_ms[t].ln()).collect();
    let ensemble = LatencyEnsemble::fit(&x, &y, &groups).ok_or_else(|| {
        PredictorError::Config(format!("cannot fit a predictor from {} samples; it takes at least 3", samples.len()))
    })?;
    Ok((ensemble, rows))
}

/// One seed's score.
#[derive(Debug, Clone, Serialize)]
pub struct EvalRun {
    pub seed: u64,
    pub spearman: f64,
    pub kendall: f64,
    /// Share of the remaining architectures predicted within ±10% of the table.
    pub within_10pct: f64,
}

/// One device at one `K`, over all seeds.
#[derive(Debug, Clone, Serialize)]
pub struct DeviceEval {
    pub device: String,
    pub samples: usize,
    pub spearman_mean: f64,
    pub spearman_worst: f64,
    pub kendall_mean: f64,
    pub kendall_worst: f64,
    pub within_10pct_mean: f64,
    pub within_10pct_worst: f64,
    /// Spearman ρ of plain MACs against the column (no samples needed).
    pub macs_spearman: f64,
    pub runs: Vec<EvalRun>,
}

/// Scores `device` at `k` samples for seeds `0..seeds`.
pub fn eval_device(
    priors: &TablePriors,
    table: &Nb201Table,
    device: &str,
    k: usize,
    seeds: u64,
) -> Result<DeviceEval, PredictorError> {
    if seeds == 0 {
        return Err(PredictorError::Config("the number of seeds must be at least 1".into()));
    }
    if k < 3 || k >= table.rows().len() {
        return Err(PredictorError::Config(format!(
            "--samples {k}: it takes at least 3 and fewer than the table's rows"
        )));
    }
    let t = priors.device(device)?;
    let truth: Vec<f64> = table.rows().iter().map(|r| r.latency_ms[t]).collect();
    let mut runs = Vec::with_capacity(seeds as usize);
    for seed in 0..seeds {
        let samples = priors.samples(device, k, seed)?;
        let (ensemble, rows) = fit_from_samples(priors, table, device, &samples)?;
        let mut held_out = vec![true; truth.len()];
        for &s in &samples {
            held_out[s] = false;
        }
        let (mut predicted, mut actual) = (Vec::new(), Vec::new());
        for i in (0..truth.len()).filter(|&i| held_out[i]) {
            predicted.push(ensemble.predict(&rows[i]).value());
            actual.push(truth[i]);
        }
        let within = predicted.iter().zip(&actual).filter(|(p, a)| ((*p - *a) / *a).abs() <= 0.10).count();
        runs.push(EvalRun {
            seed,
            spearman: stats::spearman(&predicted, &actual),
            kendall: stats::kendall_tau_b(&predicted, &actual),
            within_10pct: within as f64 / actual.len() as f64,
        });
    }
    let mean = |f: fn(&EvalRun) -> f64| runs.iter().map(f).sum::<f64>() / runs.len() as f64;
    let worst = |f: fn(&EvalRun) -> f64| runs.iter().map(f).fold(f64::INFINITY, f64::min);
    Ok(DeviceEval {
        device: device.to_string(),
        samples: k,
        spearman_mean: mean(|r| r.spearman),
        spearman_worst: worst(|r| r.spearman),
        kendall_mean: mean(|r| r.kendall),
        kendall_worst: worst(|r| r.kendall),
        within_10pct_mean: mean(|r| r.within_10pct),
        within_10pct_worst: worst(|r| r.within_10pct),
        macs_spearman: stats::spearman(&priors.log_macs, &truth),
        runs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nb201_macs_by_edges_equal_the_cost_analysis() {
        let macs = Nb201Macs::new().unwrap();
        let table = Nb201Table::builtin();
        for index in (0..table.rows().len()).step_by(311).chain([6111, 15624, 4556, 10398]) {
            let arch = table.rows()[index].arch;
            let graph = Genome::Nb201(Nb201Genome::from_arch(&arch)).build().unwrap();
            let full = ArchFeatures::of_architecture(&graph, Precision::F32).unwrap().macs;
            assert_eq!(macs.of(&arch), full, "index {index}");
        }
    }
}
