//! Wiring: channel, source thread, forwarder task, metrics endpoint; and the
//! shutdown order that keeps every promise: stop the source (its last batch
//! and position are put), then the forwarder (its batch in flight finishes or
//! is rolled back), then close the channel.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use clickstream_channel::ChannelStats;
use clickstream_telemetry::systemd::Service;
use clickstream_telemetry::{serve_metrics, shutdown_signal, Health, HealthCheck};
use tokio::sync::watch;
use tracing::{error, info};

use crate::config::Validated;
use crate::metrics::Metrics;
use crate::sink::{Forwarder, ReceiverHealth};
use crate::source::SpoolSource;

/// What `/health` answers: healthy while at least one receiver is up and
/// every spool directory is there. A missing directory gets no new files
/// read (an unmounted share, a removed directory), and the agent would
/// otherwise look idle rather than broken.
fn report_health(receivers: &[ReceiverHealth], spool_dirs: &[PathBuf], channel: &ChannelStats) -> Health {
    let mut ok = receivers.is_empty() || receivers.iter().any(|r| r.up);
    let mut details: Vec<(String, String)> = receivers.iter().map(|r| (format!("receiver {}", r.address), r.detail.clone())).collect();
    for dir in spool_dirs {
        let state = match std::fs::metadata(dir) {
            Ok(m) if m.is_dir() => "present".to_string(),
            Ok(_) => format!("not a directory: no files are read from it; fix {} in source.spool_dirs", dir.display()),
            Err(e) => format!("missing ({e}): no files are read from it; create or mount it"),
        };
        ok &= state == "present";
        details.push((format!("spool dir {}", dir.display()), state));
    }
    details.push(("channel".into(), format!("{} events, {} bytes", channel.events, channel.bytes)));
    Health { ok, details }
}

/// Runs the agent until SIGTERM/SIGINT.
pub async fn run(cfg: Validated) -> Result<()> {
    let cfg = Arc::new(cfg);
    let channel_cfg = cfg.channel.clone();
    let channel = tokio::task::spawn_blocking(move || channel_cfg.open("channel"))
        .await?
        .context("opening the channel (is another agent using the same channel.dir?)")?;
    let metrics = Metrics::default();
    metrics.channel_capacity_events.set(channel.stats().capacity_events as i64);
    let registry = metrics.register();
    let receivers_health = Arc::new(Mutex::new(Vec::<ReceiverHealth>::new()));

    let (stop_tx, stop_rx) = watch::channel(false);
    let health: HealthCheck = {
        let rh = Arc::clone(&receivers_health);
        let ch = Arc::clone(&channel);
        let spool_dirs = cfg.source.spool_dirs.clone();
        Arc::new(move || report_health(&rh.lock().unwrap_or_else(|p| p.into_inner()), &spool_dirs, &ch.stats()))
    };
    let mut metrics_task = None;
    if let Some(addr) = cfg.metrics.listen {
        let mut rx = stop_rx.clone();
        let (_, task) = serve_metrics(addr, registry, health, async move {
            let _ = rx.wait_for(|s| *s).await;
        })
        .await?;
        metrics_task = Some(task);
    }

    let stop_flag = Arc::new(AtomicBool::new(false));
    let source = SpoolSource::new(Arc::clone(&cfg), Arc::clone(&channel), metrics.clone(), Arc::clone(&stop_flag))?;
    let source_thread = std::thread::Builder::new().name("spool-source".into()).spawn(move || source.run())?;
    let forwarder = Forwarder::new(&cfg.sink, Arc::clone(&channel), metrics.clone(), receivers_health);
    let forwarder_task = tokio::spawn(forwarder.run(stop_rx.clone()));
    info!(host = %cfg.agent.host, "spool agent running");
    // The watchdog is beaten by the runtime's own loop here, not by the
    // source thread's poll loop: it catches a hung runtime, not a hung source.
    let service = Service::from_env();
    let progress = service.progress();
    let beat_task = tokio::spawn(async move {
        loop {
            progress.beat();
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        }
    });
    service.ready(&format!("spool agent for {} running", cfg.agent.host));

    shutdown_signal().await;
    service.stopping("finishing the batch and saving the position");
    beat_task.abort();
    stop_flag.store(true, Ordering::Relaxed);
    let source_result = tokio::task::spawn_blocking(move || source_thread.join()).await?;
    let _ = stop_tx.send(true);
    if let Err(e) = forwarder_task.await {
        error!(error = %e, "forwarder task failed");
    }
    if let Some(t) = metrics_task {
        let _ = t.await;
    }
    drop(channel);
    match source_result {
        Ok(r) => r?,
        Err(_) => anyhow::bail!("the source thread panicked"),
    }
    info!("spool agent stopped cleanly");
    Ok(())
}
