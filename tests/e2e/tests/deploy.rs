//! Deployment files are checked, not just shipped: every systemd unit passes
//! `systemd-analyze verify` with no warning, against binaries that exist.

use std::path::{Path, PathBuf};
use std::process::Command;

use clickstream_testkit::repo;

const BINARIES: [&str; 4] = ["spool-agent", "fanout-agent", "speed-job", "batch-job"];

/// A file-system root holding the host's system units, our units in
/// /etc/systemd/system and our binaries in /usr/local/bin, so `verify` checks
/// them as they would be installed.
fn install_root(units: &Path) -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    std::fs::create_dir_all(r.join("usr/local/bin")).unwrap();
    std::fs::create_dir_all(r.join("usr/lib/systemd")).unwrap();
    std::fs::create_dir_all(r.join("etc/systemd/system")).unwrap();
    let status = Command::new("cp").arg("-r").arg("/lib/systemd/system").arg(r.join("usr/lib/systemd/")).status().unwrap();
    assert!(status.success(), "copying the host's system units");
    for b in BINARIES {
        let built = repo().join("target/debug").join(b);
        assert!(built.exists(), "{} not built: run `cargo build --workspace --bins` (scripts/test does)", built.display());
        std::os::unix::fs::symlink(&built, r.join("usr/local/bin").join(b)).unwrap();
    }
    for unit in std::fs::read_dir(units).unwrap().flatten() {
        std::fs::copy(unit.path(), r.join("etc/systemd/system").join(unit.file_name())).unwrap();
    }
    root
}

fn verify(root: &Path, units: &[&str]) -> (bool, String) {
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(format!("--root={}", root.display()))
        .args(units)
        .current_dir(root.join("etc/systemd/system"))
        .output()
        .expect("systemd-analyze (Debian package systemd)");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    // Unknown keys only warn: any output at all is a failure.
    (out.status.success() && text.trim().is_empty(), text)
}

fn unit_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .map(|n| n.replace("@.service", "@weblog1.service"))
        .collect();
    names.sort();
    names
}

#[test]
fn systemd_units_verify_without_warnings() {
    let units = repo().join("conf/systemd");
    let names = unit_names(&units);
    assert!(names.len() >= 5, "{names:?}");
    let root = install_root(&units);
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let (ok, out) = verify(root.path(), &refs);
    assert!(ok, "systemd-analyze verify:\n{out}");
    for name in &names {
        if name.ends_with(".service") {
            let text = std::fs::read_to_string(units.join(name.replace("@weblog1", "@"))).unwrap();
            for hardening in ["NoNewPrivileges=yes", "ProtectSystem=strict", "ReadWritePaths=", "User=clickstream"] {
                assert!(text.contains(hardening), "{name} lacks {hardening}");
            }
            if !text.contains("Type=oneshot") {
                assert!(text.contains("Restart=on-failure"), "{name} lacks Restart=on-failure");
            }
        }
    }
}

#[test]
fn the_check_catches_a_broken_unit() {
    let units = repo().join("conf/systemd");
    let root = install_root(&units);
    let unit: PathBuf = root.path().join("etc/systemd/system/clickstream-fanout-agent.service");
    let text = std::fs::read_to_string(&unit).unwrap();
    std::fs::write(&unit, text.replace("Type=simple", "Type=simpel")).unwrap();
    let (ok, out) = verify(root.path(), &["clickstream-fanout-agent.service"]);
    assert!(!ok, "a bad Type= passed verification: {out}");
    std::fs::write(&unit, text.replace("Restart=on-failure", "Restart=on-failure\nRestartt=always")).unwrap();
    let (ok, out) = verify(root.path(), &["clickstream-fanout-agent.service"]);
    assert!(!ok, "an unknown key passed verification: {out}");
}
