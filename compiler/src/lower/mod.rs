//! From an architecture graph to the graph that is deployed: weights initialized from a
//! seed, then the deploy rewrites (identity and zero-edge elimination, BatchNorm folding,
//! dead-node removal). The deployed graph computes exactly what the architecture graph
//! computes with the same weights.

mod rewrites;
mod weights;

pub use rewrites::{EliminateIdentity, FoldBatchNorm, FoldZeroAdd, PropagateZero, RemoveDeadNodes, ZeroToConstant};
pub use weights::{initialize_weights, set_batchnorm_statistics, BatchNormStatistics};

use crate::ir::{Graph, IrError, Rewrite};

/// The deploy rewrites, in the order they are tried at each node.
pub fn deploy_rules() -> [&'static dyn Rewrite; 6] {
    [&EliminateIdentity, &FoldZeroAdd, &PropagateZero, &ZeroToConstant, &FoldBatchNorm, &RemoveDeadNodes]
}

/// Applies the deploy rewrites to a copy of `graph`. Works with or without weights:
/// without, BatchNorm folding only changes the structure (for cost analysis).
pub fn deploy(graph: &Graph) -> Result<Graph, IrError> {
    let mut g = graph.clone();
    g.rewrite(&deploy_rules())?;
    Ok(g)
}

/// Initializes weights deterministically from `seed` and returns the deployed graph.
pub fn lower(graph: &Graph, seed: u64) -> Result<Graph, IrError> {
    let mut g = graph.clone();
    initialize_weights(&mut g, seed)?;
    deploy(&g)
}
