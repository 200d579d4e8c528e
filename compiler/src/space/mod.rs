//! Search spaces and genomes. A [`SearchSpace`] samples and mutates [`Genome`]s with a
//! seeded RNG; a genome is self-contained: [`Genome::build`] needs no space.

mod encoding;
mod error;
mod genome;
pub mod mbconv;
pub mod nb201;

pub use error::SpaceError;
pub use genome::Genome;

use std::path::Path;

use crate::rng::SeededRng;
use mbconv::MbconvSpace;
use nb201::Nb201Space;

/// A space of architectures.
#[derive(Debug, Clone)]
pub enum SearchSpace {
    Nb201(Nb201Space),
    Mbconv(MbconvSpace),
}

/// Names accepted by [`SearchSpace::resolve`] besides file paths.
pub const BUILTIN_SPACES: [&str; 3] = ["nb201", "mbconv-phone", "mbconv-mcu"];

impl SearchSpace {
    /// A built-in space by name (`nb201`, `mbconv-phone`, `mbconv-mcu`), or else a TOML
    /// space file at that path.
    pub fn resolve(name_or_path: &str) -> Result<Self, SpaceError> {
        match name_or_path {
            "nb201" => Ok(SearchSpace::Nb201(Nb201Space)),
            "mbconv-phone" | "mbconv-mcu" => Ok(SearchSpace::Mbconv(MbconvSpace::preset(name_or_path)?)),
            other => {
                let path = Path::new(other);
                if !path.exists() {
                    return Err(SpaceError::UnknownSpace(other.to_string()));
                }
                Ok(SearchSpace::Mbconv(MbconvSpace::from_file(path)?))
            }
        }
    }

    pub fn name(&self) -> &str {
        match self {
            SearchSpace::Nb201(_) => "nb201",
            SearchSpace::Mbconv(s) => &s.name,
        }
    }

    /// A uniformly random genome.
    pub fn sample(&self, rng: &mut SeededRng) -> Genome {
        match self {
            SearchSpace::Nb201(s) => Genome::Nb201(s.sample(rng)),
            SearchSpace::Mbconv(s) => Genome::Mbconv(s.sample(rng)),
        }
    }

    /// A genome that differs from `genome` in exactly one decision.
    pub fn mutate(&self, genome: &Genome, rng: &mut SeededRng) -> Result<Genome, SpaceError> {
        match (self, genome) {
            (SearchSpace::Nb201(s), Genome::Nb201(g)) => Ok(Genome::Nb201(s.mutate(g, rng))),
            (SearchSpace::Mbconv(s), Genome::Mbconv(g)) => Ok(Genome::Mbconv(s.mutate(g, rng)?)),
            _ => {
                Err(SpaceError::WrongSpace { space: self.name().to_string(), genome: genome.space_name().to_string() })
            }
        }
    }

    /// Checks that `genome` belongs to this space.
    pub fn contains(&self, genome: &Genome) -> Result<(), SpaceError> {
        match (self, genome) {
            (SearchSpace::Nb201(_), Genome::Nb201(g)) => g.validate(),
            (SearchSpace::Mbconv(s), Genome::Mbconv(g)) => s.validate(g),
            _ => {
                Err(SpaceError::WrongSpace { space: self.name().to_string(), genome: genome.space_name().to_string() })
            }
        }
    }
}
