use super::arch::EDGE_ENDPOINTS;
use super::{Nb201Arch, Nb201Op};
use crate::ir::ops::{
    Activation, Add, BatchNorm, Conv, Flatten, GlobalAvgPool, Identity, Linear, Pool, PoolKind, Zero,
};
use crate::ir::{Graph, IrError, NodeId, Op, TensorType};

/// The macro skeleton NB201 cells are trained in (NAS-Bench-201 `TinyNetwork`).
#[derive(Debug, Clone, PartialEq)]
pub struct Nb201Skeleton {
    /// Channels of the first stage; stages have C, 2C, 4C.
    pub channels: usize,
    /// Cells per stage.
    pub cells_per_stage: usize,
    pub resolution: usize,
    pub num_classes: usize,
}

impl Default for Nb201Skeleton {
    /// CIFAR-10: C = 16, N = 5, 32x32 input, 10 classes.
    fn default() -> Self {
        Nb201Skeleton { channels: 16, cells_per_stage: 5, resolution: 32, num_classes: 10 }
    }
}

/// Builds the NB201 network: 3x3 stem conv (C) + BN; three stages of N cells (C, 2C, 4C)
/// separated by residual reduction blocks (stride 2); BN-ReLU; global average pool;
/// linear classifier. Every edge op is a node (`none` → [`Zero`], `skip_connect` →
/// [`Identity`]), and each cell node sums its input edges, exactly as the reference code.
pub fn build_network(arch: &Nb201Arch, skel: &Nb201Skeleton) -> Result<Graph, IrError> {
    let mut b = Builder { g: Graph::new() };
    let r = skel.resolution;
    let input = b.g.add_input("input", TensorType::f32(vec![1, 3, r, r]));
    let c = skel.channels;
    let stem = b.g.add_node("stem.conv", Op::Conv(Conv::new(3, c, 3, 1)), &[input]);
    let mut x = b.g.add_node("stem.bn", Op::BatchNorm(BatchNorm::new(c)), &[stem]);
    let mut c_prev = c;
    let mut cell_index = 0;
    for stage in 0..3 {
        let c_stage = c << stage;
        if stage > 0 {
            x = b.reduction_block(&format!("cell{cell_index}"), x, c_prev, c_stage);
            cell_index += 1;
        }
        for _ in 0..skel.cells_per_stage {
            x = b.cell(&format!("cell{cell_index}"), arch, x, c_stage);
            cell_index += 1;
        }
        c_prev = c_stage;
    }
    let bn = b.g.add_node("lastact.bn", Op::BatchNorm(BatchNorm::new(c_prev)), &[x]);
    let relu = b.g.add_node("lastact.relu", Op::Activation(Activation::Relu), &[bn]);
    let gap = b.g.add_node("global_pool", Op::GlobalAvgPool(GlobalAvgPool), &[relu]);
    let flat = b.g.add_node("flatten", Op::Flatten(Flatten), &[gap]);
    let fc = Linear { in_features: c_prev, out_features: skel.num_classes, bias: true };
    let logits = b.g.add_node("classifier", Op::Linear(fc), &[flat]);
    b.g.set_outputs(vec![logits]);
    b.g.infer_types()?;
    Ok(b.g)
}

struct Builder {
    g: Graph,
}

impl Builder {
    /// ReLU → Conv(k, stride, pad k/2, no bias) → BN.
    fn relu_conv_bn(&mut self, name: &str, x: NodeId, c_in: usize, c_out: usize, k: usize, stride: usize) -> NodeId {
        let relu = self.g.add_node(format!("{name}.relu"), Op::Activation(Activation::Relu), &[x]);
        let conv = self.g.add_node(format!("{name}.conv"), Op::Conv(Conv::new(c_in, c_out, k, stride)), &[relu]);
        self.g.add_node(format!("{name}.bn"), Op::BatchNorm(BatchNorm::new(c_out)), &[conv])
    }

    fn edge(&mut self, name: &str, op: Nb201Op, x: NodeId, c: usize) -> NodeId {
        match op {
            Nb201Op::None => self.g.add_node(format!("{name}.none"), Op::Zero(Zero), &[x]),
            Nb201Op::SkipConnect => self.g.add_node(format!("{name}.skip"), Op::Identity(Identity), &[x]),
            Nb201Op::NorConv1x1 => self.relu_conv_bn(name, x, c, c, 1, 1),
            Nb201Op::NorConv3x3 => self.relu_conv_bn(name, x, c, c, 3, 1),
            Nb201Op::AvgPool3x3 => {
                let pool = Pool { kind: PoolKind::Avg { count_include_pad: false }, kernel: 3, stride: 1, padding: 1 };
                self.g.add_node(format!("{name}.avgpool"), Op::Pool(pool), &[x])
            }
        }
    }

    /// Node j = sum over i < j of op(i→j)(node i); the cell's output is node 3.
    fn cell(&mut self, name: &str, arch: &Nb201Arch, x: NodeId, c: usize) -> NodeId {
        let mut nodes = vec![x];
        for to in 1..=3 {
            let mut sum: Option<NodeId> = None;
            for (edge, &(t, from)) in EDGE_ENDPOINTS.iter().enumerate() {
                if t != to {
                    continue;
                }
                let out = self.edge(&format!("{name}.e{from}{to}"), arch.ops[edge], nodes[from], c);
                sum = Some(match sum {
                    None => out,
                    Some(acc) => self.g.add_node(format!("{name}.n{to}.add{from}"), Op::Add(Add), &[acc, out]),
                });
            }
            nodes.push(sum.expect("every cell node has at least one input edge"));
        }
        nodes[3]
    }

    /// NB201 `ResNetBasicblock` with stride 2: ReLUConvBN(3x3, s2) → ReLUConvBN(3x3), plus
    /// shortcut AvgPool(2, s2) → Conv 1x1 (no BN), summed.
    fn reduction_block(&mut self, name: &str, x: NodeId, c_in: usize, c_out: usize) -> NodeId {
        let a = self.relu_conv_bn(&format!("{name}.a"), x, c_in, c_out, 3, 2);
        let b = self.relu_conv_bn(&format!("{name}.b"), a, c_out, c_out, 3, 1);
        let pool = Pool { kind: PoolKind::Avg { count_include_pad: false }, kernel: 2, stride: 2, padding: 0 };
        let down = self.g.add_node(format!("{name}.down.avgpool"), Op::Pool(pool), &[x]);
        let conv = self.g.add_node(format!("{name}.down.conv"), Op::Conv(Conv::new(c_in, c_out, 1, 1)), &[down]);
        self.g.add_node(format!("{name}.add"), Op::Add(Add), &[conv, b])
    }
}
