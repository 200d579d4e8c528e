use serde::{Deserialize, Serialize};

use super::{limits, scale_channels, scale_head};
use crate::ir::ops::{spatial_out, Activation, Add, BatchNorm, Conv, Flatten, GlobalAvgPool, Linear};
use crate::ir::{Graph, NodeId, Op, TensorType};
use crate::space::SpaceError;

/// One MBConv network, self-contained: [`MbconvGenome::build`] needs no space.
///
/// Channel counts are final (width multiplier applied and rounded); `width_mult` is kept
/// for information and for mutation. `space` is a label naming where the genome comes
/// from; membership in a space ([`super::MbconvSpace::validate`]) is decided by structure
/// alone, not by this label.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MbconvGenome {
    pub space: String,
    /// Height and width of the `[1, 3, R, R]` input.
    pub resolution: usize,
    pub num_classes: usize,
    pub width_mult: f32,
    pub stem_channels: usize,
    pub head_channels: usize,
    pub stages: Vec<StageGenome>,
}

/// A run of blocks with the same output channels. The first block applies `stride` and
/// changes the channel count, the others keep both.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageGenome {
    pub channels: usize,
    pub stride: usize,
    pub blocks: Vec<BlockChoice>,
}

/// One block slot of a stage. JSON: `{"mbconv":{"kernel":3,"expansion":6}}` or `"skip"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
pub enum BlockChoice {
    /// Inverted residual: 1x1 expansion to `expansion` times the input channels (absent
    /// when `expansion == 1`), `kernel x kernel` depthwise, 1x1 linear projection.
    Mbconv { kernel: usize, expansion: usize },
    /// The zero block: the slot is empty and its input passes through unchanged. Never
    /// the first block of a stage.
    Skip,
}

/// torchvision's MobileNetV2 inverted residual setting `(t, c, n, s)`: expansion, output
/// channels before the width multiplier, blocks, stride of the first block.
pub(crate) const MOBILENET_V2_SETTING: [(usize, usize, usize, usize); 7] =
    [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)];

impl MbconvGenome {
    /// torchvision's `mobilenet_v2(width_mult=width_mult, num_classes=num_classes)` at
    /// `resolution`: stem `make_divisible(32 w)`, stage widths `make_divisible(c w)`,
    /// head `make_divisible(1280 max(1, w))`, kernel 3 everywhere. Labelled `mobilenet_v2`.
    pub fn mobilenet_v2(width_mult: f32, resolution: usize, num_classes: usize) -> MbconvGenome {
        let stages = MOBILENET_V2_SETTING
            .iter()
            .map(|&(t, c, n, s)| StageGenome {
                channels: scale_channels(c, width_mult),
                stride: s,
                blocks: vec![BlockChoice::Mbconv { kernel: 3, expansion: t }; n],
            })
            .collect();
        MbconvGenome {
            space: "mobilenet_v2".to_string(),
            resolution,
            num_classes,
            width_mult,
            stem_channels: scale_channels(32, width_mult),
            head_channels: scale_head(1280, width_mult),
            stages,
        }
    }

    /// Checks that the genome describes a buildable network: positive resolution, class
    /// count, widths and strides, at least one stage, every stage non-empty and starting
    /// with an MBConv block, odd kernels, positive expansions, and no spatial size
    /// shrinking to 0. Errors are [`SpaceError::InvalidGenome`].
    pub fn check(&self) -> Result<(), SpaceError> {
        let invalid = |reason: String| Err(SpaceError::InvalidGenome(reason));
        let within = |what: &str, value: usize, max: usize| match value {
            0 => Err(SpaceError::InvalidGenome(format!("{what} must be positive"))),
            v if v > max => Err(SpaceError::InvalidGenome(format!("{what} {v} exceeds the limit {max}"))),
            _ => Ok(()),
        };
        within("resolution", self.resolution, limits::MAX_RESOLUTION)?;
        within("num_classes", self.num_classes, limits::MAX_CLASSES)?;
        if !(self.width_mult.is_finite() && self.width_mult > 0.0 && self.width_mult <= limits::MAX_WIDTH_MULT) {
            return invalid(format!(
                "width_mult must be positive and at most {}, got {}",
                limits::MAX_WIDTH_MULT,
                self.width_mult
            ));
        }
        within("stem_channels", self.stem_channels, limits::MAX_CHANNELS)?;
        within("head_channels", self.head_channels, limits::MAX_CHANNELS)?;
        if self.stages.is_empty() {
            return invalid("no stages".into());
        }
        within("the number of stages", self.stages.len(), limits::MAX_STAGES)?;
        for (si, stage) in self.stages.iter().enumerate() {
            let s = si + 1;
            within(&format!("stage s{s}: channels"), stage.channels, limits::MAX_CHANNELS)?;
            within(&format!("stage s{s}: stride"), stage.stride, limits::MAX_STRIDE)?;
            if stage.blocks.len() > limits::MAX_BLOCKS {
                return invalid(format!(
                    "stage s{s} has {} blocks, more than {}",
                    stage.blocks.len(),
                    limits::MAX_BLOCKS
                ));
            }
            match stage.blocks.first() {
                None => return invalid(format!("stage s{s} has no blocks")),
                Some(BlockChoice::Skip) => {
                    return invalid(format!(
                        "stage s{s}: first block is skip, but it sets the stage's stride and channels"
                    ))
                }
                Some(_) => {}
            }
            for (bi, block) in stage.blocks.iter().enumerate() {
                if let BlockChoice::Mbconv { kernel, expansion } = *block {
                    within(&format!("stage s{s} block b{}: kernel", bi + 1), kernel, limits::MAX_KERNEL)?;
                    if kernel % 2 == 0 {
                        return invalid(format!("stage s{s} block b{}: kernel {kernel} is not odd", bi + 1));
                    }
                    within(&format!("stage s{s} block b{}: expansion", bi + 1), expansion, limits::MAX_EXPANSION)?;
                }
            }
        }
        self.check_spatial()
    }

    fn check_spatial(&self) -> Result<(), SpaceError> {
        let shrink =
            |size: usize, kernel: usize, stride: usize, at: &str| match spatial_out(size, kernel, stride, kernel / 2) {
                Ok(out) if out > 0 => Ok(out),
                _ => Err(SpaceError::InvalidGenome(format!(
                    "resolution {} too small: spatial size {size} vanishes at {at}",
                    self.resolution
                ))),
            };
        let mut size = shrink(self.resolution, 3, 2, "stem.conv")?;
        for (si, stage) in self.stages.iter().enumerate() {
            for (bi, block) in stage.blocks.iter().enumerate() {
                if let BlockChoice::Mbconv { kernel, .. } = *block {
                    let stride = if bi == 0 { stage.stride } else { 1 };
                    size = shrink(size, kernel, stride, &format!("s{}.b{}.dw.conv", si + 1, bi + 1))?;
                }
            }
        }
        Ok(())
    }

    /// The network graph (types not yet inferred), after [`MbconvGenome::check`].
    ///
    /// Input `input` `[1, 3, R, R]`; `stem` 3x3 stride-2 Conv, BatchNorm, ReLU6; per MBConv
    /// block `s{stage}.b{block}` (1-based, skipped slots keep their numbers): `expand`
    /// 1x1 Conv, BatchNorm, ReLU6 (only when expansion != 1), `dw` depthwise Conv (stage
    /// stride on the first block), BatchNorm, ReLU6, `project` 1x1 Conv, BatchNorm, and a
    /// residual `add` when stride is 1 and channels are unchanged; `head` 1x1 Conv,
    /// BatchNorm, ReLU6; `pool`, `flatten`, `classifier` Linear with bias (the output).
    pub fn build(&self) -> Result<Graph, SpaceError> {
        self.check()?;
        let mut g = Graph::new();
        let r = self.resolution;
        let input = g.add_input("input", TensorType::f32([1, 3, r, r]));
        let mut x = conv_bn(&mut g, "stem", Conv::new(3, self.stem_channels, 3, 2), true, input);
        let mut c = self.stem_channels;
        for (si, stage) in self.stages.iter().enumerate() {
            for (bi, block) in stage.blocks.iter().enumerate() {
                let BlockChoice::Mbconv { kernel, expansion } = *block else { continue };
                let prefix = format!("s{}.b{}", si + 1, bi + 1);
                let stride = if bi == 0 { stage.stride } else { 1 };
                let hidden = c * expansion;
                let block_in = x;
                if expansion != 1 {
                    x = conv_bn(&mut g, &format!("{prefix}.expand"), Conv::new(c, hidden, 1, 1), true, x);
                }
                x = conv_bn(&mut g, &format!("{prefix}.dw"), Conv::depthwise(hidden, kernel, stride), true, x);
                x = conv_bn(&mut g, &format!("{prefix}.project"), Conv::new(hidden, stage.channels, 1, 1), false, x);
                if stride == 1 && c == stage.channels {
                    x = g.add_node(format!("{prefix}.add"), Op::Add(Add), &[block_in, x]);
                }
                c = stage.channels;
            }
        }
        x = conv_bn(&mut g, "head", Conv::new(c, self.head_channels, 1, 1), true, x);
        let pooled = g.add_node("pool", Op::GlobalAvgPool(GlobalAvgPool), &[x]);
        let flat = g.add_node("flatten", Op::Flatten(Flatten), &[pooled]);
        let linear = Linear { in_features: self.head_channels, out_features: self.num_classes, bias: true };
        let logits = g.add_node("classifier", Op::Linear(linear), &[flat]);
        g.set_outputs(vec![logits]);
        Ok(g)
    }
}

fn conv_bn(g: &mut Graph, prefix: &str, conv: Conv, relu6: bool, x: NodeId) -> NodeId {
    let channels = conv.out_channels;
    let x = g.add_node(format!("{prefix}.conv"), Op::Conv(conv), &[x]);
    let x = g.add_node(format!("{prefix}.bn"), Op::BatchNorm(BatchNorm::new(channels)), &[x]);
    if relu6 {
        g.add_node(format!("{prefix}.relu6"), Op::Activation(Activation::Relu6), &[x])
    } else {
        x
    }
}
