use crate::ir::{element_count, Graph, GraphPatch, IrError, Op, ParamTensor};

/// Most parameter values [`initialize_weights`] allocates (2^30: 4 GiB of f32 weights,
/// beyond any model meant for an edge device).
pub const MAX_INITIALIZED_PARAMS: usize = 1 << 30;
use crate::rng::SeededRng;

/// Gives every parametrized node deterministic weights from `seed` and its name:
/// He-normal conv and linear weights (std = sqrt(2 / fan_in)), biases U(-0.1, 0.1),
/// BatchNorm scale U(0.5, 1.5), shift U(-0.2, 0.2), mean U(-0.2, 0.2), var U(0.5, 1.5).
/// A node's weights depend only on (seed, node name, op), not on graph order.
///
/// Errors beside [`Graph::infer_types`]'s: more than [`MAX_INITIALIZED_PARAMS`] parameter
/// values in all ([`IrError::TooManyParams`]), refused before anything is allocated.
pub fn initialize_weights(graph: &mut Graph, seed: u64) -> Result<(), IrError> {
    graph.infer_types()?;
    let total = graph
        .node_ids()
        .flat_map(|id| graph.node(id).op.def().param_shapes())
        .fold(0usize, |sum, shape| sum.saturating_add(element_count(&shape).unwrap_or(usize::MAX)));
    if total > MAX_INITIALIZED_PARAMS {
        return Err(IrError::TooManyParams { values: total, max: MAX_INITIALIZED_PARAMS });
    }
    let ids: Vec<_> = graph.node_ids().collect();
    for id in ids {
        let node = graph.node(id);
        let params = match &node.op {
            Op::Conv(c) => {
                let fan_in = (c.in_channels / c.groups) * c.kernel * c.kernel;
                he_and_bias(seed, &node.name, node.op.def().param_shapes(), fan_in)
            }
            Op::Linear(l) => he_and_bias(seed, &node.name, node.op.def().param_shapes(), l.in_features),
            Op::BatchNorm(bn) => {
                let mut rng = SeededRng::derive(seed, &node.name);
                let ranges = [(0.5, 1.5), (-0.2, 0.2), (-0.2, 0.2), (0.5, 1.5)];
                ranges
                    .iter()
                    .map(|&(lo, hi)| {
                        ParamTensor::new(vec![bn.channels], (0..bn.channels).map(|_| rng.uniform(lo, hi)).collect())
                    })
                    .collect()
            }
            _ => continue,
        };
        let op = node.op.clone();
        GraphPatch::new().replace_op(id, op, params).apply(graph);
    }
    graph.infer_types()
}

fn he_and_bias(seed: u64, name: &str, shapes: Vec<Vec<usize>>, fan_in: usize) -> Vec<ParamTensor> {
    let mut rng = SeededRng::derive(seed, name);
    let std = (2.0 / fan_in.max(1) as f32).sqrt();
    shapes
        .into_iter()
        .enumerate()
        .map(|(i, shape)| {
            let n = element_count(&shape).unwrap_or(0);
            let data = if i == 0 {
                (0..n).map(|_| rng.normal() * std).collect()
            } else {
                (0..n).map(|_| rng.uniform(-0.1, 0.1)).collect()
            };
            ParamTensor::new(shape, data)
        })
        .collect()
}

/// Per-BatchNorm running statistics by node name: `(mean, variance)`, each `[channels]`.
pub type BatchNormStatistics = std::collections::HashMap<String, (Vec<f32>, Vec<f32>)>;

/// Replaces the running mean and variance of every BatchNorm with `stats[node name]`,
/// keeping its scale and shift: what a trained network in eval mode carries, so that
/// activations stay normalized through the depth of a seeded network.
///
/// Errors: a BatchNorm without weights or missing from `stats`, or statistics of the wrong
/// length → [`IrError::Params`] / [`IrError::Attribute`] naming the node; a negative or
/// non-finite value → [`IrError::Attribute`].
pub fn set_batchnorm_statistics(graph: &mut Graph, stats: &BatchNormStatistics) -> Result<(), IrError> {
    let ids: Vec<_> = graph.node_ids().collect();
    for id in ids {
        let node = graph.node(id);
        let Op::BatchNorm(bn) = &node.op else { continue };
        let attribute = |reason: String| IrError::Attribute { node: node.name.clone(), reason };
        if node.params.len() != 4 {
            return Err(IrError::Params { node: node.name.clone(), expected: 4, got: node.params.len() });
        }
        let (mean, var) = stats.get(&node.name).ok_or_else(|| attribute("no batch statistics".into()))?;
        if mean.len() != bn.channels || var.len() != bn.channels {
            return Err(attribute(format!(
                "statistics of {} / {} values for {} channels",
                mean.len(),
                var.len(),
                bn.channels
            )));
        }
        if mean.iter().any(|m| !m.is_finite()) || var.iter().any(|v| !v.is_finite() || *v < 0.0) {
            return Err(attribute("non-finite mean or negative variance".into()));
        }
        let mut params = node.params.clone();
        params[2] = ParamTensor::new(vec![bn.channels], mean.clone());
        params[3] = ParamTensor::new(vec![bn.channels], var.clone());
        let op = node.op.clone();
        GraphPatch::new().replace_op(id, op, params).apply(graph);
    }
    Ok(())
}
