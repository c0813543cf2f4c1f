//! What a fan-out channel record is: one `ClickEvent` Avro binary datum, the
//! body of a received Flume event, without its headers.
//!
//! Both sinks read only the body (the routing fields, then the datum as it
//! is), so keeping the headers in the channel cost a sixth of every event's
//! bytes in the put, its fsync and the take, for nothing. Agents before this
//! layout kept whole Flume events. So that an upgrade never hands such a
//! record to a sink that would read it as a datum, a durable channel's
//! directory carries a marker file naming its layout. A directory without
//! one is either new (it gets the marker) or an earlier agent's: if that
//! still holds events, the agent refuses to start and says how to drain it.

use std::io::Write;
use std::path::Path;

use anyhow::{bail, Context, Result};
use clickstream_channel::Channel;

/// The marker's file name, inside the channel directory.
pub const MARKER: &str = "RECORDS";

/// The marker's content for this layout.
pub const LAYOUT: &str = "clickevent-datum\n";

/// Checks that the durable channel in `dir` holds this layout's records,
/// marking a new or empty directory. `channel` is the channel opened on it.
pub fn check_layout(dir: &Path, channel: &dyn Channel) -> Result<()> {
    let marker = dir.join(MARKER);
    match std::fs::read_to_string(&marker) {
        Ok(layout) if layout == LAYOUT => Ok(()),
        Ok(layout) => bail!(
            "{} says the channel holds {:?} records; this agent reads {:?}: open it with the agent version that wrote it",
            marker.display(),
            layout.trim(),
            LAYOUT.trim()
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let pending = channel.stats().events;
            if pending > 0 {
                bail!(
                    "channel {} holds {pending} events put by an earlier fanout-agent, which kept whole Flume events there; \
                     let that version drain it (stop the senders and wait for the channel depth metric to reach 0), \
                     or move the directory away to keep them",
                    dir.display()
                );
            }
            write_marker(dir, &marker).with_context(|| format!("writing the channel layout marker {}", marker.display()))
        }
        Err(e) => Err(e).with_context(|| format!("reading the channel layout marker {}", marker.display())),
    }
}

/// Writes the marker whole or not at all (a temporary file renamed into place).
fn write_marker(dir: &Path, marker: &Path) -> std::io::Result<()> {
    let tmp = dir.join(format!("{MARKER}.tmp"));
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(LAYOUT.as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, marker)?;
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use clickstream_channel::{ChannelConfig, ChannelKind};

    use super::*;

    fn open(dir: &Path) -> std::sync::Arc<dyn Channel> {
        let cfg = ChannelConfig { kind: ChannelKind::Durable, dir: Some(dir.to_path_buf()), ..ChannelConfig::default() };
        cfg.open("test.channel").unwrap()
    }

    #[test]
    fn a_new_channel_is_marked_and_then_accepted() {
        let tmp = tempfile::tempdir().unwrap();
        let ch = open(tmp.path());
        check_layout(tmp.path(), &*ch).unwrap();
        assert_eq!(std::fs::read_to_string(tmp.path().join(MARKER)).unwrap(), LAYOUT);
        ch.put(&[b"x".as_slice()], None, Duration::ZERO).unwrap();
        check_layout(tmp.path(), &*ch).unwrap();
    }

    #[test]
    fn an_unmarked_channel_with_events_is_refused_and_keeps_them() {
        let tmp = tempfile::tempdir().unwrap();
        {
            let ch = open(tmp.path());
            ch.put(&[b"an earlier agent's Flume event".as_slice()], None, Duration::ZERO).unwrap();
        }
        let ch = open(tmp.path());
        let err = format!("{:#}", check_layout(tmp.path(), &*ch).unwrap_err());
        assert!(err.contains("holds 1 events put by an earlier fanout-agent"), "{err}");
        assert!(!tmp.path().join(MARKER).exists());
        assert_eq!(ch.stats().events, 1);
    }

    #[test]
    fn another_layout_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join(MARKER), "flume-event\n").unwrap();
        let ch = open(tmp.path());
        let err = format!("{:#}", check_layout(tmp.path(), &*ch).unwrap_err());
        assert!(err.contains("\"flume-event\" records"), "{err}");
    }
}
