//! The command line of the real binary: help, validate (exit 78 naming the
//! key), schema.

use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_speed-job"))
}

fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.path().join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn help_lists_the_commands() {
    let out = bin().arg("--help").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for cmd in ["run", "validate", "schema", "show"] {
        assert!(text.contains(cmd), "{text}");
    }
}

#[test]
fn the_example_config_is_valid() {
    let conf = concat!(env!("CARGO_MANIFEST_DIR"), "/../../conf/speed-job.toml");
    let out = bin().args(["validate", conf]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn invalid_configs_exit_78_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    for (text, key) in [
        ("[kafka]\nbrokers = \"b\"\n[health]\nslide = \"7m\"\n", "health.window"),
        ("[kafka]\nbrokers = \"b\"\n[popularity]\ntop_n = 0\n", "popularity.top_n"),
        // Refused as the file is read: the TOML error shows the line and key.
        ("[kafka]\nbrokers = \"b\"\n[cassandra]\nconsistency = \"most\"\n", "consistency = \"most\""),
        ("[kafka]\nbrokers = \"b\"\n[ddos]\nthreshhold = 5\n", "threshhold"),
        ("[cassandra]\nkeyspace = \"x\"\n", "kafka"),
    ] {
        let p = write(&dir, "bad.toml", text);
        let out = bin().args(["validate", p.to_str().unwrap()]).output().unwrap();
        assert_eq!(out.status.code(), Some(78), "{text}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(key), "stderr should name `{key}`: {err}");
    }
    let out = bin().args(["validate", "/nonexistent/speed-job.toml"]).output().unwrap();
    assert_eq!(out.status.code(), Some(78));
}

#[test]
fn schema_prints_the_rendered_cql() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(&dir, "c.toml", "[kafka]\nbrokers = \"b\"\n[cassandra]\nkeyspace = \"my_ks\"\nttl = \"2h\"\n");
    let out = bin().args(["schema", p.to_str().unwrap()]).output().unwrap();
    assert!(out.status.success());
    let cql = String::from_utf8_lossy(&out.stdout);
    assert!(cql.contains("CREATE TABLE IF NOT EXISTS my_ks.ddos_alerts"), "{cql}");
    assert!(cql.contains("default_time_to_live = 7200"), "{cql}");
}
