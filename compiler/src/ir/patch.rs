use super::{Graph, IrError, NodeId, Op, ParamTensor};

/// A set of graph changes computed against an unchanged graph and applied at once.
/// Rewrites never mutate the graph themselves: they return a patch.
#[derive(Debug, Default, Clone)]
pub struct GraphPatch {
    replace_op: Vec<(NodeId, Op, Vec<ParamTensor>)>,
    detach: Vec<NodeId>,
    replace_uses: Vec<(NodeId, NodeId)>,
    remove: Vec<NodeId>,
}

impl GraphPatch {
    pub fn new() -> Self {
        Self::default()
    }

    /// Gives `node` a new op and parameters (its input edges stay).
    pub fn replace_op(mut self, node: NodeId, op: Op, params: Vec<ParamTensor>) -> Self {
        self.replace_op.push((node, op, params));
        self
    }

    /// Drops all input edges of `node` (for ops that become constants).
    pub fn detach_inputs(mut self, node: NodeId) -> Self {
        self.detach.push(node);
        self
    }

    /// Makes every consumer of `old`, and the graph outputs, read `new` instead.
    pub fn shunt(mut self, old: NodeId, new: NodeId) -> Self {
        self.replace_uses.push((old, new));
        self
    }

    /// Removes `node` and its edges.
    pub fn remove(mut self, node: NodeId) -> Self {
        self.remove.push(node);
        self
    }

    /// Applies the changes in the order: ops, detaches, shunts, removals.
    pub fn apply(self, graph: &mut Graph) {
        for (node, op, params) in self.replace_op {
            let n = graph.node_mut(node);
            n.op = op;
            n.params = params;
            n.output = None;
        }
        for node in self.detach {
            graph.disconnect_inputs(node);
        }
        for (old, new) in self.replace_uses {
            graph.replace_uses(old, new);
        }
        for node in self.remove {
            graph.remove_node(node);
        }
    }
}

/// A named local rewrite rule: looks at one node and proposes a patch, or nothing.
pub trait Rewrite {
    fn name(&self) -> &'static str;
    fn patch(&self, graph: &Graph, node: NodeId) -> Option<GraphPatch>;
}

impl Graph {
    /// Applies `rules` until none matches; returns how many patches were applied, per rule.
    /// Re-infers types after each patch, so a rule sees a consistent graph.
    pub fn rewrite(&mut self, rules: &[&dyn Rewrite]) -> Result<Vec<(&'static str, usize)>, IrError> {
        let mut counts: Vec<(&'static str, usize)> = rules.iter().map(|r| (r.name(), 0)).collect();
        self.infer_types()?;
        'fixpoint: loop {
            for id in self.execution_order()? {
                for (i, rule) in rules.iter().enumerate() {
                    if let Some(patch) = rule.patch(self, id) {
                        patch.apply(self);
                        self.infer_types()?;
                        counts[i].1 += 1;
                        continue 'fixpoint;
                    }
                }
            }
            return Ok(counts);
        }
    }
}
