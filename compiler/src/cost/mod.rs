//! Cost analysis of an architecture graph: MACs, parameters, deployed weight bytes per
//! precision, and peak activation memory in the execution order actually used.

mod features;
mod memory;

pub use features::{ArchFeatures, OP_FAMILIES, STAGES};

pub use memory::{activation_schedule, ActivationSchedule};

use serde::{Deserialize, Serialize};

use crate::ir::{DType, Graph, IrError, TensorType};
use crate::lower;

/// Weight storage of the deployed graph at each precision. int8 keeps int32 biases.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct WeightBytes {
    pub f32: u64,
    pub f16: u64,
    pub int8: u64,
}

/// One row of the per-layer table: a node of the deployed graph, in execution order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerCost {
    pub name: String,
    pub op: String,
    pub output_shape: Vec<usize>,
    pub macs: u64,
    pub weight_bytes_f32: u64,
    /// f32 activation bytes alive while this node runs (its inputs, its output, and every
    /// earlier tensor still awaiting a consumer).
    pub live_activation_bytes: u64,
}

/// Costs of one architecture, all for batch size 1 as given by the graph's input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CostReport {
    /// Multiply-accumulates of Conv and Linear layers (the convention of the MobileNet and
    /// NAS-Bench-201 papers).
    pub macs: u64,
    /// Trainable parameters as a training framework counts them (BatchNorm scale and shift
    /// included, running statistics not).
    pub params: u64,
    /// Bytes of the deployed weights (BatchNorm folded into convolutions).
    pub weight_bytes: WeightBytes,
    /// Largest sum of live f32 activation bytes over the deployed graph's execution order.
    pub peak_activation_bytes: u64,
    /// The node during which that peak occurs.
    pub peak_at: String,
    pub input_shape: Vec<usize>,
    pub output_shape: Vec<usize>,
    pub layers: Vec<LayerCost>,
}

impl CostReport {
    /// Analyzes `graph` (validated first) and its deployed form.
    pub fn analyze(graph: &Graph) -> Result<Self, IrError> {
        let mut arch = graph.clone();
        arch.infer_types()?;
        let params = arch.node_ids().map(|n| arch.node(n).op.def().trainable_params()).sum();
        let deployed = lower::deploy(&arch)?;
        Self::of_deployed(&deployed, params)
    }

    /// Costs of an already deployed graph (e.g. one imported from ONNX, whose trainable
    /// parameter count is unknown and taken as `params`).
    pub fn of_deployed(deployed: &Graph, params: u64) -> Result<Self, IrError> {
        let mut g = deployed.clone();
        g.infer_types()?;
        let schedule = activation_schedule(&g, DType::F32)?;
        let mut layers = Vec::with_capacity(schedule.order.len());
        let mut macs = 0;
        let mut weight_bytes = WeightBytes { f32: 0, f16: 0, int8: 0 };
        for (step, &id) in schedule.order.iter().enumerate() {
            let node = g.node(id);
            let def = node.op.def();
            let producers = g.inputs_of(id)?;
            let in_types: Vec<&TensorType> = producers.iter().filter_map(|&p| g.output_type(p)).collect();
            let out = g.output_type(id).cloned().unwrap_or_else(|| TensorType::f32(Vec::new()));
            let layer_macs = def.macs(&in_types, &out);
            macs += layer_macs;
            weight_bytes.f32 += def.weight_bytes(DType::F32);
            weight_bytes.f16 += def.weight_bytes(DType::F16);
            weight_bytes.int8 += def.weight_bytes(DType::I8);
            layers.push(LayerCost {
                name: node.name.clone(),
                op: def.name().to_string(),
                output_shape: out.shape.clone(),
                macs: layer_macs,
                weight_bytes_f32: def.weight_bytes(DType::F32),
                live_activation_bytes: schedule.live_bytes[step],
            });
        }
        let first_input = g.inputs().first().and_then(|&i| g.output_type(i)).map(|t| t.shape.clone());
        let first_output = g.outputs().first().and_then(|&o| g.output_type(o)).map(|t| t.shape.clone());
        Ok(CostReport {
            macs,
            params,
            weight_bytes,
            peak_activation_bytes: schedule.peak_bytes,
            peak_at: schedule.peak_at.map(|id| g.node(id).name.clone()).unwrap_or_default(),
            input_shape: first_input.unwrap_or_default(),
            output_shape: first_output.unwrap_or_default(),
            layers,
        })
    }
}
