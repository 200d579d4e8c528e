//! Hardware-agnostic features of a deployed architecture for latency prediction: what each
//! op family costs in MACs and memory traffic, where in the network (by resolution stage)
//! that cost sits, and the totals a roofline model would read.

use serde::{Deserialize, Serialize};

use super::activation_schedule;
use std::collections::HashSet;

use crate::ir::{DType, Graph, IrError, NodeId, Op, TensorType};
use crate::lower;
use crate::quantize::Precision;

/// The op families features are grouped by, in [`ArchFeatures::values`] order.
pub const OP_FAMILIES: [&str; 8] = ["conv", "pointwise", "depthwise", "linear", "add", "pool", "activation", "other"];

/// Length of the log part of [`ArchFeatures::values`].
const LOG_VALUES: usize = 5 + 1 + 3 + 3 * OP_FAMILIES.len() + 2 * STAGES;

/// Resolution stages: a layer's stage is `log2(input resolution / its output height)`,
/// capped at the last one.
pub const STAGES: usize = 6;

/// Features of one architecture deployed in one precision. Byte counts are at the
/// precision's activation and weight widths (int8 models keep int32 biases, as deployed).
///
/// Only the layers an inference engine runs are counted: a layer whose value does not
/// depend on the graph input (it reads only zeros and constants, e.g. an NB201 edge after
/// a `none` edge) is folded to a constant by tract, and one whose value no output needs
/// (it feeds only `Zero` ops) is dropped. [`super::CostReport`] counts every layer, by the
/// NB201 paper's MACs convention; these features count what runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArchFeatures {
    pub precision: Precision,
    pub input_resolution: usize,
    pub macs: u64,
    pub params: u64,
    pub weight_bytes: u64,
    pub peak_activation_bytes: u64,
    /// Layers, MACs and input + weight + output bytes per op family ([`OP_FAMILIES`]).
    pub layers: [u64; OP_FAMILIES.len()],
    pub family_macs: [u64; OP_FAMILIES.len()],
    pub family_bytes: [u64; OP_FAMILIES.len()],
    /// MACs and memory traffic per resolution stage ([`STAGES`]).
    pub stage_macs: [u64; STAGES],
    pub stage_bytes: [u64; STAGES],
}

impl ArchFeatures {
    /// Features of an architecture graph (validated, then deployed as
    /// [`crate::lower::deploy`] does) in `precision`.
    pub fn of_architecture(graph: &Graph, precision: Precision) -> Result<Self, IrError> {
        let mut arch = graph.clone();
        arch.infer_types()?;
        let params = arch.node_ids().map(|n| arch.node(n).op.def().trainable_params()).sum();
        let deployed = lower::deploy(&arch)?;
        Self::of_deployed(&deployed, params, precision)
    }

    /// Features of an already deployed graph whose trainable parameter count is `params`.
    pub fn of_deployed(deployed: &Graph, params: u64, precision: Precision) -> Result<Self, IrError> {
        let mut g = deployed.clone();
        g.infer_types()?;
        let (act_dtype, weight_dtype) = match precision {
            Precision::F32 => (DType::F32, DType::F32),
            Precision::F16 | Precision::F16Mixed => (DType::F16, DType::F16),
            Precision::Int8 | Precision::Int8Mixed => (DType::I8, DType::I8),
        };
        let schedule = activation_schedule(&g, act_dtype)?;
        let input_resolution = g
            .inputs()
            .first()
            .and_then(|&i| g.output_type(i))
            .and_then(|t| t.shape.last().copied())
            .unwrap_or(1)
            .max(1);
        let bytes_at = |t: &TensorType| t.numel() as u64 * act_dtype.size() as u64;
        let runs = layers_that_run(&g, &schedule.order)?;
        let mut f = ArchFeatures {
            precision,
            input_resolution,
            macs: 0,
            params,
            weight_bytes: 0,
            peak_activation_bytes: schedule.peak_bytes,
            layers: [0; OP_FAMILIES.len()],
            family_macs: [0; OP_FAMILIES.len()],
            family_bytes: [0; OP_FAMILIES.len()],
            stage_macs: [0; STAGES],
            stage_bytes: [0; STAGES],
        };
        for &id in &schedule.order {
            if !runs.contains(&id) {
                continue;
            }
            let node = g.node(id);
            let family = match &node.op {
                Op::Input(_) | Op::ZeroConst(_) => continue,
                Op::Conv(c) if c.groups > 1 && c.groups == c.in_channels => 2,
                Op::Conv(c) if c.kernel == 1 => 1,
                Op::Conv(_) => 0,
                Op::Linear(_) => 3,
                Op::Add(_) => 4,
                Op::Pool(_) | Op::GlobalAvgPool(_) => 5,
                Op::Activation(_) => 6,
                _ => 7,
            };
            let def = node.op.def();
            let inputs: Vec<&TensorType> = g.inputs_of(id)?.into_iter().filter_map(|p| g.output_type(p)).collect();
            let Some(out) = g.output_type(id) else { continue };
            let macs = def.macs(&inputs, out);
            let weights = def.weight_bytes(weight_dtype);
            let traffic = inputs.iter().map(|t| bytes_at(t)).sum::<u64>() + weights + bytes_at(out);
            let height = if out.shape.len() == 4 { out.shape[2].max(1) } else { 1 };
            let stage = ((input_resolution / height).max(1).ilog2() as usize).min(STAGES - 1);
            f.macs += macs;
            f.weight_bytes += weights;
            f.layers[family] += 1;
            f.family_macs[family] += macs;
            f.family_bytes[family] += traffic;
            f.stage_macs[stage] += macs;
            f.stage_bytes[stage] += traffic;
        }
        Ok(f)
    }

    /// Names of [`ArchFeatures::values`], in order.
    pub fn names() -> Vec<String> {
        let mut names: Vec<String> =
            ["log_macs", "log_params", "log_weight_bytes", "log_peak_activation_bytes", "log_input_resolution"]
                .map(String::from)
                .into();
        names.push("depthwise_mac_share".into());
        for p in ["f16", "int8", "mixed"] {
            names.push(format!("precision_{p}"));
        }
        for fam in OP_FAMILIES {
            names.push(format!("{fam}_layers"));
            names.push(format!("{fam}_log_macs"));
            names.push(format!("{fam}_log_bytes"));
        }
        for s in 0..STAGES {
            names.push(format!("stage{s}_log_macs"));
            names.push(format!("stage{s}_log_bytes"));
        }
        names.push("mmacs".into());
        for fam in OP_FAMILIES {
            names.push(format!("{fam}_layers_linear"));
            names.push(format!("{fam}_mmacs"));
            names.push(format!("{fam}_mbytes"));
        }
        names
    }

    /// Columns of [`ArchFeatures::values`] that are logs of sizes (and counts and flags):
    /// inputs of a power-law model of log-latency.
    pub fn log_columns() -> std::ops::Range<usize> {
        0..LOG_VALUES
    }

    /// Columns of [`ArchFeatures::values`] that are sizes themselves (millions of MACs and
    /// bytes per op family, layer counts): inputs of an additive cost model of latency.
    pub fn linear_columns() -> std::ops::Range<usize> {
        LOG_VALUES..LOG_VALUES + 1 + 3 * OP_FAMILIES.len()
    }

    /// The features as numbers for a regression: first [`ArchFeatures::log_columns`]
    /// (counts as they are, sizes as `ln(1 + x)`), then [`ArchFeatures::linear_columns`]
    /// (sizes in millions).
    pub fn values(&self) -> Vec<f64> {
        let log = |v: u64| (v as f64).ln_1p();
        let mut v = vec![
            log(self.macs),
            log(self.params),
            log(self.weight_bytes),
            log(self.peak_activation_bytes),
            log(self.input_resolution as u64),
        ];
        v.push(if self.macs == 0 { 0.0 } else { self.family_macs[2] as f64 / self.macs as f64 });
        let p = self.precision;
        let flag = |on: bool| if on { 1.0 } else { 0.0 };
        v.push(flag(matches!(p, Precision::F16 | Precision::F16Mixed)));
        v.push(flag(matches!(p, Precision::Int8 | Precision::Int8Mixed)));
        v.push(flag(matches!(p, Precision::F16Mixed | Precision::Int8Mixed)));
        for i in 0..OP_FAMILIES.len() {
            v.push(self.layers[i] as f64);
            v.push(log(self.family_macs[i]));
            v.push(log(self.family_bytes[i]));
        }
        for s in 0..STAGES {
            v.push(log(self.stage_macs[s]));
            v.push(log(self.stage_bytes[s]));
        }
        v.push(self.macs as f64 * 1e-6);
        for i in 0..OP_FAMILIES.len() {
            v.push(self.layers[i] as f64);
            v.push(self.family_macs[i] as f64 * 1e-6);
            v.push(self.family_bytes[i] as f64 * 1e-6);
        }
        v
    }
}

/// The nodes whose value depends on the graph input and is needed by an output, less the
/// additions of zeros (an `Add` with one operand that is not zero is that operand).
fn layers_that_run(g: &Graph, order: &[NodeId]) -> Result<HashSet<NodeId>, IrError> {
    let mut varies = HashSet::new();
    let mut zero = HashSet::new();
    let mut identity_adds = HashSet::new();
    for &id in order {
        let inputs = g.inputs_of(id)?;
        let op = &g.node(id).op;
        let depends = match op {
            Op::Input(_) => true,
            Op::Zero(_) | Op::ZeroConst(_) => false,
            _ => inputs.iter().any(|p| varies.contains(p)),
        };
        let is_zero = match op {
            Op::Zero(_) | Op::ZeroConst(_) => true,
            Op::Add(_) | Op::Identity(_) | Op::Pool(_) | Op::GlobalAvgPool(_) | Op::Flatten(_) => {
                inputs.iter().all(|p| zero.contains(p))
            }
            _ => false,
        };
        if depends {
            varies.insert(id);
        }
        if is_zero {
            zero.insert(id);
        }
        if matches!(op, Op::Add(_)) && inputs.iter().filter(|p| !zero.contains(*p)).count() < 2 {
            identity_adds.insert(id);
        }
    }
    let mut needed: HashSet<NodeId> = g.outputs().iter().copied().collect();
    for &id in order.iter().rev() {
        if !needed.contains(&id) || matches!(g.node(id).op, Op::Zero(_)) {
            continue;
        }
        needed.extend(g.inputs_of(id)?);
    }
    Ok(varies.intersection(&needed).copied().filter(|id| !identity_adds.contains(id)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cost::CostReport;
    use crate::rng::SeededRng;
    use crate::space::{Genome, SearchSpace};

    #[test]
    fn features_agree_with_the_cost_report_and_name_every_value() {
        let nb201_6111 = Genome::Nb201(crate::space::nb201::Nb201Genome::from_index(6111).unwrap());
        let mbconv = SearchSpace::resolve("mbconv-phone").unwrap().sample(&mut SeededRng::new(5));
        for (name, genome) in [("nb201 6111 (no none edge)", nb201_6111), ("mbconv-phone", mbconv)] {
            let graph = genome.build().unwrap();
            let cost = CostReport::analyze(&graph).unwrap();
            let f = ArchFeatures::of_architecture(&graph, Precision::F32).unwrap();
            assert_eq!(f.macs, cost.macs, "{name}");
            assert_eq!(f.params, cost.params, "{name}");
            assert_eq!(f.weight_bytes, cost.weight_bytes.f32, "{name}");
            assert_eq!(f.peak_activation_bytes, cost.peak_activation_bytes, "{name}");
            assert_eq!(f.family_macs.iter().sum::<u64>(), f.macs);
            assert_eq!(f.stage_macs.iter().sum::<u64>(), f.macs);
            assert_eq!(ArchFeatures::names().len(), f.values().len());
            assert_eq!(ArchFeatures::linear_columns().end, f.values().len());
            assert_eq!(f.values()[ArchFeatures::linear_columns().start], f.macs as f64 * 1e-6);
            let int8 = ArchFeatures::of_architecture(&graph, Precision::Int8).unwrap();
            assert!(
                int8.peak_activation_bytes * 4 == f.peak_activation_bytes,
                "{name}: int8 activations are a quarter"
            );
            assert!(int8.weight_bytes < f.weight_bytes);
        }
    }

    #[test]
    fn layers_after_a_none_edge_are_not_counted() {
        let arch = |s: &str| {
            let g = Genome::Nb201(crate::space::nb201::Nb201Genome::from_arch(&s.parse().unwrap()));
            let graph = g.build().unwrap();
            (CostReport::analyze(&graph).unwrap().macs, ArchFeatures::of_architecture(&graph, Precision::F32).unwrap())
        };
        let (cost, folded) = arch("|none~0|+|none~0|nor_conv_1x1~1|+|skip_connect~0|nor_conv_1x1~1|nor_conv_1x1~2|");
        let (_, identity) = arch("|none~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|");
        assert!(folded.macs < cost, "the three 1x1 convs read zeros only");
        assert_eq!(folded.macs, identity.macs, "both cells compute the identity (plus constants)");
        assert_eq!(folded.layers[..4], identity.layers[..4], "no convolution or linear layer more");
        let (_, skips) = arch("|skip_connect~0|+|skip_connect~0|skip_connect~1|+|none~0|none~1|skip_connect~2|");
        assert_eq!(skips.layers[4], identity.layers[4] + 15, "one real add in each of the 15 cells (node 2 = x + x)");
    }

    #[test]
    fn depthwise_share_is_zero_for_nb201_and_positive_for_mbconv() {
        let nb = SearchSpace::resolve("nb201").unwrap().sample(&mut SeededRng::new(1)).build().unwrap();
        let mb = SearchSpace::resolve("mbconv-phone").unwrap().sample(&mut SeededRng::new(1)).build().unwrap();
        let at = |g: &Graph| ArchFeatures::of_architecture(g, Precision::F32).unwrap().values()[5];
        assert_eq!(at(&nb), 0.0);
        assert!(at(&mb) > 0.0);
    }
}
