use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::mbconv::MbconvGenome;
use super::nb201::Nb201Genome;
use super::SpaceError;
use crate::ir::Graph;

/// One architecture, self-contained: it builds its graph without its space.
/// JSON: `{"kind":"nb201","arch":"|...|","index":6111}` or `{"kind":"mbconv",...}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum Genome {
    Nb201(Nb201Genome),
    Mbconv(MbconvGenome),
}

impl Genome {
    /// The architecture graph (weights not initialized), type-inferred.
    pub fn build(&self) -> Result<Graph, SpaceError> {
        let mut g = match self {
            Genome::Nb201(g) => g.build()?,
            Genome::Mbconv(g) => g.build()?,
        };
        g.infer_types()?;
        Ok(g)
    }

    pub fn space_name(&self) -> &str {
        match self {
            Genome::Nb201(_) => "nb201",
            Genome::Mbconv(g) => &g.space,
        }
    }

    /// Stable content hash: SHA-256 of the canonical JSON (serde field order, no
    /// whitespace), first 16 hex digits. Same genome, same hash, on every machine.
    pub fn content_hash(&self) -> String {
        let json = self.to_json();
        let digest = Sha256::digest(json.as_bytes());
        digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
    }

    /// The canonical JSON. A genome whose width multiplier is not finite (only a program
    /// can make one; JSON cannot hold it) serializes as its `Debug` text instead.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| format!("{self:?}"))
    }

    /// Parses and checks a genome (an NB201 genome's index must match its arch).
    pub fn from_json(text: &str) -> Result<Self, SpaceError> {
        let g: Genome = serde_json::from_str(text).map_err(|e| SpaceError::InvalidGenome(e.to_string()))?;
        if let Genome::Nb201(n) = &g {
            n.validate()?;
        }
        Ok(g)
    }
}
