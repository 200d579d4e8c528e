//! Properties over random genomes of every built-in space: the graph validates, the cost
//! analysis runs, and the emitted ONNX imports back to the same deployed graph (same ops,
//! weights bit-identical, same costs). Cases come from proptest (failures shrink to a seed).

use std::collections::BTreeMap;

use edgenas_compiler::cost::CostReport;
use edgenas_compiler::ir::{Graph, Op};
use edgenas_compiler::rng::SeededRng;
use edgenas_compiler::space::SearchSpace;
use edgenas_compiler::{lower, onnx};
use proptest::prelude::*;

fn roundtrip(space_name: &str, seed: u64) {
    let space = SearchSpace::resolve(space_name).unwrap();
    let mut rng = SeededRng::new(seed);
    let genome = space.sample(&mut rng);
    space.contains(&genome).unwrap();
    let mutated = space.mutate(&genome, &mut rng).unwrap();
    space.contains(&mutated).unwrap();
    assert_ne!(mutated, genome);

    let graph = genome.build().unwrap();
    let cost = CostReport::analyze(&graph).unwrap();
    assert!(cost.macs > 0 && cost.params > 0 && cost.peak_activation_bytes > 0);
    // f16 halves every stored value; int8 keeps 4-byte (int32) biases, so it undercuts f16
    // only when weights outnumber twice the biases: not in an NB201 cell whose output does
    // not depend on its input, where lowering leaves little more than biases.
    let w = cost.weight_bytes;
    assert!(w.f16 * 2 == w.f32 && w.int8 < w.f32, "{w:?}");

    let deployed = lower::lower(&graph, seed).unwrap();
    let bytes = onnx::to_bytes(&onnx::emit(&deployed, &Default::default()).unwrap()).unwrap();
    let imported = onnx::import(&bytes).unwrap().graph;
    let stored =
        |g: &Graph| -> u64 { g.node_ids().flat_map(|n| g.node(n).params.iter()).map(|p| p.data.len() as u64).sum() };
    assert_eq!(stored(&imported), stored(&deployed), "every weight value comes back");
    let reimported = CostReport::of_deployed(&imported, stored(&imported)).unwrap();
    assert_eq!(reimported.macs, cost.macs);
    assert_eq!(reimported.weight_bytes, cost.weight_bytes);
    assert_eq!(reimported.peak_activation_bytes, cost.peak_activation_bytes);
    assert_eq!(reimported.params, stored(&deployed));
    let ops = |g: &Graph| {
        g.node_ids()
            .map(|n| g.node(n))
            .filter(|n| !matches!(n.op, Op::ZeroConst(_)))
            .map(|n| (n.name.clone(), (n.op.clone(), n.params.clone())))
            .collect::<BTreeMap<_, _>>()
    };
    assert!(ops(&deployed) == ops(&imported), "imported graph differs from the emitted one");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn nb201_genomes_round_trip(seed in any::<u64>()) {
        roundtrip("nb201", seed);
    }

    #[test]
    fn mbconv_mcu_genomes_round_trip(seed in any::<u64>()) {
        roundtrip("mbconv-mcu", seed);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4, ..ProptestConfig::default() })]

    #[test]
    fn mbconv_phone_genomes_round_trip(seed in any::<u64>()) {
        roundtrip("mbconv-phone", seed);
    }
}

#[test]
fn malformed_onnx_is_an_error_not_a_panic() {
    let graph = SearchSpace::resolve("nb201").unwrap().sample(&mut SeededRng::new(1)).build().unwrap();
    let bytes = onnx::to_bytes(&onnx::emit(&lower::lower(&graph, 1).unwrap(), &Default::default()).unwrap()).unwrap();
    for cut in [0, 1, 10, bytes.len() / 3, bytes.len() - 1] {
        assert!(onnx::import(&bytes[..cut]).is_err(), "truncated at {cut}");
    }
    let (mut rejected, mut accepted) = (0, 0);
    // 300 positions spread over the file: the graph structure sits in its first and last
    // kilobytes, the weights between them.
    let positions =
        (0..100).chain(bytes.len().saturating_sub(100)..bytes.len()).chain((0..100).map(|k| k * bytes.len() / 100));
    for i in positions {
        for mask in [0x01, 0x5a, 0x80] {
            let mut flipped = bytes.clone();
            flipped[i] ^= mask;
            match onnx::import(&flipped) {
                Err(_) => rejected += 1,
                Ok(model) => {
                    accepted += 1;
                    let again = onnx::to_bytes(&onnx::emit(&model.graph, &Default::default()).unwrap()).unwrap();
                    let back = onnx::import(&again).expect("a graph the importer accepted re-emits and imports again");
                    assert_eq!(back.graph.len(), model.graph.len(), "flip at byte {i} ({mask:#x})");
                }
            }
        }
    }
    assert!(
        rejected > 0 && accepted > 0,
        "flips inside weights are accepted, flips in the structure are not: {rejected} rejected, {accepted} accepted"
    );
}
