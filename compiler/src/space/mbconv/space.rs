use std::path::Path;

use serde::{Deserialize, Serialize};

use super::genome::{BlockChoice, MbconvGenome, StageGenome};
use super::{limits, same_mult, scale_channels, scale_head};
use crate::rng::SeededRng;
use crate::space::SpaceError;

const PHONE_TOML: &str = include_str!("../../../spaces/mbconv-phone.toml");
const MCU_TOML: &str = include_str!("../../../spaces/mbconv-mcu.toml");

/// The definition of a space of MBConv networks as written in a space TOML file (see
/// `compiler/spaces/*.toml` for the documented format), before it is checked. A search
/// uses an [`MbconvSpace`], which is only made from a definition that passed
/// [`MbconvSpaceDef::check`].
///
/// Widths here are before the width multiplier: a genome at multiplier `w` has stem
/// [`scale_channels`]`(stem_channels, w)`, head [`scale_head`]`(head_channels, w)` and
/// stage widths `scale_channels(c, w)` for `c` in the stage's `channels`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MbconvSpaceDef {
    pub name: String,
    pub resolutions: Vec<usize>,
    pub width_mults: Vec<f32>,
    pub num_classes: usize,
    pub stem_channels: usize,
    pub head_channels: usize,
    /// Depthwise kernel sizes (odd).
    pub kernels: Vec<usize>,
    /// Expansion ratios of every block, except where a stage sets
    /// `first_block_expansions`.
    pub expansions: Vec<usize>,
    pub stages: Vec<StageSpec>,
}

/// A checked space of MBConv networks: made only by [`MbconvSpace::new`] (or
/// deserialization, which goes through it), so every method may rely on the rules of
/// [`MbconvSpaceDef::check`]. Its definition is readable through `Deref`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "MbconvSpaceDef", into = "MbconvSpaceDef")]
pub struct MbconvSpace(MbconvSpaceDef);

impl std::ops::Deref for MbconvSpace {
    type Target = MbconvSpaceDef;

    fn deref(&self) -> &MbconvSpaceDef {
        &self.0
    }
}

impl TryFrom<MbconvSpaceDef> for MbconvSpace {
    type Error = SpaceError;

    fn try_from(def: MbconvSpaceDef) -> Result<Self, SpaceError> {
        Self::new(def)
    }
}

impl From<MbconvSpace> for MbconvSpaceDef {
    fn from(space: MbconvSpace) -> Self {
        space.0
    }
}

/// Choices of one stage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageSpec {
    /// Width choices, before the width multiplier.
    pub channels: Vec<usize>,
    /// Stride of the stage's first block.
    pub stride: usize,
    /// Number of block slots.
    pub depths: Vec<usize>,
    /// Whether slots after the first may be [`BlockChoice::Skip`].
    pub allow_skip: bool,
    /// Expansion ratios of the stage's first block instead of the space's `expansions`
    /// (e.g. `[1]` for MobileNetV2's first stage).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_block_expansions: Option<Vec<usize>>,
}

enum Site {
    Resolution,
    WidthMult,
    StageWidth(usize),
    Depth(usize),
    Block(usize, usize),
}

impl MbconvSpace {
    /// Checks `def` ([`MbconvSpaceDef::check`]) and makes it a space.
    pub fn new(def: MbconvSpaceDef) -> Result<Self, SpaceError> {
        def.check()?;
        Ok(MbconvSpace(def))
    }

    /// The definition this space was made from.
    pub fn def(&self) -> &MbconvSpaceDef {
        &self.0
    }

    /// A built-in space: `mbconv-phone` or `mbconv-mcu`.
    pub fn preset(name: &str) -> Result<Self, SpaceError> {
        let text = match name {
            "mbconv-phone" => PHONE_TOML,
            "mbconv-mcu" => MCU_TOML,
            other => return Err(SpaceError::UnknownSpace(other.to_string())),
        };
        Self::from_toml_str(text, &format!("<built-in {name}>"))
    }

    /// Reads and checks a space TOML file.
    pub fn from_file(path: &Path) -> Result<Self, SpaceError> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| SpaceError::Io { path: origin.clone(), source })?;
        Self::from_toml_str(&text, &origin)
    }

    /// Parses and checks a space written in TOML; `origin` names it in errors.
    pub fn from_toml_str(text: &str, origin: &str) -> Result<Self, SpaceError> {
        let def: MbconvSpaceDef =
            toml::from_str(text).map_err(|e| SpaceError::Parse { path: origin.to_string(), reason: e.to_string() })?;
        Self::new(def)
    }
}

impl MbconvSpaceDef {
    /// Checks the definition: a name, every choice list non-empty and free of
    /// duplicates, positive resolutions, widths, depths, strides and expansions, finite
    /// positive width multipliers, odd kernels, at least one stage, and every size within
    /// the limits of [`super::limits`] (so that no genome of the space overflows). Errors are
    /// [`SpaceError::InvalidSpace`] naming the field (`stages[i]` counts from 0).
    pub fn check(&self) -> Result<(), SpaceError> {
        let invalid = |field: &str, reason: String| SpaceError::InvalidSpace {
            name: self.name.clone(),
            reason: format!("`{field}` {reason}"),
        };
        if self.name.trim().is_empty() {
            return Err(invalid("name", "must not be empty".into()));
        }
        positive_choices("resolutions", &self.resolutions, limits::MAX_RESOLUTION)
            .map_err(|r| invalid("resolutions", r))?;
        if self.width_mults.is_empty() {
            return Err(invalid("width_mults", "must not be empty".into()));
        }
        for (i, &w) in self.width_mults.iter().enumerate() {
            if !(w.is_finite() && w > 0.0 && w <= limits::MAX_WIDTH_MULT) {
                return Err(invalid(
                    "width_mults",
                    format!("contains {w}: width multipliers must be positive and at most {}", limits::MAX_WIDTH_MULT),
                ));
            }
            if self.width_mults[..i].iter().any(|&v| same_mult(v, w)) {
                return Err(invalid("width_mults", format!("lists {w} twice")));
            }
        }
        for (field, value, max) in [
            ("num_classes", self.num_classes, limits::MAX_CLASSES),
            ("stem_channels", self.stem_channels, limits::MAX_CHANNELS),
            ("head_channels", self.head_channels, limits::MAX_CHANNELS),
        ] {
            if value == 0 || value > max {
                return Err(invalid(field, format!("must be positive and at most {max}, got {value}")));
            }
        }
        positive_choices("kernels", &self.kernels, limits::MAX_KERNEL).map_err(|r| invalid("kernels", r))?;
        if let Some(k) = self.kernels.iter().find(|&&k| k % 2 == 0) {
            return Err(invalid("kernels", format!("contains {k}: kernels must be odd")));
        }
        positive_choices("expansions", &self.expansions, limits::MAX_EXPANSION)
            .map_err(|r| invalid("expansions", r))?;
        if self.stages.is_empty() || self.stages.len() > limits::MAX_STAGES {
            return Err(invalid(
                "stages",
                format!("must have 1 to {} stages, has {}", limits::MAX_STAGES, self.stages.len()),
            ));
        }
        for (i, stage) in self.stages.iter().enumerate() {
            let field = |name: &str| format!("stages[{i}].{name}");
            positive_choices("channels", &stage.channels, limits::MAX_CHANNELS)
                .map_err(|r| invalid(&field("channels"), r))?;
            positive_choices("depths", &stage.depths, limits::MAX_BLOCKS).map_err(|r| invalid(&field("depths"), r))?;
            if stage.stride == 0 || stage.stride > limits::MAX_STRIDE {
                return Err(invalid(&field("stride"), format!("must be positive and at most {}", limits::MAX_STRIDE)));
            }
            if let Some(first) = &stage.first_block_expansions {
                positive_choices("first_block_expansions", first, limits::MAX_EXPANSION)
                    .map_err(|r| invalid(&field("first_block_expansions"), r))?;
            }
        }
        let scaled_widths = self.width_mults.iter().flat_map(|&w| {
            let stages = self.stages.iter().enumerate().flat_map(move |(i, st)| {
                st.channels.iter().map(move |&c| (format!("stages[{i}].channels"), w, scale_channels(c, w)))
            });
            [
                ("stem_channels".to_string(), w, scale_channels(self.stem_channels, w)),
                ("head_channels".to_string(), w, scale_head(self.head_channels, w)),
            ]
            .into_iter()
            .chain(stages)
        });
        if let Some((field, w, scaled)) = scaled_widths.into_iter().find(|(_, _, c)| *c > limits::MAX_CHANNELS) {
            return Err(invalid(
                &field,
                format!("at width_mult {w} gives {scaled} channels, more than {}", limits::MAX_CHANNELS),
            ));
        }
        Ok(())
    }
}

impl MbconvSpace {
    /// Stem channels of a genome at width multiplier `w`.
    pub fn stem_channels_at(&self, w: f32) -> usize {
        scale_channels(self.stem_channels, w)
    }

    /// Head channels of a genome at width multiplier `w`.
    pub fn head_channels_at(&self, w: f32) -> usize {
        scale_head(self.head_channels, w)
    }

    /// The distinct channel counts stage `stage` (an index into `stages`) may have at width
    /// multiplier `w`, in the order of its `channels` list (bases that round alike give
    /// one count).
    pub fn stage_widths(&self, stage: usize, w: f32) -> Vec<usize> {
        let mut widths = Vec::new();
        for &c in &self.stages[stage].channels {
            let scaled = scale_channels(c, w);
            if !widths.contains(&scaled) {
                widths.push(scaled);
            }
        }
        widths
    }

    /// The choices of block slot `block` of stage `stage`: every (kernel, expansion) pair,
    /// kernels outermost, then skip where allowed (never for the first slot).
    pub fn block_choices(&self, stage: usize, block: usize) -> Vec<BlockChoice> {
        let spec = &self.stages[stage];
        let expansions = match (&spec.first_block_expansions, block) {
            (Some(first), 0) => first,
            _ => &self.expansions,
        };
        let mut choices: Vec<BlockChoice> = self
            .kernels
            .iter()
            .flat_map(|&kernel| expansions.iter().map(move |&expansion| BlockChoice::Mbconv { kernel, expansion }))
            .collect();
        if block > 0 && spec.allow_skip {
            choices.push(BlockChoice::Skip);
        }
        choices
    }

    /// A uniformly random genome labelled with this space's name. Draws, in order: the
    /// resolution, the width multiplier, then per stage its base width, its depth and each
    /// slot's choice among [`MbconvSpace::block_choices`] (so skip is as likely as any
    /// single (kernel, expansion) pair). Each draw is one `choose`: same seed, same genome.
    pub fn sample(&self, rng: &mut SeededRng) -> MbconvGenome {
        let resolution = *rng.choose(&self.resolutions);
        let width_mult = *rng.choose(&self.width_mults);
        let stages = (0..self.stages.len())
            .map(|si| {
                let spec = &self.stages[si];
                let channels = scale_channels(*rng.choose(&spec.channels), width_mult);
                let depth = *rng.choose(&spec.depths);
                let blocks = (0..depth).map(|bi| *rng.choose(&self.block_choices(si, bi))).collect();
                StageGenome { channels, stride: spec.stride, blocks }
            })
            .collect();
        MbconvGenome {
            space: self.name.clone(),
            resolution,
            num_classes: self.num_classes,
            width_mult,
            stem_channels: self.stem_channels_at(width_mult),
            head_channels: self.head_channels_at(width_mult),
            stages,
        }
    }

    /// A genome of this space (labelled with its name) differing from `g` in exactly one
    /// decision, chosen uniformly among the decisions that have another value:
    /// - the resolution, or the width multiplier (every width is rescaled: stem, head, and
    ///   each stage from the smallest base width that gives its current channels);
    /// - one stage's width (to a different channel count);
    /// - one stage's depth, to the next smaller or larger allowed depth: trailing slots
    ///   are removed, or added with choices drawn as in [`MbconvSpace::sample`];
    /// - one block slot's choice (kernel and expansion together, or skip).
    ///
    /// The new value is uniform among the other allowed values. Errors when `g` is not in
    /// the space ([`MbconvSpace::validate`]) or when no decision has a second value.
    pub fn mutate(&self, g: &MbconvGenome, rng: &mut SeededRng) -> Result<MbconvGenome, SpaceError> {
        self.validate(g)?;
        let w = g.width_mult;
        let mut sites = Vec::new();
        if self.resolutions.len() > 1 {
            sites.push(Site::Resolution);
        }
        if self.width_mults.len() > 1 {
            sites.push(Site::WidthMult);
        }
        for (si, stage) in g.stages.iter().enumerate() {
            if self.stage_widths(si, w).len() > 1 {
                sites.push(Site::StageWidth(si));
            }
            if self.stages[si].depths.len() > 1 {
                sites.push(Site::Depth(si));
            }
            for bi in 0..stage.blocks.len() {
                if self.block_choices(si, bi).len() > 1 {
                    sites.push(Site::Block(si, bi));
                }
            }
        }
        if sites.is_empty() {
            return Err(SpaceError::InvalidSpace {
                name: self.name.clone(),
                reason: "every decision has a single choice: nothing to mutate".into(),
            });
        }
        let mut out = g.clone();
        out.space = self.name.clone();
        match sites[rng.below(sites.len())] {
            Site::Resolution => out.resolution = pick_other(rng, &self.resolutions, |&r| r == g.resolution),
            Site::WidthMult => {
                let bases: Vec<usize> = g
                    .stages
                    .iter()
                    .enumerate()
                    .map(|(si, stage)| {
                        let spec = &self.stages[si].channels;
                        spec.iter()
                            .copied()
                            .filter(|&c| scale_channels(c, w) == stage.channels)
                            .min()
                            .unwrap_or(spec[0])
                    })
                    .collect();
                let new_w = pick_other(rng, &self.width_mults, |&v| same_mult(v, w));
                out.width_mult = new_w;
                out.stem_channels = self.stem_channels_at(new_w);
                out.head_channels = self.head_channels_at(new_w);
                for (stage, base) in out.stages.iter_mut().zip(bases) {
                    stage.channels = scale_channels(base, new_w);
                }
            }
            Site::StageWidth(si) => {
                let widths = self.stage_widths(si, w);
                out.stages[si].channels = pick_other(rng, &widths, |&c| c == g.stages[si].channels);
            }
            Site::Depth(si) => {
                let depth = g.stages[si].blocks.len();
                let depths = &self.stages[si].depths;
                let below = depths.iter().copied().filter(|&d| d < depth).max();
                let above = depths.iter().copied().filter(|&d| d > depth).min();
                let neighbours: Vec<usize> = below.into_iter().chain(above).collect();
                let new_depth = *rng.choose(&neighbours);
                let blocks = &mut out.stages[si].blocks;
                blocks.truncate(new_depth);
                for bi in depth..new_depth {
                    blocks.push(*rng.choose(&self.block_choices(si, bi)));
                }
            }
            Site::Block(si, bi) => {
                let current = g.stages[si].blocks[bi];
                out.stages[si].blocks[bi] = pick_other(rng, &self.block_choices(si, bi), |&b| b == current);
            }
        }
        self.validate(&out)?;
        Ok(out)
    }

    /// Checks that `g` is buildable ([`MbconvGenome::check`]) and that every decision is
    /// one of this space's choices, with stem, head and stage widths as the width
    /// multiplier gives them. The `space` label is not compared, so e.g.
    /// `MbconvGenome::mobilenet_v2(1.0, 224, 1000)` is in `mbconv-phone`. Errors are
    /// [`SpaceError::NotInSpace`] stating the first offending decision.
    pub fn validate(&self, g: &MbconvGenome) -> Result<(), SpaceError> {
        g.check()?;
        let not_in = |reason: String| Err(SpaceError::NotInSpace { space: self.name.clone(), reason });
        if !self.resolutions.contains(&g.resolution) {
            return not_in(format!("resolution {} not in {:?}", g.resolution, self.resolutions));
        }
        let w = g.width_mult;
        if !self.width_mults.iter().any(|&v| same_mult(v, w)) {
            return not_in(format!("width_mult {w} not in {:?}", self.width_mults));
        }
        if g.num_classes != self.num_classes {
            return not_in(format!("num_classes {} but the space has {}", g.num_classes, self.num_classes));
        }
        if g.stem_channels != self.stem_channels_at(w) {
            return not_in(format!(
                "stem_channels {} but width_mult {w} gives {}",
                g.stem_channels,
                self.stem_channels_at(w)
            ));
        }
        if g.head_channels != self.head_channels_at(w) {
            return not_in(format!(
                "head_channels {} but width_mult {w} gives {}",
                g.head_channels,
                self.head_channels_at(w)
            ));
        }
        if g.stages.len() != self.stages.len() {
            return not_in(format!("{} stages but the space has {}", g.stages.len(), self.stages.len()));
        }
        for (si, (stage, spec)) in g.stages.iter().zip(&self.stages).enumerate() {
            let s = si + 1;
            if stage.stride != spec.stride {
                return not_in(format!("stage s{s}: stride {} but the space has {}", stage.stride, spec.stride));
            }
            let widths = self.stage_widths(si, w);
            if !widths.contains(&stage.channels) {
                return not_in(format!(
                    "stage s{s}: channels {} not in {widths:?} (base widths {:?} at width_mult {w})",
                    stage.channels, spec.channels
                ));
            }
            if !spec.depths.contains(&stage.blocks.len()) {
                return not_in(format!("stage s{s}: depth {} not in {:?}", stage.blocks.len(), spec.depths));
            }
            for (bi, block) in stage.blocks.iter().enumerate() {
                let b = bi + 1;
                match *block {
                    BlockChoice::Skip if !spec.allow_skip => {
                        return not_in(format!("stage s{s} block b{b}: skip not allowed in this stage"))
                    }
                    BlockChoice::Skip => {}
                    BlockChoice::Mbconv { kernel, expansion } => {
                        if !self.kernels.contains(&kernel) {
                            return not_in(format!("stage s{s} block b{b}: kernel {kernel} not in {:?}", self.kernels));
                        }
                        let (field, allowed) = match (&spec.first_block_expansions, bi) {
                            (Some(first), 0) => ("first_block_expansions", first),
                            _ => ("expansions", &self.expansions),
                        };
                        if !allowed.contains(&expansion) {
                            return not_in(format!(
                                "stage s{s} block b{b}: expansion {expansion} not in {field} {allowed:?}"
                            ));
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

fn positive_choices(what: &str, values: &[usize], max: usize) -> Result<(), String> {
    if values.is_empty() {
        return Err("must not be empty".into());
    }
    for (i, &v) in values.iter().enumerate() {
        if v == 0 {
            return Err(format!("contains 0: {what} must be positive"));
        }
        if v > max {
            return Err(format!("contains {v}: {what} must be at most {max}"));
        }
        if values[..i].contains(&v) {
            return Err(format!("lists {v} twice"));
        }
    }
    Ok(())
}

fn pick_other<T: Copy>(rng: &mut SeededRng, values: &[T], is_current: impl Fn(&T) -> bool) -> T {
    let others: Vec<T> = values.iter().copied().filter(|v| !is_current(v)).collect();
    *rng.choose(&others)
}
