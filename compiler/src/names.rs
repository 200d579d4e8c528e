//! Names of the plain enums users type (precisions, formats, strategies, ...): derived
//! once with strum (`kebab-case`, the same spelling serde uses), parsed through
//! [`parse_name`] so that an unknown name is an error listing the valid ones.

use std::str::FromStr;

use strum::VariantArray;
use thiserror::Error;

/// A name that is none of an enum's variants.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("unknown {what} `{given}` (expected one of {})", valid.join(", "))]
pub struct UnknownName {
    /// What was being named (`precision`, `strategy`, ...).
    pub what: &'static str,
    pub given: String,
    pub valid: Vec<&'static str>,
}

/// Parses `given` as a variant name of `T`; the error names `what` and lists every valid
/// name in declaration order.
pub fn parse_name<T>(what: &'static str, given: &str) -> Result<T, UnknownName>
where
    T: FromStr + VariantArray + Copy + 'static,
    &'static str: From<T>,
{
    T::from_str(given).map_err(|_| UnknownName { what, given: given.to_string(), valid: names::<T>() })
}

/// Every variant name of `T`, in declaration order.
pub fn names<T>() -> Vec<&'static str>
where
    T: VariantArray + Copy + 'static,
    &'static str: From<T>,
{
    T::VARIANTS.iter().map(|&v| <&'static str>::from(v)).collect()
}

/// A variant's name, for every enum that derives strum's `IntoStaticStr`.
pub trait Named: Copy {
    fn name(self) -> &'static str;
}

impl<T: Copy> Named for T
where
    &'static str: From<T>,
{
    fn name(self) -> &'static str {
        self.into()
    }
}
