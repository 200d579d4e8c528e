use std::path::Path;

use super::*;
use crate::cost::CostReport;
use crate::ir::Op;
use crate::rng::SeededRng;
use crate::space::{Genome, SpaceError};

fn phone() -> MbconvSpace {
    MbconvSpace::preset("mbconv-phone").expect("built-in space")
}

fn mcu() -> MbconvSpace {
    MbconvSpace::preset("mbconv-mcu").expect("built-in space")
}

fn node_names(g: &MbconvGenome) -> Vec<String> {
    let graph = g.build().expect("builds");
    graph.node_ids().map(|n| graph.node(n).name.clone()).collect()
}

/// The decisions in which `a` and `b` differ. A width-multiplier change accounts for the
/// rescaled widths; a depth change for the added or removed trailing slots.
fn changed_decisions(a: &MbconvGenome, b: &MbconvGenome) -> Vec<String> {
    let mut changed = Vec::new();
    if a.resolution != b.resolution {
        changed.push("resolution".to_string());
    }
    let width_changed = !same_mult(a.width_mult, b.width_mult);
    if width_changed {
        changed.push("width_mult".to_string());
    } else if a.stem_channels != b.stem_channels || a.head_channels != b.head_channels {
        changed.push("stem/head".to_string());
    }
    if a.num_classes != b.num_classes || a.stages.len() != b.stages.len() {
        changed.push("structure".to_string());
        return changed;
    }
    for (si, (x, y)) in a.stages.iter().zip(&b.stages).enumerate() {
        if x.channels != y.channels && !width_changed {
            changed.push(format!("s{}.channels", si + 1));
        }
        if x.blocks.len() != y.blocks.len() {
            changed.push(format!("s{}.depth", si + 1));
        }
        for (bi, (p, q)) in x.blocks.iter().zip(&y.blocks).enumerate() {
            if p != q {
                changed.push(format!("s{}.b{}", si + 1, bi + 1));
            }
        }
    }
    changed
}

#[test]
fn make_divisible_matches_torchvision() {
    // Hand-evaluated torchvision `_make_divisible(v, 8)`.
    assert_eq!(make_divisible(5.6, 8), 8); // int(9.6)//8*8 = 8
    assert_eq!(make_divisible(11.2, 8), 16); // int(15.2)//8*8 = 8 < 0.9*11.2 = 10.08, +8
    assert_eq!(make_divisible(18.0, 8), 24); // int(22)//8*8 = 16 < 16.2, +8
    assert_eq!(make_divisible(20.0, 8), 24); // int(24)//8*8 = 24
    assert_eq!(make_divisible(1.0, 8), 8); // min_value = 8

    // 80 * 0.35 = 28 exactly in decimal; 0.35f32 * 80 would be 27.9999995 and lose 8.
    assert_eq!(scale_channels(80, 0.35), 32);
    assert_eq!(scale_head(320, 0.35), 320);
    assert_eq!(scale_head(1280, 1.4), 1792); // torchvision mobilenet_v2(width_mult=1.4).last_channel
}

#[test]
fn mobilenet_v2_1_0_224_matches_torchvision() {
    let genome = MbconvGenome::mobilenet_v2(1.0, 224, 1000);
    let graph = Genome::Mbconv(genome).build().expect("builds");
    let cost = CostReport::analyze(&graph).expect("analyzes");
    // sum(p.numel() for p in torchvision.models.mobilenet_v2().parameters()): conv and
    // linear weights, linear bias, BatchNorm weight and bias.
    assert_eq!(cost.params, 3_504_872);
    // Conv and Linear MACs summed layer by layer (a 30-line Python transcription of
    // torchvision's MobileNetV2 with output size (h - 1) // s + 1): 300,774,272, the
    // 300.77M that ptflops/fvcore report and the paper's "300M".
    assert_eq!(cost.macs, 300_774_272);
    assert!((cost.macs as f64 - 300.8e6).abs() < 0.01 * 300.8e6);
    assert_eq!(cost.output_shape, vec![1, 1000]);
}

#[test]
fn mobilenet_v2_0_35_96_widths() {
    let g = MbconvGenome::mobilenet_v2(0.35, 96, 1000);
    let mut widths = vec![g.stem_channels];
    widths.extend(g.stages.iter().map(|s| s.channels));
    // make_divisible(c * 0.35) for c = 32 (stem), 16, 24, 32, 64, 96, 160, 320:
    // 11.2 -> 8 < 10.08 so 16; 5.6 -> 8; 8.4 -> int(12.4)//8*8 = 8; 11.2 -> 16;
    // 22.4 -> int(26.4)//8*8 = 24; 33.6 -> 32; 56 -> 56; 112 -> 112 (as in Keras'
    // MobileNetV2 alpha=0.35, whose block_1/block_2 project to 8 channels).
    assert_eq!(widths, vec![16, 8, 8, 16, 24, 32, 56, 112]);
    // 1280 * max(1.0, 0.35) = 1280, already a multiple of 8.
    assert_eq!(g.head_channels, 1280);
    let graph = Genome::Mbconv(g).build().expect("builds");
    let cost = CostReport::analyze(&graph).expect("analyzes");
    // Same Python transcription as for 1.0-224: 1,677,128 parameters, 11,934,128 MACs.
    assert_eq!(cost.params, 1_677_128);
    assert_eq!(cost.macs, 11_934_128);
}

#[test]
fn mobilenet_v2_graph_has_readable_names_and_residuals() {
    let names = node_names(&MbconvGenome::mobilenet_v2(1.0, 224, 1000));
    for name in [
        "input",
        "stem.conv",
        "stem.relu6",
        "s1.b1.dw.conv",
        "s2.b1.expand.conv",
        "s2.b1.dw.bn",
        "s2.b1.project.bn",
        "s2.b2.add",
        "head.conv",
        "pool",
        "flatten",
        "classifier",
    ] {
        assert!(names.iter().any(|n| n == name), "missing {name}");
    }
    // Expansion 1 has no expand conv, and stage 1's only block changes 32 -> 16 channels.
    assert!(!names.iter().any(|n| n.starts_with("s1.b1.expand") || n == "s1.b1.add"));
    // Residual adds: blocks after the first of each stage, 1 + 2 + 3 + 2 + 2 = 10.
    assert_eq!(names.iter().filter(|n| n.ends_with(".add")).count(), 10);
}

#[test]
fn skipped_slots_produce_no_nodes() {
    let mut g = MbconvGenome::mobilenet_v2(1.0, 224, 1000);
    g.stages[2].blocks[1] = BlockChoice::Skip;
    let names = node_names(&g);
    assert!(!names.iter().any(|n| n.starts_with("s3.b2.")));
    assert!(names.iter().any(|n| n == "s3.b3.add"));
    let graph = Genome::Mbconv(g).build().expect("builds");
    let adds = graph.node_ids().filter(|&n| matches!(graph.node(n).op, Op::Add(_))).count();
    assert_eq!(adds, 9);
}

#[test]
fn presets_load_and_contain_mobilenet_v2() {
    let phone = phone();
    assert_eq!(phone.name, "mbconv-phone");
    assert_eq!(phone.stages.len(), 7);
    phone.validate(&MbconvGenome::mobilenet_v2(1.0, 224, 1000)).expect("MobileNetV2-1.0-224 in mbconv-phone");
    phone.validate(&MbconvGenome::mobilenet_v2(0.75, 192, 1000)).expect("MobileNetV2-0.75-192 in mbconv-phone");

    let mcu = mcu();
    assert_eq!(mcu.name, "mbconv-mcu");
    let mut baseline = MbconvGenome::mobilenet_v2(0.35, 96, 10);
    assert!(matches!(mcu.validate(&baseline), Err(SpaceError::NotInSpace { .. })));
    baseline.head_channels = 320;
    mcu.validate(&baseline).expect("MobileNetV2-0.35-96 with a 320-channel head in mbconv-mcu");
    let cost = CostReport::analyze(&Genome::Mbconv(baseline).build().expect("builds")).expect("analyzes");
    // Python transcription: 408,938 parameters with the 1280 head; the 320 head saves
    // (112 + 2) * (1280 - 320) conv + BN and 10 * (1280 - 320) classifier weights = 119,040.
    assert_eq!(cost.params, 408_938 - 119_040);

    assert!(matches!(MbconvSpace::preset("mbconv-tv"), Err(SpaceError::UnknownSpace(_))));
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("spaces");
    assert_eq!(MbconvSpace::from_file(&dir.join("mbconv-phone.toml")).expect("reads"), phone);
    assert_eq!(MbconvSpace::from_file(&dir.join("mbconv-mcu.toml")).expect("reads"), mcu);
}

#[test]
fn sampling_is_reproducible() {
    for space in [phone(), mcu()] {
        let a: Vec<_> = (0..5)
            .map({
                let mut r = SeededRng::new(42);
                let s = space.clone();
                move |_| s.sample(&mut r)
            })
            .collect();
        let b: Vec<_> = (0..5)
            .map({
                let mut r = SeededRng::new(42);
                let s = space.clone();
                move |_| s.sample(&mut r)
            })
            .collect();
        assert_eq!(a, b);
        assert_ne!(a[0], a[1]);
    }
}

#[test]
fn samples_validate_and_build() {
    for space in [phone(), mcu()] {
        let mut rng = SeededRng::new(7);
        let mut skips = 0;
        for _ in 0..200 {
            let g = space.sample(&mut rng);
            assert_eq!(g.space, space.name);
            space.validate(&g).expect("sample in space");
            let graph = Genome::Mbconv(g.clone()).build().expect("sample builds");
            assert_eq!(
                graph.output_type(graph.outputs()[0]).map(|t| t.shape.clone()),
                Some(vec![1, space.num_classes])
            );
            skips += g.stages.iter().flat_map(|s| &s.blocks).filter(|b| **b == BlockChoice::Skip).count();
        }
        assert!(skips > 0, "{}: no skip in 200 samples", space.name);
    }
}

#[test]
fn mutation_changes_one_decision_and_stays_in_space() {
    for space in [phone(), mcu()] {
        let mut rng = SeededRng::new(11);
        let mut g = space.sample(&mut rng);
        let mut kinds = std::collections::BTreeSet::new();
        for _ in 0..200 {
            let next = space.mutate(&g, &mut rng).expect("mutates");
            let changed = changed_decisions(&g, &next);
            assert_eq!(changed.len(), 1, "{changed:?}\n{g:?}\n{next:?}");
            kinds.insert(
                changed[0]
                    .split('.')
                    .next_back()
                    .map(|k| if k.starts_with('b') { "block" } else { k })
                    .unwrap_or("")
                    .to_string(),
            );
            space.validate(&next).expect("mutant in space");
            next.build().expect("mutant builds");
            g = next;
        }
        for kind in ["resolution", "width_mult", "channels", "depth", "block"] {
            assert!(kinds.contains(kind), "{}: no {kind} mutation in 200 steps: {kinds:?}", space.name);
        }
    }
}

#[test]
fn width_mutation_rescales_every_width() {
    let space = phone();
    let g = MbconvGenome::mobilenet_v2(1.0, 224, 1000);
    let mut rng = SeededRng::new(0);
    let mutant = (0..200)
        .map(|_| space.mutate(&g, &mut rng).expect("mutates"))
        .find(|m| m.width_mult != g.width_mult)
        .expect("a width mutation in 200 tries");
    assert_eq!(mutant.space, "mbconv-phone");
    let mut expected = MbconvGenome::mobilenet_v2(0.75, 224, 1000);
    expected.space = "mbconv-phone".into();
    assert_eq!(mutant, expected);
}

#[test]
fn mutate_rejects_foreign_genomes() {
    let foreign = MbconvGenome::mobilenet_v2(1.0, 224, 1000);
    let err = mcu().mutate(&foreign, &mut SeededRng::new(0)).unwrap_err();
    assert!(
        matches!(&err, SpaceError::NotInSpace { space, reason } if space == "mbconv-mcu" && reason.contains("resolution 224")),
        "{err}"
    );
}

#[test]
fn validate_names_the_offending_decision() {
    let space = phone();
    let reason = |g: &MbconvGenome| match space.validate(g) {
        Err(SpaceError::NotInSpace { reason, .. }) => reason,
        other => panic!("expected NotInSpace, got {other:?}"),
    };
    let base = MbconvGenome::mobilenet_v2(1.0, 224, 1000);
    let mut g = base.clone();
    g.stages[3].channels = 72;
    assert!(reason(&g).contains("stage s4: channels 72"), "{}", reason(&g));
    let mut g = base.clone();
    g.stages[1].blocks.push(BlockChoice::Skip);
    g.stages[1].blocks.push(BlockChoice::Skip);
    assert!(reason(&g).contains("stage s2: depth 4"), "{}", reason(&g));
    let mut g = base.clone();
    g.stages[2].blocks[1] = BlockChoice::Mbconv { kernel: 9, expansion: 6 };
    assert!(reason(&g).contains("stage s3 block b2: kernel 9"), "{}", reason(&g));
    let mut g = base.clone();
    g.stages[0].blocks[0] = BlockChoice::Mbconv { kernel: 3, expansion: 6 };
    assert!(reason(&g).contains("first_block_expansions"), "{}", reason(&g));
    let mut g = base.clone();
    g.stages[6].blocks.push(BlockChoice::Skip);
    assert!(reason(&g).contains("depth 2") || reason(&g).contains("skip not allowed"), "{}", reason(&g));
    let mut g = base;
    g.head_channels = 1024;
    assert!(reason(&g).contains("head_channels 1024"), "{}", reason(&g));
}

#[test]
fn json_round_trip_and_format() {
    let mut rng = SeededRng::new(3);
    for space in [phone(), mcu()] {
        for _ in 0..20 {
            let g = space.sample(&mut rng);
            let json = serde_json::to_string(&g).expect("serializes");
            assert_eq!(serde_json::from_str::<MbconvGenome>(&json).expect("parses"), g);
            let wrapped = Genome::Mbconv(g);
            assert_eq!(Genome::from_json(&wrapped.to_json()).expect("parses"), wrapped);
        }
    }
    let text = serde_json::to_string(&MbconvGenome::mobilenet_v2(0.35, 96, 10)).expect("serializes");
    assert!(text.contains(r#""width_mult":0.35,"#), "{text}");
    let json: serde_json::Value = serde_json::from_str(&text).expect("parses");
    assert_eq!(json["stages"][0]["blocks"][0], serde_json::json!({"mbconv": {"kernel": 3, "expansion": 1}}));
    assert_eq!(serde_json::to_value(BlockChoice::Skip).expect("serializes"), serde_json::json!("skip"));
    assert!(serde_json::from_str::<BlockChoice>(r#"{"mbconv":{"kernel":3,"expansion":6,"se":true}}"#).is_err());
    assert!(serde_json::from_str::<StageGenome>(r#"{"channels":8,"stride":1,"blocks":["skip"],"extra":1}"#).is_err());
}

fn toml_error(text: &str) -> SpaceError {
    MbconvSpace::from_toml_str(text, "test.toml").expect_err("rejected")
}

#[test]
fn bad_space_files_are_rejected_naming_the_field() {
    let good = include_str!("../../../spaces/mbconv-mcu.toml");
    let cases: Vec<(String, &str)> = vec![
        (good.replace("num_classes = 10\n", ""), "num_classes"),
        (good.replace("num_classes = 10\n", "num_classes = 10\ndropout = 0.2\n"), "dropout"),
        (good.replace("kernels = [3, 5, 7]", "kernels = [3, 4]"), "kernels"),
        (good.replace("kernels = [3, 5, 7]", "kernels = []"), "kernels"),
        (good.replace("width_mults = [0.25, 0.35, 0.5]", "width_mults = [0.0]"), "width_mults"),
        (good.replace("expansions = [3, 4, 6]", "expansions = [3, 3]"), "expansions"),
        (good.replacen("depths = [1, 2]", "depths = []", 1), "stages[1].depths"),
        (good.replacen("stride = 2", "stride = 0", 1), "stages[1].stride"),
        (good.replacen("channels = [24, 32]", "channels = [0]", 1), "stages[2].channels"),
        (
            good.replace("first_block_expansions = [1]", "first_block_expansions = []"),
            "stages[0].first_block_expansions",
        ),
        (good.replacen("allow_skip = true", "allow_skip = yes", 1), "allow_skip"),
    ];
    for (text, field) in cases {
        let err = toml_error(&text);
        assert!(matches!(err, SpaceError::Parse { .. } | SpaceError::InvalidSpace { .. }), "{err:?}");
        assert!(err.to_string().contains(field), "{field}: {err}");
        if let SpaceError::Parse { path, .. } = &err {
            assert_eq!(path, "test.toml");
        }
    }
    let missing = Path::new(env!("CARGO_MANIFEST_DIR")).join("spaces/no-such-space.toml");
    let err = MbconvSpace::from_file(&missing).unwrap_err();
    assert!(matches!(&err, SpaceError::Io { path, .. } if path.ends_with("no-such-space.toml")), "{err}");
}

#[test]
fn invalid_genomes_are_rejected_before_building() {
    let base = MbconvGenome::mobilenet_v2(1.0, 224, 1000);
    type Edit = Box<dyn Fn(&mut MbconvGenome)>;
    let cases: Vec<(Edit, &str)> = vec![
        (Box::new(|g| g.stages[1].blocks[0] = BlockChoice::Skip), "first block is skip"),
        (Box::new(|g| g.stages[1].blocks.clear()), "no blocks"),
        (Box::new(|g| g.stages[1].blocks[1] = BlockChoice::Mbconv { kernel: 4, expansion: 6 }), "kernel 4 is not odd"),
        (Box::new(|g| g.stages[1].blocks[1] = BlockChoice::Mbconv { kernel: 3, expansion: 0 }), "expansion"),
        (Box::new(|g| g.stages[2].channels = 0), "channels"),
        (Box::new(|g| g.stem_channels = 0), "stem_channels"),
        (Box::new(|g| g.resolution = 0), "resolution"),
        (Box::new(|g| g.num_classes = 0), "num_classes"),
        (Box::new(|g| g.stages.clear()), "no stages"),
    ];
    for (edit, words) in cases {
        let mut g = base.clone();
        edit(&mut g);
        let err = g.build().unwrap_err();
        assert!(matches!(&err, SpaceError::InvalidGenome(r) if r.contains(words)), "{words}: {err}");
        assert!(matches!(phone().validate(&g), Err(SpaceError::InvalidGenome(_))));
    }
    let mut tiny = base;
    tiny.resolution = 1;
    tiny.build().expect("a 1x1 input stays 1x1 under same-padded odd kernels");
}

#[test]
fn sizes_beyond_the_limits_are_rejected_before_anything_is_computed() {
    let base = MbconvGenome::mobilenet_v2(1.0, 224, 1000);
    type Edit = Box<dyn Fn(&mut MbconvGenome)>;
    let cases: Vec<(Edit, &str)> = vec![
        (Box::new(|g| g.head_channels = 1 << 62), "head_channels 4611686018427387904 exceeds the limit 65536"),
        (Box::new(|g| g.resolution = 1 << 40), "resolution"),
        (Box::new(|g| g.stages[1].blocks[1] = BlockChoice::Mbconv { kernel: 3, expansion: usize::MAX }), "expansion"),
        (Box::new(|g| g.stages[1].blocks[1] = BlockChoice::Mbconv { kernel: 99, expansion: 6 }), "kernel 99"),
        (Box::new(|g| g.stages[1].blocks.extend([BlockChoice::Skip; 64])), "blocks, more than 64"),
        (Box::new(|g| g.width_mult = 1e30), "width_mult"),
    ];
    for (edit, words) in cases {
        let mut g = base.clone();
        edit(&mut g);
        let err = g.build().unwrap_err();
        assert!(matches!(&err, SpaceError::InvalidGenome(r) if r.contains(words)), "{words}: {err}");
    }
}

#[test]
fn space_definitions_are_checked_when_deserialized() {
    let text = include_str!("../../../spaces/mbconv-mcu.toml");
    assert!(toml::from_str::<MbconvSpace>(text).is_ok());
    for (from, to, words) in [
        ("kernels = [3, 5, 7]", "kernels = [3, 4]", "kernels must be odd"),
        ("resolutions = [64, 80, 96]", "resolutions = [64, 100000]", "at most 4096"),
        ("resolutions = [64, 80, 96]", "resolutions = []", "must not be empty"),
    ] {
        let err = toml::from_str::<MbconvSpace>(&text.replace(from, to)).unwrap_err().to_string();
        assert!(err.contains(words), "{to}: {err}");
    }
}
