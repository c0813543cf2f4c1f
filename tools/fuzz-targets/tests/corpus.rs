//! Replays every committed input through its target: the seed corpora
//! (`fuzz/corpus/<target>/`) and every crash the fuzzer found
//! (`fuzz/regressions/<target>/`). This is how CI runs each target briefly
//! on its corpus, and how a fixed crash stays fixed: a target that panics
//! on any file fails this test, naming the file.

use std::path::{Path, PathBuf};

use clickstream_fuzz_targets::TARGETS;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

/// The files of `fuzz/<kind>/<target>/`, sorted; none when it does not exist.
fn inputs(kind: &str, target: &str) -> Vec<PathBuf> {
    let Ok(dir) = std::fs::read_dir(fuzz_dir().join(kind).join(target)) else { return Vec::new() };
    let mut files: Vec<PathBuf> = dir.map(|e| e.expect("directory entry").path()).filter(|p| p.is_file()).collect();
    files.sort();
    files
}

fn replay(target: &str, f: fn(&[u8]), files: &[PathBuf]) {
    for file in files {
        let data = std::fs::read(file).expect("input file");
        if std::panic::catch_unwind(|| f(&data)).is_err() {
            panic!("target {target} panicked on {}", file.display());
        }
    }
}

#[test]
fn every_target_has_seeds_and_survives_them() {
    for (name, f) in TARGETS {
        let seeds = inputs("corpus", name);
        assert!(!seeds.is_empty(), "no seed corpus for {name}: run the seed_corpus example");
        replay(name, *f, &seeds);
    }
}

#[test]
fn every_regression_input_stays_fixed() {
    for (name, f) in TARGETS {
        replay(name, *f, &inputs("regressions", name));
    }
}

#[test]
fn corpus_directories_name_targets() {
    for kind in ["corpus", "regressions"] {
        let Ok(dir) = std::fs::read_dir(fuzz_dir().join(kind)) else { continue };
        for entry in dir {
            let name = entry.expect("directory entry").file_name();
            let name = name.to_string_lossy();
            assert!(clickstream_fuzz_targets::target(&name).is_some(), "fuzz/{kind}/{name} is not a target's name");
        }
    }
}

#[test]
fn every_target_has_a_fuzzer_binary() {
    for (name, _) in TARGETS {
        assert!(fuzz_dir().join("src/bin").join(format!("{name}.rs")).is_file(), "fuzz/src/bin/{name}.rs is missing");
    }
    let bins = std::fs::read_dir(fuzz_dir().join("src/bin")).expect("fuzz/src/bin").count();
    assert_eq!(bins, TARGETS.len(), "fuzz/src/bin holds a binary that is not a target");
}
