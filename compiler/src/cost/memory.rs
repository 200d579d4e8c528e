use crate::ir::{DType, Graph, IrError, NodeId, Op};

/// Activation liveness over the execution order: a tensor is live from the step that
/// produces it through the step of its last consumer (graph outputs until the end).
/// Constants (zero tensors left by NB201 `none` edges) are weights, not activations.
#[derive(Debug, Clone)]
pub struct ActivationSchedule {
    pub order: Vec<NodeId>,
    /// Bytes live during each step of `order`.
    pub live_bytes: Vec<u64>,
    pub peak_bytes: u64,
    pub peak_at: Option<NodeId>,
}

/// Computes liveness of a type-inferred graph with activations stored at `dtype`.
pub fn activation_schedule(graph: &Graph, dtype: DType) -> Result<ActivationSchedule, IrError> {
    let order = graph.execution_order()?;
    let mut step_of = vec![0usize; order.iter().map(|n| n.index() + 1).max().unwrap_or(0)];
    for (step, id) in order.iter().enumerate() {
        step_of[id.index()] = step;
    }
    let last = order.len().saturating_sub(1);
    let mut delta = vec![0i64; order.len() + 1];
    for (step, &id) in order.iter().enumerate() {
        let bytes = match graph.node(id).op {
            Op::ZeroConst(_) => 0,
            _ => graph.output_type(id).map_or(0, |t| t.numel() * dtype.size()) as i64,
        };
        let end = if graph.outputs().contains(&id) {
            last
        } else {
            graph.consumers(id).iter().map(|&(c, _)| step_of[c.index()]).max().unwrap_or(step)
        };
        delta[step] += bytes;
        delta[end + 1] -= bytes;
    }
    let mut live_bytes = Vec::with_capacity(order.len());
    let mut running = 0i64;
    for d in delta.iter().take(order.len()) {
        running += d;
        live_bytes.push(running as u64);
    }
    let peak_step = live_bytes.iter().enumerate().max_by_key(|&(i, b)| (*b, std::cmp::Reverse(i))).map(|(i, _)| i);
    Ok(ActivationSchedule {
        peak_bytes: peak_step.map_or(0, |s| live_bytes[s]),
        peak_at: peak_step.map(|s| order[s]),
        order,
        live_bytes,
    })
}
