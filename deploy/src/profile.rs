//! Per-layer profiles: what each node of tract's optimized plan costs on a target (wall
//! clock on this host, instructions under emulation), mapped back to the ONNX layers it
//! came from.

use std::time::Duration;

use edgenas_runtime::{profile_host, LatencyUnit, ModelProfile};
use edgenas_targets::{Measurement, Target};
use onnx_protobuf::{Message, ModelProto};
use serde::Serialize;

use crate::error::{DeployError, Step};
use crate::measure::DeviceMeasurer;
use crate::DeployProgress;

/// Unmeasured runs before a host profile.
const HOST_WARMUP: usize = 3;

/// One ONNX layer and the plan nodes that came from it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LayerCost {
    /// The ONNX node's name.
    pub layer: String,
    /// Its ONNX op type (`Conv`, `Add`, `QuantizeLinear`, ...).
    pub onnx_op: String,
    /// Plan steps attributed to it (see [`attribute_nodes`]); empty when tract folded the
    /// layer into another or removed it.
    pub steps: Vec<usize>,
    /// Sum of those nodes' costs, in the profile's unit.
    pub cost: f64,
    /// Sum of those nodes' MACs, as tract counts them.
    pub macs: u64,
}

impl LayerCost {
    /// MACs per unit of cost (per instruction, or per ns on a wall clock); `None` without
    /// MACs or cost.
    pub fn macs_per_unit(&self, unit: LatencyUnit) -> Option<f64> {
        macs_per_unit(self.macs, self.cost, unit)
    }
}

/// What `edgenas profile` reports for one model on one target.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProfileReport {
    pub model: String,
    pub target: String,
    /// Every plan node with its cost, and the whole-model cost.
    pub profile: ModelProfile,
    /// Every ONNX node of the model, in file order, with the plan nodes attributed to it.
    pub layers: Vec<LayerCost>,
    /// Plan steps no ONNX layer name accounts for (the source, nodes tract made up).
    pub unattributed: Vec<usize>,
}

impl ProfileReport {
    /// The plan as a text table: every node with the ONNX layer it came from, its tract
    /// op, MACs, cost, share and achieved MACs per ns (wall clock) or per instruction; then
    /// the totals and the ONNX layers tract folded into others.
    pub fn table(&self) -> String {
        let p = &self.profile;
        let (unit, scale, per) = match p.unit {
            LatencyUnit::Ms => ("µs", 1e3, "MAC/ns"),
            LatencyUnit::Instructions => ("instr", 1.0, "MAC/instr"),
        };
        let mut owner = vec![String::new(); p.nodes.len()];
        for layer in &self.layers {
            for &step in &layer.steps {
                owner[step] = layer.layer.clone();
            }
        }
        let mut out = format!("{} on {} ({} runs, medians)\n", self.model, self.target, p.runs);
        out += &format!(
            "{:>4}  {:<28} {:<36} {:<18} {:>12} {:>12} {:>6} {:>9}\n",
            "step", "onnx layer", "tract node", "tract op", "MACs", unit, "share", per
        );
        let total = p.node_total();
        for (node, layer) in p.nodes.iter().zip(&owner) {
            let cost = node.cost * scale;
            let rate = macs_per_unit(node.node.macs, node.cost, p.unit).map_or("-".to_string(), |r| format!("{r:.2}"));
            out += &format!(
                "{:>4}  {:<28} {:<36} {:<18} {:>12} {:>12.1} {:>5.1}% {:>9}\n",
                node.node.step,
                clip(layer, 28),
                clip(&node.node.name, 36),
                clip(&node.node.op, 18),
                node.node.macs,
                cost,
                100.0 * node.cost / total,
                rate
            );
        }
        out += &format!(
            "nodes sum to {:.1} {unit}; a whole run takes {:.1} {unit} (coverage {:.1}%)\n",
            total * scale,
            p.whole * scale,
            100.0 * p.coverage()
        );
        let folded: Vec<&str> = self.layers.iter().filter(|l| l.steps.is_empty()).map(|l| l.layer.as_str()).collect();
        if !folded.is_empty() {
            out += &format!("ONNX layers with no node of their own (folded by tract): {}\n", folded.join(", "));
        }
        out
    }
}

/// MACs per instruction, or per ns for a cost in ms; `None` without MACs or cost.
fn macs_per_unit(macs: u64, cost: f64, unit: LatencyUnit) -> Option<f64> {
    let per = match unit {
        LatencyUnit::Ms => cost * 1e6,
        LatencyUnit::Instructions => cost,
    };
    (macs > 0 && per > 0.0).then(|| macs as f64 / per)
}

fn clip(s: &str, width: usize) -> String {
    if s.chars().count() <= width {
        s.to_string()
    } else {
        let tail: String = s.chars().rev().take(width - 1).collect::<Vec<_>>().into_iter().rev().collect();
        format!("…{tail}")
    }
}

/// Profiles models on one target: in this process with tract for kind `host` (ms), or
/// shipped as `bench` ships them and counted per node by the target's emulator
/// (instructions). Microcontrollers and remote devices are not profiled per node.
pub struct Profiler {
    target: Target,
    device: Option<DeviceMeasurer>,
}

impl Profiler {
    /// Fails for a microcontroller or a remote device, naming why.
    pub fn new(target: &Target) -> Result<Self, DeployError> {
        let device = match target.measurement() {
            Measurement::Microcontroller => {
                return Err(DeployError::Invalid(format!(
                    "`{}` is a microcontroller: its firmware has no tract plan to profile (see `edgenas info` for \
                     its per-layer memory plan)",
                    target.name
                )))
            }
            Measurement::Local => None,
            Measurement::Emulated => Some(DeviceMeasurer::new(target.clone(), Default::default())?),
            Measurement::Remote => {
                return Err(DeployError::Invalid(format!(
                    "`{}` is a remote device: per-node profiles are counted on this host or under emulation only",
                    target.name
                )))
            }
        };
        Ok(Profiler { target: target.clone(), device })
    }

    /// Profiles the ONNX model `onnx` (`label` names it): `runs` pairs of a whole run and a
    /// node-by-node run (a deterministic count under emulation, so `runs` matters little
    /// there); `time_cap` sizes the emulator's timeout.
    pub fn profile(
        &self,
        label: &str,
        onnx: &[u8],
        runs: usize,
        time_cap: Duration,
        progress: &mut dyn FnMut(&DeployProgress<'_>),
    ) -> Result<ProfileReport, DeployError> {
        if runs == 0 {
            return Err(DeployError::Invalid("a profile needs at least one run".to_string()));
        }
        let layers = onnx_layers(onnx).map_err(|why| DeployError::Invalid(format!("{label}: {why}")))?;
        let profile = match &self.device {
            None => {
                let (model, _) = crate::compile_on_host(label, onnx)?;
                profile_host(&model, HOST_WARMUP, runs).step(format!("profiling {label}"))?
            }
            Some(device) => device.profile(onnx, runs, time_cap, progress)?,
        };
        let (layers, unattributed) = attribute_nodes(&layers, &profile);
        Ok(ProfileReport { model: label.to_string(), target: self.target.name.clone(), profile, layers, unattributed })
    }
}

/// [`Profiler::profile`] of one model.
pub fn profile_model(
    label: &str,
    onnx: &[u8],
    target: &Target,
    runs: usize,
    time_cap: Duration,
    progress: &mut dyn FnMut(&DeployProgress<'_>),
) -> Result<ProfileReport, DeployError> {
    Profiler::new(target)?.profile(label, onnx, runs, time_cap, progress)
}

/// Name and op type of every node of an ONNX model, in file order.
fn onnx_layers(onnx: &[u8]) -> Result<Vec<(String, String)>, String> {
    let model = ModelProto::parse_from_bytes(onnx).map_err(|e| format!("not an ONNX model: {e}"))?;
    Ok(model.graph.node.iter().map(|n| (n.name.clone(), n.op_type.clone())).collect())
}

/// Attributes each plan node to the ONNX layer whose name it carries: the layer named
/// exactly as the node, or else the longest layer name the node's name starts with,
/// followed by `.` or `_` (tract names the nodes a rewrite makes `LAYER.suffix`; the NNEF
/// round trip turns separators into `_`). Names are compared with every character that is
/// not ASCII alphanumeric replaced by `_`, as NNEF identifiers are written.
pub fn attribute_nodes(layers: &[(String, String)], profile: &ModelProfile) -> (Vec<LayerCost>, Vec<usize>) {
    let normalize = |s: &str| s.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect::<String>();
    let keys: Vec<String> = layers.iter().map(|(name, _)| normalize(name)).collect();
    let mut costs: Vec<LayerCost> = layers
        .iter()
        .map(|(layer, op)| LayerCost { layer: layer.clone(), onnx_op: op.clone(), steps: vec![], cost: 0.0, macs: 0 })
        .collect();
    let mut unattributed = Vec::new();
    for node in &profile.nodes {
        let name = normalize(&node.node.name);
        let exact = keys.iter().position(|k| !k.is_empty() && *k == name);
        let owner = exact.or_else(|| {
            keys.iter()
                .enumerate()
                .filter(|(_, k)| !k.is_empty() && name.len() > k.len() && name.starts_with(k.as_str()))
                .filter(|(_, k)| name.as_bytes()[k.len()] == b'_')
                .max_by_key(|(_, k)| k.len())
                .map(|(ix, _)| ix)
        });
        match owner {
            Some(ix) => {
                let layer = &mut costs[ix];
                layer.steps.push(node.node.step);
                layer.cost += node.cost;
                layer.macs += node.node.macs;
            }
            None => unattributed.push(node.node.step),
        }
    }
    (costs, unattributed)
}

#[cfg(test)]
mod tests {
    use edgenas_runtime::{NodeCost, PlanNode};

    use super::*;

    fn node(step: usize, name: &str, macs: u64, cost: f64) -> NodeCost {
        NodeCost { node: PlanNode { step, name: name.into(), op: "Op".into(), macs }, cost }
    }

    #[test]
    fn nodes_go_to_the_longest_layer_name_they_carry() {
        let layers: Vec<(String, String)> =
            [("cell1.e0", "Conv"), ("cell1.e01.conv", "Conv"), ("cell1.e01.relu", "Relu")]
                .map(|(n, o)| (n.to_string(), o.to_string()))
                .into();
        let profile = ModelProfile {
            unit: LatencyUnit::Instructions,
            runs: 1,
            whole: 100.0,
            nodes: vec![
                node(0, "input", 0, 1.0),
                node(1, "cell1.e01.conv.pad", 0, 2.0),
                node(2, "cell1_e01_conv_conv.matmatmul", 50, 40.0),
                node(3, "cell1.e0", 10, 7.0),
                node(4, "cell1.e012", 0, 1.0),
            ],
        };
        let (layers, unattributed) = attribute_nodes(&layers, &profile);
        assert_eq!(layers[0].steps, vec![3]);
        assert_eq!((layers[1].steps.clone(), layers[1].macs, layers[1].cost), (vec![1, 2], 50, 42.0));
        assert!(layers[2].steps.is_empty());
        assert_eq!(unattributed, vec![0, 4]);
        assert_eq!(layers[1].macs_per_unit(LatencyUnit::Instructions), Some(50.0 / 42.0));
    }
}
