use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashSet};

use petgraph::stable_graph::{NodeIndex, StableDiGraph};
use petgraph::visit::EdgeRef;
use petgraph::Direction;

use super::ops::{Input, Op};
use super::{element_count, IrError, ParamTensor, TensorType, MAX_TENSOR_ELEMENTS};

/// Index of a node in a [`Graph`]; stable across removals.
pub type NodeId = NodeIndex<u32>;

/// One operation and the single tensor it produces.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// Unique name; becomes the ONNX node and output tensor name.
    pub name: String,
    pub op: Op,
    /// Parameter tensors in the order of `op.def().param_shapes()`; empty until
    /// [`crate::lower`] initializes weights.
    pub params: Vec<ParamTensor>,
    /// Output type, filled by [`Graph::infer_types`].
    pub output: Option<TensorType>,
}

/// A model as a DAG: nodes are ops, an edge `a -> b` with weight `slot` feeds `a`'s output
/// into input `slot` of `b`. Invariant after [`Graph::infer_types`] succeeds: acyclic, every
/// input slot of every node connected exactly once, every output type known, names unique.
#[derive(Debug, Clone, Default)]
pub struct Graph {
    dag: StableDiGraph<Node, usize>,
    outputs: Vec<NodeId>,
}

impl Graph {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a graph input of type `ty`.
    pub fn add_input(&mut self, name: impl Into<String>, ty: TensorType) -> NodeId {
        self.add_node(name, Op::Input(Input { ty }), &[])
    }

    /// Adds `op` fed by `inputs` (slot i from `inputs[i]`); returns the new node.
    pub fn add_node(&mut self, name: impl Into<String>, op: Op, inputs: &[NodeId]) -> NodeId {
        let id = self.dag.add_node(Node { name: name.into(), op, params: Vec::new(), output: None });
        for (slot, &src) in inputs.iter().enumerate() {
            self.dag.add_edge(src, id, slot);
        }
        id
    }

    /// Connects `from` to input `slot` of `to`; for building graphs edge by edge.
    pub fn connect(&mut self, from: NodeId, to: NodeId, slot: usize) {
        self.dag.add_edge(from, to, slot);
    }

    pub fn set_outputs(&mut self, outputs: Vec<NodeId>) {
        self.outputs = outputs;
    }

    pub fn outputs(&self) -> &[NodeId] {
        &self.outputs
    }

    /// Graph inputs in creation order.
    pub fn inputs(&self) -> Vec<NodeId> {
        self.dag.node_indices().filter(|&n| matches!(self.dag[n].op, Op::Input(_))).collect()
    }

    pub fn node(&self, id: NodeId) -> &Node {
        &self.dag[id]
    }

    pub fn node_ids(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.dag.node_indices()
    }

    pub fn len(&self) -> usize {
        self.dag.node_count()
    }

    pub fn is_empty(&self) -> bool {
        self.dag.node_count() == 0
    }

    /// Output type of `id`; `None` before [`Graph::infer_types`].
    pub fn output_type(&self, id: NodeId) -> Option<&TensorType> {
        self.dag[id].output.as_ref()
    }

    /// Producers of `id`'s input slots, in slot order. Errors when a slot is missing,
    /// doubly connected, or the count differs from the op's arity.
    pub fn inputs_of(&self, id: NodeId) -> Result<Vec<NodeId>, IrError> {
        let node = &self.dag[id];
        let arity = node.op.def().arity();
        let got = self.dag.edges_directed(id, Direction::Incoming).count();
        if got > arity {
            return Err(IrError::Arity { node: node.name.clone(), op: node.op.name(), expected: arity, got });
        }
        let mut slots: Vec<Option<NodeId>> = vec![None; arity];
        for edge in self.dag.edges_directed(id, Direction::Incoming) {
            match slots.get_mut(*edge.weight()) {
                Some(slot @ None) => *slot = Some(edge.source()),
                _ => return Err(IrError::Arity { node: node.name.clone(), op: node.op.name(), expected: arity, got }),
            }
        }
        slots
            .into_iter()
            .enumerate()
            .map(|(slot, s)| s.ok_or_else(|| IrError::DanglingInput { node: node.name.clone(), slot }))
            .collect()
    }

    /// Consumers of `id`'s output as `(consumer, slot)`, in edge order.
    pub fn consumers(&self, id: NodeId) -> Vec<(NodeId, usize)> {
        let mut c: Vec<_> =
            self.dag.edges_directed(id, Direction::Outgoing).map(|e| (e.target(), *e.weight())).collect();
        c.sort();
        c
    }

    /// The order nodes execute in and are emitted in: topological, ties broken by creation
    /// order, so it is deterministic and equals creation order for graphs built front to back.
    pub fn execution_order(&self) -> Result<Vec<NodeId>, IrError> {
        let mut indegree: Vec<usize> = vec![0; self.dag.capacity().0];
        for n in self.dag.node_indices() {
            indegree[n.index()] = self.dag.edges_directed(n, Direction::Incoming).count();
        }
        let mut ready: BinaryHeap<Reverse<NodeId>> =
            self.dag.node_indices().filter(|n| indegree[n.index()] == 0).map(Reverse).collect();
        let mut order = Vec::with_capacity(self.dag.node_count());
        while let Some(Reverse(n)) = ready.pop() {
            order.push(n);
            for e in self.dag.edges_directed(n, Direction::Outgoing) {
                let t = e.target();
                indegree[t.index()] -= 1;
                if indegree[t.index()] == 0 {
                    ready.push(Reverse(t));
                }
            }
        }
        if order.len() != self.dag.node_count() {
            let placed: HashSet<NodeId> = order.into_iter().collect();
            let stuck = self.dag.node_indices().find(|n| !placed.contains(n)).map(|n| self.dag[n].name.clone());
            return Err(IrError::Cycle { node: stuck.unwrap_or_default() });
        }
        Ok(order)
    }

    /// Validates the graph and computes every node's output type. See the type invariant.
    pub fn infer_types(&mut self) -> Result<(), IrError> {
        if self.outputs.is_empty() {
            return Err(IrError::NoOutput);
        }
        let mut names = HashSet::new();
        for n in self.dag.node_indices() {
            if !names.insert(self.dag[n].name.as_str()) {
                return Err(IrError::DuplicateName(self.dag[n].name.clone()));
            }
        }
        for id in self.execution_order()? {
            let producers = self.inputs_of(id)?;
            let types: Vec<&TensorType> = producers
                .iter()
                .map(|&p| self.dag[p].output.as_ref().expect("producers precede consumers in execution order"))
                .collect();
            let node = &self.dag[id];
            let ty = node
                .op
                .def()
                .output_type(&types)
                .map_err(|reason| IrError::ShapeMismatch { node: node.name.clone(), reason })?;
            if element_count(&ty.shape).is_none_or(|n| n > MAX_TENSOR_ELEMENTS) {
                return Err(IrError::TooLarge { node: node.name.clone(), what: "the output", shape: ty.shape });
            }
            if let Some(shape) = node
                .op
                .def()
                .param_shapes()
                .into_iter()
                .find(|s| element_count(s).is_none_or(|n| n > MAX_TENSOR_ELEMENTS))
            {
                return Err(IrError::TooLarge { node: node.name.clone(), what: "a parameter", shape });
            }
            if !node.params.is_empty() {
                let expected = node.op.def().param_shapes();
                let got: Vec<&Vec<usize>> = node.params.iter().map(|p| &p.shape).collect();
                if expected.len() != got.len() || expected.iter().zip(&got).any(|(a, b)| a != *b) {
                    return Err(IrError::Params { node: node.name.clone(), expected: expected.len(), got: got.len() });
                }
            }
            self.dag[id].output = Some(ty);
        }
        Ok(())
    }

    pub(crate) fn node_mut(&mut self, id: NodeId) -> &mut Node {
        &mut self.dag[id]
    }

    pub(crate) fn remove_node(&mut self, id: NodeId) {
        self.dag.remove_node(id);
        self.outputs.retain(|&o| o != id);
    }

    /// Makes every consumer of `old` (and the graph outputs) read `new` instead.
    pub(crate) fn replace_uses(&mut self, old: NodeId, new: NodeId) {
        for (consumer, slot) in self.consumers(old) {
            if let Some(e) = self.dag.find_edge(old, consumer) {
                self.dag.remove_edge(e);
            }
            self.dag.add_edge(new, consumer, slot);
        }
        for o in &mut self.outputs {
            if *o == old {
                *o = new;
            }
        }
    }

    pub(crate) fn disconnect_inputs(&mut self, id: NodeId) {
        let edges: Vec<_> = self.dag.edges_directed(id, Direction::Incoming).map(|e| e.id()).collect();
        for e in edges {
            self.dag.remove_edge(e);
        }
    }
}
