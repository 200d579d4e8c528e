//! The NB201 index ↔ arch mapping against the reference table in ../shared (not written
//! here), and the shipped copy against it.

use edgenas_compiler::space::nb201::{Nb201Arch, Nb201Genome, Nb201Table, NB201_SIZE};

#[test]
fn all_15625_arch_strings_round_trip_and_map_to_the_reference_index() {
    let path = common::root().join("../shared/data/nb201/nb201.csv");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reference table {}: {e}", path.display()));
    let table = Nb201Table::builtin();
    let mut rows = 0;
    for line in text.lines().skip(1) {
        let mut fields = line.split(',');
        let index: usize = fields.next().and_then(|s| s.parse().ok()).expect("index column");
        let arch_str = fields.next().expect("arch column");
        let arch: Nb201Arch = arch_str.parse().unwrap_or_else(|e| panic!("row {index}: {e}"));
        assert_eq!(arch.to_string(), arch_str, "row {index} does not round-trip");
        assert_eq!(table.index_of(&arch), index, "row {index}: {arch_str}");
        let genome = Nb201Genome::from_index(index as i64).expect("index in range");
        assert_eq!(genome.arch, arch_str);
        let acc: f64 = fields.next().and_then(|s| s.parse().ok()).expect("cifar10_acc column");
        assert_eq!(table.row(index).map(|r| r.cifar10_acc), Some(acc), "row {index} accuracy");
        rows += 1;
    }
    assert_eq!(rows, NB201_SIZE);
}

#[test]
fn the_shipped_table_has_the_reference_devices() {
    let devices = Nb201Table::builtin().devices();
    for d in ["pixel3", "samsung_a50", "samsung_s7", "essential_ph_1", "gold_6240"] {
        assert!(devices.iter().any(|x| x == d), "missing lat_ms_{d}");
    }
    // Row 6111 of the reference table: pixel3 latency 23.5848 ms.
    assert_eq!(Nb201Table::builtin().latency_ms(6111, "pixel3"), Some(23.5848));
}

mod common;
