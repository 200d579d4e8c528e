//! Inputs the fuzzer found that once made a reader panic, each in `fuzz/tests/inputs/` named
//! `<target>-<what it broke>.bin`: every one must now be handled without a panic.
//! - `onnx-bias-dims-product-overflow.bin`: a Conv bias whose dims multiply past i64
//!   (the int8 planner multiplied them unchecked).
//! - `mcu-accumulator-overflow.bin`: an integer-only model whose bias and weights let a
//!   convolution's int32 accumulator overflow (now refused by `Int8Program::check`).

use edgenas_fuzz::TARGETS;

#[test]
fn every_found_crash_is_handled() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/inputs");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let target = TARGETS
            .iter()
            .find(|t| name.starts_with(&format!("{}-", t.name)))
            .unwrap_or_else(|| panic!("{name}: no target"));
        let input = std::fs::read(&path).unwrap();
        let outcome = std::panic::catch_unwind(|| (target.run)(&input));
        assert!(outcome.is_ok(), "{name} still panics the {} target", target.name);
        checked += 1;
    }
    assert!(checked >= 1, "no regression inputs in {}", dir.display());
}
