//! Which candidates a strategy has already proposed, so it can avoid paying for the same
//! evaluation twice.

use std::collections::HashSet;

use crate::candidate::Candidate;

/// Extra draws a strategy spends looking for a candidate it has not proposed before.
pub const DUPLICATE_RETRIES: usize = 20;

/// Keys ([`Candidate::key`]) of the candidates proposed so far.
#[derive(Debug, Default)]
pub(crate) struct Proposed(HashSet<String>);

impl Proposed {
    /// Calls `draw` until it yields a candidate not proposed before, at most
    /// `1 + DUPLICATE_RETRIES` times; the last draw is recorded and returned either way.
    pub(crate) fn fresh(&mut self, mut draw: impl FnMut() -> Candidate) -> Candidate {
        let mut genome = draw();
        for _ in 0..DUPLICATE_RETRIES {
            if !self.0.contains(&genome.key()) {
                break;
            }
            genome = draw();
        }
        self.0.insert(genome.key());
        genome
    }

    /// Whether a candidate with this key was proposed.
    pub(crate) fn contains(&self, key: &str) -> bool {
        self.0.contains(key)
    }

    /// Records a candidate chosen without [`Proposed::fresh`].
    pub(crate) fn insert(&mut self, candidate: &Candidate) {
        self.0.insert(candidate.key());
    }
}
