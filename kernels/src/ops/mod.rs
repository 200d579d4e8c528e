//! The integer ops, one file per op family: parameters, shape rule and reference
//! semantics (`eval`), which the generated C reproduces bit for bit.

mod add;
pub(crate) mod conv;
mod pool;
mod requantize;

pub use add::{Int8Add, ADD_LEFT_SHIFT};
pub use conv::{Int8Conv, Int8DepthwiseConv};
pub use pool::{Int8AvgPool, Int8MaxPool};
pub use requantize::Int8Requantize;
