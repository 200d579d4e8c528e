use std::fmt;
use std::str::FromStr;

use crate::space::SpaceError;

/// Edges of the NB201 cell, in arch-string order: (to, from) = (1,0), (2,0), (2,1), (3,0),
/// (3,1), (3,2).
pub const NB201_EDGES: usize = 6;

pub(crate) const EDGE_ENDPOINTS: [(usize, usize); NB201_EDGES] = [(1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2)];

/// The five NB201 edge operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Nb201Op {
    None,
    SkipConnect,
    NorConv1x1,
    NorConv3x3,
    AvgPool3x3,
}

impl Nb201Op {
    pub const ALL: [Nb201Op; 5] =
        [Nb201Op::None, Nb201Op::SkipConnect, Nb201Op::NorConv1x1, Nb201Op::NorConv3x3, Nb201Op::AvgPool3x3];

    pub fn as_str(self) -> &'static str {
        match self {
            Nb201Op::None => "none",
            Nb201Op::SkipConnect => "skip_connect",
            Nb201Op::NorConv1x1 => "nor_conv_1x1",
            Nb201Op::NorConv3x3 => "nor_conv_3x3",
            Nb201Op::AvgPool3x3 => "avg_pool_3x3",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Nb201Op::ALL.into_iter().find(|op| op.as_str() == s)
    }
}

/// A cell: the op on each of the six edges, in arch-string order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Nb201Arch {
    pub ops: [Nb201Op; NB201_EDGES],
}

impl Nb201Arch {
    /// Base-5 code of the ops (edge 0 least significant): a dense id in `0..15625`. This
    /// is not the NB201 index; [`super::Nb201Table::index_of`] maps between them.
    pub fn code(&self) -> usize {
        self.ops.iter().rev().fold(0, |acc, op| acc * 5 + *op as usize)
    }

    pub fn from_code(mut code: usize) -> Option<Self> {
        if code >= super::NB201_SIZE {
            return None;
        }
        let mut ops = [Nb201Op::None; NB201_EDGES];
        for op in &mut ops {
            *op = Nb201Op::ALL[code % 5];
            code /= 5;
        }
        Some(Nb201Arch { ops })
    }
}

impl fmt::Display for Nb201Arch {
    /// The standard string, e.g. `|nor_conv_3x3~0|+|none~0|skip_connect~1|+|...~2|`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut edge = 0;
        for node in 1..=3 {
            if node > 1 {
                f.write_str("+")?;
            }
            f.write_str("|")?;
            for from in 0..node {
                write!(f, "{}~{}|", self.ops[edge].as_str(), from)?;
                edge += 1;
            }
        }
        Ok(())
    }
}

impl FromStr for Nb201Arch {
    type Err = SpaceError;

    fn from_str(s: &str) -> Result<Self, SpaceError> {
        let invalid = |reason: String| SpaceError::InvalidArch { arch: s.to_string(), reason };
        let nodes: Vec<&str> = s.trim().split('+').collect();
        if nodes.len() != 3 {
            return Err(invalid(format!("expected 3 node groups separated by '+', found {}", nodes.len())));
        }
        let mut ops = [Nb201Op::None; NB201_EDGES];
        let mut edge = 0;
        for (i, group) in nodes.iter().enumerate() {
            let inner = group
                .strip_prefix('|')
                .and_then(|g| g.strip_suffix('|'))
                .ok_or_else(|| invalid(format!("node group {} must start and end with '|'", i + 1)))?;
            let tokens: Vec<&str> = inner.split('|').collect();
            if tokens.len() != i + 1 {
                return Err(invalid(format!("node {} needs {} input edges, found {}", i + 1, i + 1, tokens.len())));
            }
            for (from, token) in tokens.iter().enumerate() {
                let (name, src) = token
                    .split_once('~')
                    .ok_or_else(|| invalid(format!("edge `{token}` is not of the form op~input")))?;
                let op = Nb201Op::parse(name).ok_or_else(|| {
                    invalid(format!(
                        "unknown op `{name}` (expected one of none, skip_connect, nor_conv_1x1, nor_conv_3x3, avg_pool_3x3)"
                    ))
                })?;
                if src != from.to_string() {
                    return Err(invalid(format!("edge `{token}` of node {} must come from input {from}", i + 1)));
                }
                ops[edge] = op;
                edge += 1;
            }
        }
        Ok(Nb201Arch { ops })
    }
}
