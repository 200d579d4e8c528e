//! NAS-Bench-201: the 15,625-architecture cell space, its arch strings, its index order
//! (taken from the shipped table) and the macro skeleton it is trained in.

mod arch;
mod build;
mod table;

pub use arch::{Nb201Arch, Nb201Op, NB201_EDGES};
pub use build::{build_network, Nb201Skeleton};
pub use table::{Nb201Row, Nb201Table};

use serde::{Deserialize, Serialize};

use super::SpaceError;
use crate::ir::Graph;
use crate::rng::SeededRng;

/// Number of architectures in NAS-Bench-201 (5 ops on 6 edges).
pub const NB201_SIZE: usize = 15_625;

/// An NB201 architecture as stored in genome JSON: its arch string and its table index,
/// which must agree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Nb201Genome {
    pub arch: String,
    pub index: usize,
}

impl Nb201Genome {
    pub fn from_arch(arch: &Nb201Arch) -> Self {
        Nb201Genome { arch: arch.to_string(), index: Nb201Table::builtin().index_of(arch) }
    }

    pub fn from_index(index: i64) -> Result<Self, SpaceError> {
        let table = Nb201Table::builtin();
        let row = usize::try_from(index).ok().and_then(|i| table.row(i)).ok_or(SpaceError::IndexOutOfRange(index))?;
        Ok(Nb201Genome { arch: row.arch.to_string(), index: row.index })
    }

    pub fn parse_arch(&self) -> Result<Nb201Arch, SpaceError> {
        self.arch.parse()
    }

    /// Checks the arch string parses and its table index is `index`.
    pub fn validate(&self) -> Result<(), SpaceError> {
        let arch = self.parse_arch()?;
        let expected = Nb201Table::builtin().index_of(&arch);
        if expected != self.index {
            return Err(SpaceError::IndexMismatch { arch: self.arch.clone(), index: self.index, expected });
        }
        Ok(())
    }

    /// The NB201 network for CIFAR-10 (input 1x3x32x32, 10 classes).
    pub fn build(&self) -> Result<Graph, SpaceError> {
        self.validate()?;
        Ok(build_network(&self.parse_arch()?, &Nb201Skeleton::default())?)
    }
}

/// The NB201 space: every edge independently one of the five ops.
#[derive(Debug, Clone, Copy, Default)]
pub struct Nb201Space;

impl Nb201Space {
    pub fn sample(&self, rng: &mut SeededRng) -> Nb201Genome {
        let ops = std::array::from_fn(|_| *rng.choose(&Nb201Op::ALL));
        Nb201Genome::from_arch(&Nb201Arch { ops })
    }

    /// Changes the op of one uniformly chosen edge to one of the four other ops.
    pub fn mutate(&self, genome: &Nb201Genome, rng: &mut SeededRng) -> Nb201Genome {
        let mut arch = genome.parse_arch().unwrap_or(Nb201Arch { ops: [Nb201Op::None; NB201_EDGES] });
        let edge = rng.below(NB201_EDGES);
        let others: Vec<Nb201Op> = Nb201Op::ALL.into_iter().filter(|&op| op != arch.ops[edge]).collect();
        arch.ops[edge] = *rng.choose(&others);
        Nb201Genome::from_arch(&arch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cost::CostReport;
    use crate::space::Genome;

    const ARCH_6111: &str =
        "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|";

    #[test]
    fn index_and_arch_agree_both_ways() {
        let g = Nb201Genome::from_index(6111).unwrap();
        assert_eq!(g.arch, ARCH_6111);
        assert_eq!(Nb201Genome::from_arch(&ARCH_6111.parse().unwrap()), g);
        assert!(matches!(Nb201Genome::from_index(15625), Err(SpaceError::IndexOutOfRange(15625))));
        assert!(matches!(
            Nb201Genome { arch: ARCH_6111.into(), index: 1 }.validate(),
            Err(SpaceError::IndexMismatch { expected: 6111, .. })
        ));
    }

    #[test]
    fn bad_arch_strings_name_the_problem() {
        let cases = [
            ("|nor_conv_3x3~0|", "3 node groups"),
            ("|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|", "unknown op `conv`"),
            ("|none~1|+|none~0|none~1|+|none~0|none~1|none~2|", "must come from input 0"),
            ("|none~0|+|none~0|+|none~0|none~1|none~2|", "node 2 needs 2 input edges"),
            ("none~0|+|none~0|none~1|+|none~0|none~1|none~2|", "start and end with '|'"),
        ];
        for (arch, expected) in cases {
            let err = arch.parse::<Nb201Arch>().unwrap_err().to_string();
            assert!(err.contains(expected), "{arch}: {err}");
        }
    }

    #[test]
    fn sampling_is_reproducible_and_mutation_changes_one_edge() {
        let draw = |seed| {
            let mut rng = SeededRng::new(seed);
            (0..20).map(|_| Nb201Space.sample(&mut rng)).collect::<Vec<_>>()
        };
        assert_eq!(draw(5), draw(5));
        assert_ne!(draw(5), draw(6));
        let mut rng = SeededRng::new(9);
        let mut g = Nb201Space.sample(&mut rng);
        for _ in 0..200 {
            let m = Nb201Space.mutate(&g, &mut rng);
            let (a, b) = (g.parse_arch().unwrap(), m.parse_arch().unwrap());
            assert_eq!(a.ops.iter().zip(&b.ops).filter(|(x, y)| x != y).count(), 1);
            m.validate().unwrap();
            g = m;
        }
    }

    #[test]
    fn sampling_is_uniform_over_ops() {
        let mut rng = SeededRng::new(11);
        let mut counts = [0usize; 5];
        for _ in 0..2000 {
            for op in Nb201Space.sample(&mut rng).parse_arch().unwrap().ops {
                counts[op as usize] += 1;
            }
        }
        // 12,000 draws over 5 ops: 2,400 expected each, standard deviation ~44.
        assert!(counts.iter().all(|&c| (2200..2600).contains(&c)), "{counts:?}");
    }

    #[test]
    fn genome_json_and_hash_are_stable() {
        let g = Genome::Nb201(Nb201Genome::from_index(6111).unwrap());
        let json = g.to_json();
        assert_eq!(json, format!(r#"{{"kind":"nb201","arch":"{ARCH_6111}","index":6111}}"#));
        assert_eq!(Genome::from_json(&json).unwrap(), g);
        assert_eq!(g.content_hash(), g.clone().content_hash());
        assert_eq!(g.content_hash().len(), 16);
        assert_ne!(g.content_hash(), Genome::Nb201(Nb201Genome::from_index(6112).unwrap()).content_hash());
    }

    #[test]
    fn network_structure_of_arch_6111() {
        let g = Nb201Genome::from_index(6111).unwrap().build().unwrap();
        let r = CostReport::analyze(&g).unwrap();
        assert_eq!(r.input_shape, [1, 3, 32, 32]);
        assert_eq!(r.output_shape, [1, 10]);
        // Per cell: 4 conv3x3 edges + 1 conv1x1 edge (the sixth is skip_connect); 15 cells.
        // Plus the stem and 2 reduction blocks of 3 convs (a, b, shortcut): 75 + 1 + 6 = 82.
        assert_eq!(r.layers.iter().filter(|l| l.op == "Conv").count(), 82);
    }

    #[test]
    fn all_none_cells_deploy_to_a_valid_graph() {
        let arch: Nb201Arch = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|".parse().unwrap();
        let g = Nb201Genome::from_arch(&arch).build().unwrap();
        let deployed = crate::lower::lower(&g, 0).unwrap();
        crate::onnx::emit(&deployed, &Default::default()).unwrap();
    }
}
