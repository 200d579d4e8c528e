//! The numeric precision a model is deployed in.

use serde::{Deserialize, Serialize};

/// The precision a candidate or a model is deployed in; the int8 ones are laid out in an
/// [`super::Int8Format`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[derive(strum::EnumString, strum::Display, strum::IntoStaticStr, strum::VariantArray)]
#[serde(rename_all = "kebab-case")]
#[strum(serialize_all = "kebab-case")]
pub enum Precision {
    #[default]
    F32,
    F16,
    /// f16 with the first and last weighted layers in f32.
    F16Mixed,
    Int8,
    /// int8 with the first and last weighted layers in f32.
    Int8Mixed,
}

impl Precision {
    pub fn is_f32(&self) -> bool {
        *self == Precision::F32
    }

    /// int8 or int8-mixed.
    pub fn is_int8(self) -> bool {
        matches!(self, Precision::Int8 | Precision::Int8Mixed)
    }

    /// f16 or f16-mixed.
    pub fn is_f16(self) -> bool {
        matches!(self, Precision::F16 | Precision::F16Mixed)
    }

    /// Keeps the first and the last weighted layer in f32.
    pub fn is_mixed(self) -> bool {
        matches!(self, Precision::F16Mixed | Precision::Int8Mixed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::names::{names, parse_name, Named};

    #[test]
    fn names_are_kebab_case_and_parse_back() {
        assert_eq!(names::<Precision>(), ["f32", "f16", "f16-mixed", "int8", "int8-mixed"]);
        for name in names::<Precision>() {
            let p: Precision = parse_name("precision", name).unwrap();
            assert_eq!((p.name(), p.to_string()), (name, name.to_string()));
            assert_eq!(serde_json::to_string(&p).unwrap(), format!("\"{name}\""));
        }
        let e = parse_name::<Precision>("precision", "int4").unwrap_err().to_string();
        assert_eq!(e, "unknown precision `int4` (expected one of f32, f16, f16-mixed, int8, int8-mixed)");
    }
}
