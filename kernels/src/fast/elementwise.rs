//! Element-wise ops through lookup tables: an int8 input takes 256 values, so a
//! requantization is a 256-entry table, and an add's per-input rescale two 256-entry
//! tables of int32 (only the rescale of the sum is computed per element). The tables hold
//! the reference's own results, so these are bit-exact by construction.

use crate::{Int8Add, Int8Requantize, QuantizedMultiplier};

/// The index of `v` in a 256-entry table.
#[inline(always)]
fn slot(v: i8) -> usize {
    usize::from(v as u8)
}

/// [`Int8Requantize`] as a table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FastRequantize {
    table: Box<[i8; 256]>,
}

impl FastRequantize {
    pub fn new(op: &Int8Requantize) -> Self {
        let mut table = Box::new([0i8; 256]);
        for v in i8::MIN..=i8::MAX {
            table[slot(v)] = op.value(v);
        }
        FastRequantize { table }
    }

    pub fn run(&self, x: &[i8], y: &mut [i8]) {
        let n = x.len().min(y.len());
        #[allow(unused_mut)]
        let mut done = 0;
        #[cfg(target_arch = "aarch64")]
        while done + 16 <= n {
            // SAFETY: both ranges have 16 values; NEON is part of aarch64.
            unsafe { super::aarch64::lookup16(&self.table, &x[done..done + 16], &mut y[done..done + 16]) };
            done += 16;
        }
        for (y, &x) in y[done..n].iter_mut().zip(&x[done..n]) {
            *y = self.table[slot(x)];
        }
    }
}

/// [`Int8Add`] with both inputs' rescales as tables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FastAdd {
    a: Box<[i32; 256]>,
    b: Box<[i32; 256]>,
    output_requant: QuantizedMultiplier,
    output_offset: i32,
    act_min: i8,
    act_max: i8,
    #[cfg(target_arch = "aarch64")]
    vector: super::aarch64::Broadcast,
}

impl FastAdd {
    pub fn new(op: &Int8Add) -> Self {
        let (mut a, mut b) = (Box::new([0i32; 256]), Box::new([0i32; 256]));
        for v in i8::MIN..=i8::MAX {
            let (sa, sb) = op.rescaled(v, v);
            a[slot(v)] = sa;
            b[slot(v)] = sb;
        }
        FastAdd {
            a,
            b,
            output_requant: op.output_requant,
            output_offset: op.output_offset,
            act_min: op.act_min,
            act_max: op.act_max,
            #[cfg(target_arch = "aarch64")]
            vector: super::aarch64::Broadcast::new(op.output_requant),
        }
    }

    pub fn run(&self, a: &[i8], b: &[i8], y: &mut [i8]) {
        let n = a.len().min(b.len()).min(y.len());
        #[allow(unused_mut)]
        let mut done = 0;
        #[cfg(target_arch = "aarch64")]
        while done + 16 <= n {
            let mut sums = [0i32; 16];
            for (i, sum) in sums.iter_mut().enumerate() {
                *sum = self.a[slot(a[done + i])].wrapping_add(self.b[slot(b[done + i])]);
            }
            let clamp = (self.act_min, self.act_max);
            // SAFETY: both ranges have 16 values; NEON is part of aarch64.
            unsafe { self.vector.run(&sums, self.output_offset, clamp, &mut y[done..done + 16]) };
            done += 16;
        }
        for ((y, &a), &b) in y[done..n].iter_mut().zip(&a[done..n]).zip(&b[done..n]) {
            let sum = self.a[slot(a)].wrapping_add(self.b[slot(b)]);
            *y = super::requantize(sum, self.output_requant, self.output_offset, self.act_min, self.act_max);
        }
    }
}
