//! The two ends of an int8 plan: the f32 NCHW input quantized to int8 HWC, and the int8
//! output dequantized to f32.

use edgenas_kernels::{Hwc, QuantParams};
use tract_nnef::tract_core::internal::*;

use super::{hwc_fact, int8_map, int8_tract_op, int8s, Int8Kernel};

/// f32 `[1, C, H, W]` → int8 HWC, rounded half to even and saturated (ONNX QuantizeLinear).
#[derive(Debug, Clone, PartialEq)]
pub struct EdgenasQuantize {
    quant: QuantParams,
    shape: Hwc,
}

impl Eq for EdgenasQuantize {}

impl EdgenasQuantize {
    pub fn new(quant: QuantParams, shape: Hwc) -> Self {
        EdgenasQuantize { quant, shape }
    }
}

impl Int8Kernel for EdgenasQuantize {
    const NAME: &'static str = "EdgenasQuantize";

    fn output_fact(&self) -> TypedFact {
        hwc_fact(self.shape)
    }

    fn compute(&self, inputs: &[TValue]) -> TractResult<Tensor> {
        let x = inputs[0].try_as_plain_ram()?.as_slice::<f32>()?;
        let Hwc { h, w, c } = self.shape;
        int8_map(self.shape, |y| {
            for ch in 0..c {
                let plane = &x[ch * h * w..(ch + 1) * h * w];
                for (p, &v) in plane.iter().enumerate() {
                    y[p * c + ch] = self.quant.quantize(v);
                }
            }
        })
    }
}

int8_tract_op!(EdgenasQuantize);

/// int8 HWC → f32: `[1, C]` for a 1×1 map, `[1, C, H, W]` otherwise.
#[derive(Debug, Clone, PartialEq)]
pub struct EdgenasDequantize {
    quant: QuantParams,
    shape: Hwc,
}

impl Eq for EdgenasDequantize {}

impl EdgenasDequantize {
    pub fn new(quant: QuantParams, shape: Hwc) -> Self {
        EdgenasDequantize { quant, shape }
    }

    fn dims(&self) -> Vec<usize> {
        let Hwc { h, w, c } = self.shape;
        if h == 1 && w == 1 {
            vec![1, c]
        } else {
            vec![1, c, h, w]
        }
    }
}

impl Int8Kernel for EdgenasDequantize {
    const NAME: &'static str = "EdgenasDequantize";

    fn output_fact(&self) -> TypedFact {
        TypedFact::dt_shape(DatumType::F32, self.dims())
    }

    fn compute(&self, inputs: &[TValue]) -> TractResult<Tensor> {
        let x = int8s(&inputs[0])?;
        let Hwc { h, w, c } = self.shape;
        let mut y = Tensor::zero::<f32>(&self.dims())?;
        let out = y.try_as_plain_ram_mut()?;
        let mut out = out;
        let out = out.as_slice_mut::<f32>()?;
        for p in 0..h * w {
            for ch in 0..c {
                out[ch * h * w + p] = self.quant.dequantize(x[p * c + ch]);
            }
        }
        Ok(y)
    }
}

int8_tract_op!(EdgenasDequantize);
