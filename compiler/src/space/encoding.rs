//! A fixed-length numeric encoding of a genome for the models that learn over a space
//! (accuracy and latency predictors): one one-hot group per decision of the space.

use super::mbconv::{scale_channels, MbconvGenome, MbconvSpace};
use super::nb201::{Nb201Genome, NB201_EDGES};
use super::{Genome, SearchSpace, SpaceError};
use crate::space::nb201::Nb201Op;

impl SearchSpace {
    /// Length of every [`SearchSpace::encode`] vector of this space.
    pub fn encoding_len(&self) -> usize {
        match self {
            SearchSpace::Nb201(_) => NB201_EDGES * Nb201Op::ALL.len(),
            SearchSpace::Mbconv(s) => mbconv_groups(s).iter().sum(),
        }
    }

    /// The genome as one-hot groups, one per decision: for nb201 the op of each edge; for
    /// MBConv spaces the resolution, the width multiplier, and per stage its base width,
    /// its depth and each slot's block choice (a slot beyond the depth has its own
    /// "absent" position). Errors when the genome is not in the space.
    pub fn encode(&self, genome: &Genome) -> Result<Vec<f64>, SpaceError> {
        self.contains(genome)?;
        match (self, genome) {
            (SearchSpace::Nb201(_), Genome::Nb201(g)) => encode_nb201(g),
            (SearchSpace::Mbconv(s), Genome::Mbconv(g)) => Ok(encode_mbconv(s, g)),
            _ => Err(SpaceError::NotInSpace {
                space: self.name().to_string(),
                reason: format!("a {} genome", genome.space_name()),
            }),
        }
    }
}

fn encode_nb201(g: &Nb201Genome) -> Result<Vec<f64>, SpaceError> {
    let arch = g.parse_arch()?;
    let mut code = vec![0.0; NB201_EDGES * Nb201Op::ALL.len()];
    for (edge, op) in arch.ops.iter().enumerate() {
        code[edge * Nb201Op::ALL.len() + *op as usize] = 1.0;
    }
    Ok(code)
}

/// Sizes of the one-hot groups of an MBConv space, in encoding order.
fn mbconv_groups(s: &MbconvSpace) -> Vec<usize> {
    let mut groups = vec![s.resolutions.len(), s.width_mults.len()];
    for (si, spec) in s.stages.iter().enumerate() {
        groups.push(spec.channels.len());
        groups.push(spec.depths.len());
        let slots = spec.depths.iter().copied().max().unwrap_or(0);
        groups.extend((0..slots).map(|bi| s.block_choices(si, bi).len() + 1));
    }
    groups
}

fn encode_mbconv(s: &MbconvSpace, g: &MbconvGenome) -> Vec<f64> {
    let groups = mbconv_groups(s);
    let mut hot = Vec::with_capacity(groups.len());
    hot.push(s.resolutions.iter().position(|&r| r == g.resolution));
    hot.push(s.width_mults.iter().position(|&w| (w - g.width_mult).abs() <= 1e-6 * w.abs().max(1.0)));
    for (si, spec) in s.stages.iter().enumerate() {
        let stage = g.stages.get(si);
        let depth = stage.map_or(0, |st| st.blocks.len());
        hot.push(
            stage.and_then(|st| spec.channels.iter().position(|&c| scale_channels(c, g.width_mult) == st.channels)),
        );
        hot.push(spec.depths.iter().position(|&d| d == depth));
        let slots = spec.depths.iter().copied().max().unwrap_or(0);
        for bi in 0..slots {
            let choices = s.block_choices(si, bi);
            hot.push(match stage.and_then(|st| st.blocks.get(bi)) {
                Some(block) => choices.iter().position(|c| c == block),
                None => Some(choices.len()),
            });
        }
    }
    let mut code = vec![0.0; groups.iter().sum()];
    let mut offset = 0;
    for (size, position) in groups.iter().zip(hot) {
        if let Some(p) = position {
            code[offset + p] = 1.0;
        }
        offset += size;
    }
    code
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SeededRng;

    #[test]
    fn every_space_encodes_one_position_per_group_and_tells_genomes_apart() {
        for name in super::super::BUILTIN_SPACES {
            let space = SearchSpace::resolve(name).unwrap();
            let mut rng = SeededRng::new(3);
            let mut seen = std::collections::HashMap::new();
            for _ in 0..200 {
                let genome = space.sample(&mut rng);
                let code = space.encode(&genome).unwrap();
                assert_eq!(code.len(), space.encoding_len(), "{name}");
                assert!(code.iter().all(|&v| v == 0.0 || v == 1.0));
                let groups = match &space {
                    SearchSpace::Nb201(_) => NB201_EDGES,
                    SearchSpace::Mbconv(s) => mbconv_groups(s).len(),
                };
                assert_eq!(code.iter().sum::<f64>() as usize, groups, "{name}: one hot position per group");
                let key: Vec<u8> = code.iter().map(|&v| v as u8).collect();
                if let Some(other) = seen.insert(key, genome.to_json()) {
                    assert_eq!(other, genome.to_json(), "{name}: two genomes share one encoding");
                }
            }
        }
    }

    #[test]
    fn a_genome_of_another_space_is_refused() {
        let nb201 = SearchSpace::resolve("nb201").unwrap();
        let mbconv = SearchSpace::resolve("mbconv-phone").unwrap();
        let genome = mbconv.sample(&mut SeededRng::new(1));
        assert!(nb201.encode(&genome).is_err());
    }
}
