//! Configurations for a single real binary started by a test, made from the
//! shipped examples in conf/ with only the paths and ports changed, so the
//! tests run what operators start from.

use std::path::Path;

use clickstream_testkit::repo;

/// conf/spool-agent/weblog1.toml with its state and spool directories under
/// `dir` (`dir/state`, `dir/spool`, created here), one receiver at
/// 127.0.0.1:`receiver`, metrics on 127.0.0.1:`metrics`, and quick timings
/// (100 ms quiet period, 1 s maximum backoff, no free-disk floor).
pub fn spool_agent(dir: &Path, receiver: u16, metrics: u16) -> String {
    for sub in ["spool", "state"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    std::fs::read_to_string(repo().join("conf/spool-agent/weblog1.toml"))
        .unwrap()
        .replace("/var/lib/clickstream/weblog1", &dir.join("state").display().to_string())
        .replace("/var/spool/clickstream/weblog1", &dir.join("spool").display().to_string())
        .replace("127.0.0.1:41414", &format!("127.0.0.1:{receiver}"))
        .replace("127.0.0.1:9101", &format!("127.0.0.1:{metrics}"))
        .replace("quiet_period = \"2s\"", "quiet_period = \"100ms\"")
        .replace("min_free_disk_bytes = 536870912", "min_free_disk_bytes = 0")
        .replace("backoff_max = \"30s\"", "backoff_max = \"1s\"")
}
