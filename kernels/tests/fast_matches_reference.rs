//! The fast kernels compute exactly what the reference `eval`s compute, on random shapes:
//! kernels 1-5 (not square), strides 1-3, asymmetric padding, odd channel counts, any zero
//! points, multipliers and clamps; on the best instruction set of this CPU and on the
//! baseline path.

use edgenas_kernels::fast::{ConvScratch, FastAdd, FastAvgPool, FastConv, FastDepthwise, FastRequantize, Isa};
use edgenas_kernels::{
    Hwc, Int8Add, Int8AvgPool, Int8Conv, Int8DepthwiseConv, Int8Requantize, QuantizedMultiplier, TensorId, Window,
};
use proptest::prelude::*;
use std::cell::RefCell;

thread_local! {
    /// Scratch kept across cases, as the runtime keeps one per thread across ops: a kernel
    /// must give the same result whatever an earlier, differently shaped op left in it.
    static REUSED: RefCell<(ConvScratch, Vec<i8>, Vec<i32>)> = RefCell::default();
}

#[derive(Debug, Clone)]
struct Case {
    window: Window,
    input: Hwc,
    out_channels: usize,
    seed: u64,
    input_offset: i32,
    output_offset: i32,
    clamp: (i8, i8),
}

fn window() -> impl Strategy<Value = Window> {
    (1usize..=5, 1usize..=5, 1usize..=3, 1usize..=3, [0usize..=2, 0..=2, 0..=2, 0..=2]).prop_map(
        |(kh, kw, sh, sw, [pt, pl, pb, pr])| Window {
            kernel_h: kh,
            kernel_w: kw,
            stride_h: sh,
            stride_w: sw,
            pad_top: pt.min(kh - 1),
            pad_left: pl.min(kw - 1),
            pad_bottom: pb.min(kh - 1),
            pad_right: pr.min(kw - 1),
        },
    )
}

fn case() -> impl Strategy<Value = Case> {
    (
        window(),
        1usize..=11,
        1usize..=11,
        1usize..=19,
        1usize..=40,
        any::<u64>(),
        -128i32..=127,
        -128i32..=127,
        any::<(i8, i8)>(),
    )
        .prop_filter_map("the window must fit the input", |(window, h, w, c, oc, seed, zx, zy, (a, b))| {
            window.output_size(h, w)?;
            Some(Case {
                window,
                input: Hwc::new(h, w, c),
                out_channels: oc,
                seed,
                input_offset: -zx,
                output_offset: zy,
                clamp: (a.min(b), a.max(b)),
            })
        })
}

/// xorshift64*: the test's own deterministic stream.
struct Stream(u64);

impl Stream {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn i8s(&mut self, n: usize) -> Vec<i8> {
        (0..n).map(|_| self.next() as i8).collect()
    }
    fn biases(&mut self, n: usize) -> Vec<i32> {
        (0..n).map(|_| (self.next() % 40_001) as i32 - 20_000).collect()
    }
    fn multipliers(&mut self, n: usize) -> Vec<QuantizedMultiplier> {
        (0..n)
            .map(|_| {
                let m = 1e-5 * 10f64.powf((self.next() % 1000) as f64 / 200.0);
                QuantizedMultiplier::from_real(m).expect("a multiplier below 1")
            })
            .collect()
    }
}

/// Every instruction set this CPU has, the baseline included.
fn isas() -> Vec<Isa> {
    [Isa::Baseline, Isa::Avx2, Isa::Avx512Vnni, Isa::DotProd].into_iter().filter(|i| i.is_available()).collect()
}

fn conv_of(c: &Case, s: &mut Stream) -> Int8Conv {
    let k = c.window.taps() * c.input.c;
    Int8Conv {
        name: "conv".into(),
        input: TensorId(0),
        output: TensorId(1),
        window: c.window,
        in_channels: c.input.c,
        out_channels: c.out_channels,
        weights: s.i8s(c.out_channels * k),
        bias: s.biases(c.out_channels),
        requant: s.multipliers(c.out_channels),
        input_offset: c.input_offset,
        output_offset: c.output_offset,
        act_min: c.clamp.0,
        act_max: c.clamp.1,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn conv_is_bit_exact(c in case()) {
        let mut s = Stream(c.seed | 1);
        let conv = conv_of(&c, &mut s);
        let x = s.i8s(c.input.len());
        let (h, w) = c.window.output_size(c.input.h, c.input.w).unwrap();
        let ys = Hwc::new(h, w, c.out_channels);
        let mut expected = vec![0i8; ys.len()];
        conv.eval(&x, c.input, &mut expected, ys);
        for isa in isas() {
            let fast = FastConv::new(&conv, isa).unwrap();
            let mut got = vec![0i8; ys.len()];
            fast.run(&x, c.input, &mut got, ys, &mut ConvScratch::default());
            prop_assert_eq!(&got, &expected, "{:?}", isa);
            got.fill(0);
            REUSED.with(|r| fast.run(&x, c.input, &mut got, ys, &mut r.borrow_mut().0));
            prop_assert_eq!(&got, &expected, "{:?}, reused scratch", isa);
        }
    }

    #[test]
    fn depthwise_is_bit_exact(c in case()) {
        let mut s = Stream(c.seed | 1);
        let ch = c.input.c;
        let conv = Int8DepthwiseConv {
            name: "dw".into(),
            input: TensorId(0),
            output: TensorId(1),
            window: c.window,
            channels: ch,
            weights: s.i8s(c.window.taps() * ch),
            bias: s.biases(ch),
            requant: s.multipliers(ch),
            input_offset: c.input_offset,
            output_offset: c.output_offset,
            act_min: c.clamp.0,
            act_max: c.clamp.1,
        };
        let x = s.i8s(c.input.len());
        let (h, w) = c.window.output_size(c.input.h, c.input.w).unwrap();
        let ys = Hwc::new(h, w, ch);
        let mut expected = vec![0i8; ys.len()];
        conv.eval(&x, c.input, &mut expected, ys);
        for isa in isas() {
            let fast = FastDepthwise::new(&conv, isa).unwrap();
            let mut got = vec![0i8; ys.len()];
            fast.run(&x, c.input, &mut got, ys, &mut Vec::new(), &mut Vec::new());
            prop_assert_eq!(&got, &expected, "{:?}", isa);
            got.fill(0);
            REUSED.with(|r| {
                let (_, padded, acc) = &mut *r.borrow_mut();
                fast.run(&x, c.input, &mut got, ys, padded, acc)
            });
            prop_assert_eq!(&got, &expected, "{:?}, reused scratch", isa);
        }
    }

    #[test]
    fn add_is_bit_exact(seed in any::<u64>(), n in 1usize..500, scales in [1e-3f64..1.0, 1e-3..1.0, 1e-3..1.0],
                        za in -128i32..=127, zb in -128i32..=127, zy in -128i32..=127) {
        let mut s = Stream(seed | 1);
        let [a_requant, b_requant, output_requant] = Int8Add::multipliers(scales[0], scales[1], scales[2]).unwrap();
        let add = Int8Add {
            name: "add".into(), a: TensorId(0), b: TensorId(1), output: TensorId(2),
            a_offset: -za, b_offset: -zb, a_requant, b_requant, output_requant,
            output_offset: zy, act_min: -128, act_max: 127,
        };
        let (a, b) = (s.i8s(n), s.i8s(n));
        let mut expected = vec![0i8; n];
        for i in 0..n {
            expected[i] = add.value(a[i], b[i]);
        }
        let mut got = vec![0i8; n];
        FastAdd::new(&add).run(&a, &b, &mut got);
        prop_assert_eq!(got, expected);
    }

    #[test]
    fn average_pool_is_bit_exact(c in case(), per_count in any::<bool>()) {
        let mut s = Stream(c.seed | 1);
        let taps = c.window.taps();
        let count_multipliers = if per_count {
            (1..=taps).map(|n| QuantizedMultiplier::from_real(0.9 / n as f64).unwrap()).collect()
        } else {
            s.multipliers(1)
        };
        let pool = Int8AvgPool {
            name: "pool".into(), input: TensorId(0), output: TensorId(1), window: c.window, count_multipliers,
            input_offset: c.input_offset, output_offset: c.output_offset, act_min: c.clamp.0, act_max: c.clamp.1,
        };
        let x = s.i8s(c.input.len());
        let (h, w) = c.window.output_size(c.input.h, c.input.w).unwrap();
        let ys = Hwc::new(h, w, c.input.c);
        let mut expected = vec![0i8; ys.len()];
        pool.eval(&x, c.input, &mut expected, ys);
        let mut got = vec![0i8; ys.len()];
        FastAvgPool::new(&pool).run(&x, c.input, &mut got, ys, &mut Vec::new());
        prop_assert_eq!(&got, &expected);
        got.fill(0);
        REUSED.with(|r| FastAvgPool::new(&pool).run(&x, c.input, &mut got, ys, &mut r.borrow_mut().2));
        prop_assert_eq!(&got, &expected, "reused scratch");
    }

    #[test]
    fn requantize_is_bit_exact(scale in 1e-3f64..4.0, zx in -128i32..=127, zy in -128i32..=127, clamp in any::<(i8, i8)>()) {
        let op = Int8Requantize {
            name: "relu".into(), input: TensorId(0), output: TensorId(1),
            requant: QuantizedMultiplier::from_real(scale).unwrap(), input_offset: -zx, output_offset: zy,
            act_min: clamp.0.min(clamp.1), act_max: clamp.0.max(clamp.1),
        };
        let x: Vec<i8> = (i8::MIN..=i8::MAX).collect();
        let mut expected = vec![0i8; x.len()];
        op.eval(&x, &mut expected);
        let mut got = vec![0i8; x.len()];
        FastRequantize::new(&op).run(&x, &mut got);
        prop_assert_eq!(got, expected);
    }
}

/// `EDGENAS_EXPECT_ISA` (set by scripts/test.sh for its qemu-aarch64 runs: `dotprod` under
/// `-cpu cortex-a76`, `baseline` under `-cpu cortex-a72`) names the instruction set
/// detection must find, so those runs provably cover both aarch64 paths.
#[test]
fn the_expected_instruction_set_is_detected() {
    let detected = Isa::detect();
    assert!(detected.is_available());
    if let Ok(expected) = std::env::var("EDGENAS_EXPECT_ISA") {
        let name = format!("{detected:?}").to_lowercase();
        assert_eq!(name, expected, "detected {detected:?}");
    }
}
