//! What a search proposes: an architecture and the precision it is deployed in.

use std::fmt;

use edgenas_compiler::quantize::Precision;
use edgenas_compiler::rng::SeededRng;
use edgenas_compiler::space::{Genome, SearchSpace, SpaceError};
use serde::{Deserialize, Serialize};

use crate::SearchError;

/// One point of the search: a genome and its deployment precision. The precision is a
/// decision like any architecture choice: sampled, mutated, and measured as compiled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    pub genome: Genome,
    pub precision: Precision,
}

impl Candidate {
    /// `genome` deployed in f32.
    pub fn f32(genome: Genome) -> Self {
        Candidate { genome, precision: Precision::F32 }
    }

    /// The genome's content hash, suffixed with the precision unless it is f32 (so f32
    /// candidates keep their genome's hash).
    pub fn key(&self) -> String {
        match self.precision {
            Precision::F32 => self.genome.content_hash(),
            p => format!("{}-{p}", self.genome.content_hash()),
        }
    }
}

impl fmt::Display for Candidate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.genome.content_hash(), self.precision)
    }
}

/// The architectures of a [`SearchSpace`] times a list of distinct precisions (never
/// empty: [`CandidateSpace::new`] checks). With a single precision no random draw is
/// spent on it, so an f32-only search proposes exactly what the architecture space alone
/// would.
#[derive(Debug, Clone, Copy)]
pub struct CandidateSpace<'a> {
    space: &'a SearchSpace,
    precisions: &'a [Precision],
}

/// Chance that [`CandidateSpace::mutate`] changes the precision rather than the
/// architecture, when there is more than one precision.
pub const PRECISION_MUTATION_ONE_IN: usize = 4;

impl<'a> CandidateSpace<'a> {
    /// Errors when `precisions` is empty or lists a precision twice.
    pub fn new(space: &'a SearchSpace, precisions: &'a [Precision]) -> Result<Self, SearchError> {
        if precisions.is_empty() {
            return Err(SearchError::Config("precisions must list at least one precision".into()));
        }
        if let Some((_, p)) = precisions.iter().enumerate().find(|(i, p)| precisions[..*i].contains(p)) {
            return Err(SearchError::Config(format!("precision {p} is listed twice")));
        }
        Ok(CandidateSpace { space, precisions })
    }

    pub fn space(&self) -> &'a SearchSpace {
        self.space
    }

    pub fn precisions(&self) -> &'a [Precision] {
        self.precisions
    }

    /// Length of every [`CandidateSpace::encode`] vector.
    pub fn encoding_len(&self) -> usize {
        self.space.encoding_len() + if self.precisions.len() > 1 { self.precisions.len() } else { 0 }
    }

    /// The candidate as numbers for a predictor: [`SearchSpace::encode`] of its genome,
    /// then a one-hot precision when the space has more than one.
    pub fn encode(&self, c: &Candidate) -> Result<Vec<f64>, SpaceError> {
        let mut code = self.space.encode(&c.genome)?;
        if self.precisions.len() > 1 {
            code.extend(self.precisions.iter().map(|p| if *p == c.precision { 1.0 } else { 0.0 }));
        }
        Ok(code)
    }

    /// A uniform architecture and a uniform precision.
    pub fn sample(&self, rng: &mut SeededRng) -> Candidate {
        let genome = self.space.sample(rng);
        let precision = match self.precisions {
            [only] => *only,
            many => *rng.choose(many),
        };
        Candidate { genome, precision }
    }

    /// A candidate one decision away: with more than one precision, a different precision
    /// one time in [`PRECISION_MUTATION_ONE_IN`], otherwise one architecture decision.
    pub fn mutate(&self, c: &Candidate, rng: &mut SeededRng) -> Result<Candidate, SpaceError> {
        if self.precisions.len() > 1 && rng.below(PRECISION_MUTATION_ONE_IN) == 0 {
            let others: Vec<Precision> = self.precisions.iter().copied().filter(|p| *p != c.precision).collect();
            return Ok(Candidate { genome: c.genome.clone(), precision: *rng.choose(&others) });
        }
        Ok(Candidate { genome: self.space.mutate(&c.genome, rng)?, precision: c.precision })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_precision_spends_no_randomness_on_it() {
        let space = SearchSpace::resolve("nb201").unwrap();
        let only = CandidateSpace::new(&space, &[Precision::F32]).unwrap();
        let (mut a, mut b) = (SeededRng::new(9), SeededRng::new(9));
        for _ in 0..20 {
            assert_eq!(only.sample(&mut a).genome, space.sample(&mut b));
        }
    }

    #[test]
    fn mutation_changes_one_dimension() {
        let space = SearchSpace::resolve("nb201").unwrap();
        let precisions = [Precision::F32, Precision::F16, Precision::Int8];
        let both = CandidateSpace::new(&space, &precisions).unwrap();
        let mut rng = SeededRng::new(1);
        let (mut precision_moves, mut arch_moves) = (0, 0);
        for _ in 0..400 {
            let c = both.sample(&mut rng);
            let m = both.mutate(&c, &mut rng).unwrap();
            match (m.precision != c.precision, m.genome != c.genome) {
                (true, false) => precision_moves += 1,
                (false, _) => arch_moves += 1,
                (true, true) => panic!("two decisions changed: {c} -> {m}"),
            }
        }
        assert!((60..140).contains(&precision_moves), "about 1 in 4: {precision_moves}");
        assert!(arch_moves > 250);
        assert_ne!(both.sample(&mut rng).key(), "", "keys are never empty");
    }

    #[test]
    fn precision_lists_are_checked_on_construction() {
        let space = SearchSpace::resolve("nb201").unwrap();
        let e = CandidateSpace::new(&space, &[]).unwrap_err().to_string();
        assert!(e.contains("at least one precision"), "{e}");
        let e = CandidateSpace::new(&space, &[Precision::Int8, Precision::Int8]).unwrap_err().to_string();
        assert!(e.contains("int8 is listed twice"), "{e}");
    }
}
