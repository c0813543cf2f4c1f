//! The Prometheus alert rules (conf/prometheus/) are checked by Prometheus'
//! own tools, not just shipped: `promtool check rules` (syntax, templates),
//! `promtool test rules` (each alert fires on series that should fire it and
//! stays quiet on series that should not), and every metric a rule reads is
//! one a binary registers. Needs promtool (Debian package prometheus;
//! `scripts/stack deps` installs it).

use std::path::{Path, PathBuf};
use std::process::Command;

use clickstream_testkit::repo;

fn rules_dir() -> PathBuf {
    repo().join("conf/prometheus")
}

/// Runs promtool with `args` in `dir`: success and the combined output.
fn promtool(dir: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new("promtool")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("promtool (Debian package prometheus; `scripts/stack deps` installs it)");
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

#[test]
fn alert_rules_pass_promtool_check_and_their_unit_tests() {
    let (ok, out) = promtool(&rules_dir(), &["check", "rules", "clickstream-rules.yml"]);
    assert!(ok, "promtool check rules:\n{out}");
    let (ok, out) = promtool(&rules_dir(), &["test", "rules", "clickstream-rules.test.yml"]);
    assert!(ok, "promtool test rules:\n{out}");
}

/// The rule tests can fail: a sink-failing rule that waits far longer than
/// the shipped one no longer fires where the tests expect it.
#[test]
fn the_rule_tests_catch_a_changed_rule() {
    let dir = tempfile::tempdir().unwrap();
    let rules = std::fs::read_to_string(rules_dir().join("clickstream-rules.yml")).unwrap();
    let threshold = "fanout_agent_sink_last_success_timestamp_seconds > 120";
    assert!(rules.contains(threshold), "the mutation below must change the rules");
    std::fs::write(dir.path().join("clickstream-rules.yml"), rules.replace(threshold, "fanout_agent_sink_last_success_timestamp_seconds > 3600")).unwrap();
    std::fs::copy(rules_dir().join("clickstream-rules.test.yml"), dir.path().join("clickstream-rules.test.yml")).unwrap();
    let (ok, out) = promtool(dir.path(), &["test", "rules", "clickstream-rules.test.yml"]);
    assert!(!ok && out.contains("ClickstreamSinkFailing"), "a changed rule passed its tests:\n{out}");
}

/// Every pipeline metric a rule reads is registered by the binary its
/// prefix names (the prefix + the name given to `register`, plus `_total`
/// for counters): a renamed metric breaks this test, not a silent alert.
#[test]
fn every_metric_the_rules_read_is_registered() {
    let rules = std::fs::read_to_string(rules_dir().join("clickstream-rules.yml")).unwrap();
    let names = regex::Regex::new(r"\b(spool_agent|fanout_agent|speed_job|serve)_([a-z0-9_]+)").unwrap();
    let mut checked = 0;
    for m in names.captures_iter(&rules) {
        let (prefix, rest) = (&m[1], &m[2]);
        let crate_dir = match prefix {
            "spool_agent" => "agents/spool-agent/src",
            "fanout_agent" => "agents/fanout-agent/src",
            "speed_job" => "jobs/speed-job/src",
            _ => "serve/src",
        };
        let registered = rest.strip_suffix("_total").unwrap_or(rest);
        let mut sources = String::new();
        for f in walk(&repo().join(crate_dir)) {
            sources.push_str(&std::fs::read_to_string(f).unwrap());
        }
        assert!(sources.contains(&format!("\"{registered}\"")), "the rules read {prefix}_{rest}, which {crate_dir} does not register as \"{registered}\"");
        checked += 1;
    }
    assert!(checked >= 10, "the rules read the pipeline's metrics ({checked} found)");
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            files.extend(walk(&p));
        } else if p.extension().is_some_and(|x| x == "rs") {
            files.push(p);
        }
    }
    files
}
