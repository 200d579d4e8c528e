//! The reference interpreter: runs an [`Int8Program`] on the host with each op's `eval`.
//! The generated C must give the same bytes for every input.

use crate::program::{Int8Op, Int8Program};
use crate::ProgramError;

/// Runs `program` on `input` (int8, HWC) and returns its output (int8).
pub fn run_reference(program: &Int8Program, input: &[i8]) -> Result<Vec<i8>, ProgramError> {
    let mut values = run(program, input, false)?;
    values[program.output.0].take().ok_or_else(|| ProgramError::Malformed("the output is never written".into()))
}

/// Runs `program` on `input` and returns every tensor's values, by [`crate::TensorId`]
/// (for comparing layer by layer).
pub fn run_reference_traced(program: &Int8Program, input: &[i8]) -> Result<Vec<Vec<i8>>, ProgramError> {
    Ok(run(program, input, true)?.into_iter().map(Option::unwrap_or_default).collect())
}

/// Runs op `index` of `program` alone on `inputs` (one slice per [`Int8Op::inputs`], each
/// of its tensor's length) and returns its output.
pub fn eval_op(program: &Int8Program, index: usize, inputs: &[&[i8]]) -> Result<Vec<i8>, ProgramError> {
    let op = program.ops.get(index).ok_or_else(|| ProgramError::Malformed(format!("no op {index}")))?;
    let ids = op.inputs();
    if ids.len() != inputs.len() {
        return Err(ProgramError::Malformed(format!("op `{}` takes {} inputs", op.name(), ids.len())));
    }
    for (id, x) in ids.iter().zip(inputs) {
        let expected = program.tensor(*id).shape.len();
        if x.len() != expected {
            return Err(ProgramError::InputSize { got: x.len(), expected });
        }
    }
    let ys = program.tensor(op.output()).shape;
    let mut y = vec![0i8; ys.len()];
    eval_into(program, op, inputs, &mut y);
    Ok(y)
}

fn eval_into(program: &Int8Program, op: &Int8Op, inputs: &[&[i8]], y: &mut [i8]) {
    let xs = program.tensor(op.inputs()[0]).shape;
    let ys = program.tensor(op.output()).shape;
    match op {
        Int8Op::Conv(o) => o.eval(inputs[0], xs, y, ys),
        Int8Op::DepthwiseConv(o) => o.eval(inputs[0], xs, y, ys),
        Int8Op::Add(o) => o.eval(inputs[0], inputs[1], y),
        Int8Op::AvgPool(o) => o.eval(inputs[0], xs, y, ys),
        Int8Op::MaxPool(o) => o.eval(inputs[0], xs, y, ys),
        Int8Op::Requantize(o) => o.eval(inputs[0], y),
    }
}

fn run(program: &Int8Program, input: &[i8], keep: bool) -> Result<Vec<Option<Vec<i8>>>, ProgramError> {
    let expected = program.input_tensor().shape.len();
    if input.len() != expected {
        return Err(ProgramError::InputSize { got: input.len(), expected });
    }
    let mut last_use = vec![0usize; program.tensors.len()];
    for (i, op) in program.ops.iter().enumerate() {
        for t in op.inputs() {
            last_use[t.0] = i;
        }
    }
    last_use[program.output.0] = usize::MAX;
    let mut values: Vec<Option<Vec<i8>>> = vec![None; program.tensors.len()];
    values[program.input.0] = Some(input.to_vec());
    for (i, op) in program.ops.iter().enumerate() {
        let out = op.output();
        let ys = program.tensor(out).shape;
        let mut y = vec![0i8; ys.len()];
        let args: Vec<&[i8]> = op.inputs().iter().map(|t| values[t.0].as_deref().unwrap_or(&[])).collect();
        eval_into(program, op, &args, &mut y);
        values[out.0] = Some(y);
        for t in op.inputs() {
            if !keep && last_use[t.0] == i {
                values[t.0] = None;
            }
        }
    }
    Ok(values)
}
