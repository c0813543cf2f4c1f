//! What `fanout-agent validate` checks on the machine, beyond the values in
//! the file: the state directory and every durable channel's directory can
//! be written or created, and the Avro source's and the metrics endpoint's
//! addresses are free. The systemd unit runs `validate` before `run`
//! (`ExecStartPre`), so a wrong path or a port taken stops the start with
//! the key named, instead of a `run` that fails with a misleading message.

use clickstream_channel::ChannelKind;
use clickstream_telemetry::preflight::{listen_free, writable_dir};

use crate::config::Config;

/// Every problem found, each naming the key, the path or address and what to do.
pub fn check(cfg: &Config) -> Vec<String> {
    let mut problems = Vec::new();
    let mut dirs = vec![("agent.state_dir".to_string(), cfg.agent.state_dir.clone())];
    let channels = [
        ("kafka", cfg.sinks.kafka.as_ref().map(|k| &k.channel)),
        ("hdfs", cfg.sinks.hdfs.as_ref().map(|h| &h.channel)),
    ];
    for (name, channel) in channels {
        if let Some(c) = channel.filter(|c| c.kind == ChannelKind::Durable) {
            if let Some(dir) = &c.dir {
                dirs.push((format!("sinks.{name}.channel.dir"), dir.clone()));
            }
        }
    }
    for (key, dir) in dirs {
        if let Err(e) = writable_dir(&dir) {
            problems.push(format!("{key} {}: {e}", dir.display()));
        }
    }
    let mut addresses = vec![("source.listen", cfg.source.listen)];
    if let Some(m) = cfg.metrics.listen {
        addresses.push(("metrics.listen", m));
    }
    for (key, addr) in addresses {
        if let Err(e) = listen_free(addr) {
            problems.push(format!("{key} {addr}: {e}"));
        }
    }
    problems
}
