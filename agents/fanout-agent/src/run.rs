//! Wiring and shutdown order: stop the Avro source first (calls in progress
//! finish, so every OK the senders heard is in the channels), then the sinks
//! (each finishes or rolls back its batch in hand, closes files, flushes the
//! producer), then close the channels.

use std::sync::Arc;

use anyhow::{Context, Result};
use clickstream_avro_ipc::server::{serve_with_stats, ServerLimits};
use clickstream_avro_ipc::ServerStats;
use clickstream_avro_ipc::StatsSnapshot;
use clickstream_channel::{Channel, ChannelKind};
use clickstream_telemetry::systemd::Service;
use clickstream_telemetry::{serve_metrics, shutdown_signal, Health, HealthCheck};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::config::{BodyFormat, SinkSection, Validated};
use crate::metrics::Metrics;
use crate::records::check_layout;
use crate::sinks::driver::start_and_drive;
use crate::sinks::hdfs::HdfsSink;
use crate::sinks::health::SinkHealth;
use crate::sinks::kafka::KafkaSink;
use crate::sinks::BatchSink;
use crate::source::{LineReader, Replicator, Route};

async fn open_channel(cfg: &clickstream_channel::ChannelConfig, name: &str) -> Result<Arc<dyn Channel>> {
    let cfg = cfg.clone();
    let prefix = format!("sinks.{name}.channel");
    let name = name.to_string();
    tokio::task::spawn_blocking(move || {
        let channel = cfg.open(&prefix).with_context(|| format!("opening the {name} sink's channel (is another agent using its directory?)"))?;
        if let (ChannelKind::Durable, Some(dir)) = (cfg.kind, &cfg.dir) {
            check_layout(dir, &*channel).with_context(|| format!("the {name} sink's channel"))?;
        }
        Ok(channel)
    })
    .await?
}

/// A configured sink, wired: its channel, the task that starts it and then
/// drains the channel, and what it tells `/health`.
struct Wired {
    route: Route,
    task: JoinHandle<()>,
    health: Arc<SinkHealth>,
}

/// Opens `section`'s channel and spawns the task that starts `sink` (with
/// retries while its destination is unreachable) and then drains the
/// channel. Returns at once: the source serves while the sink starts.
async fn wire<S: BatchSink>(
    name: &'static str,
    section: &SinkSection<impl Sized>,
    sink: S,
    metrics: &Metrics,
    stop: &watch::Receiver<bool>,
) -> Result<Wired> {
    let channel = open_channel(&section.channel, name).await?;
    metrics.observe_channel(name, &*channel);
    let health = Arc::new(SinkHealth::new(name));
    let task = tokio::spawn(start_and_drive(sink, Arc::clone(&channel), section.batch_size, metrics.clone(), stop.clone(), Arc::clone(&health)));
    Ok(Wired { route: Route { sink: name, channel, required: section.required }, task, health })
}

/// Runs the agent until SIGTERM/SIGINT.
pub async fn run(cfg: Validated) -> Result<()> {
    std::fs::create_dir_all(&cfg.agent.state_dir).with_context(|| format!("creating {}", cfg.agent.state_dir.display()))?;
    let metrics = Metrics::default();

    // Bound before the sinks start; each sink starts in its own task (the
    // Kafka topic, HDFS crash recovery, retried while the destination is
    // down), and the source serves at once: a sink's events wait in its
    // channel until it runs.
    let listener = TcpListener::bind(cfg.source.listen)
        .await
        .with_context(|| format!("binding the Avro source to {} (set source.listen to a free address)", cfg.source.listen))?;

    let (stop_tx, stop_rx) = watch::channel(false);
    let mut wired = Vec::new();
    if let Some(k) = &cfg.sinks.kafka {
        let sink = KafkaSink::create(&k.settings)?;
        wired.push(wire("kafka", k, sink, &metrics, &stop_rx).await?);
    } else {
        warn!("no [sinks.kafka]: events go to the master copy only, the speed layer gets nothing");
    }
    if let Some(h) = &cfg.sinks.hdfs {
        let sink = HdfsSink::open(&h.settings, metrics.hdfs.clone())?;
        wired.push(wire("hdfs", h, sink, &metrics, &stop_rx).await?);
    } else {
        warn!("no [sinks.hdfs]: events go to Kafka only, no master copy is kept");
    }
    let routes: Vec<Route> = wired.iter().map(|w| w.route.clone()).collect();

    let server_stats = Arc::new(ServerStats::default());
    let health: HealthCheck = {
        let stats = Arc::clone(&server_stats);
        let sinks: Vec<(Route, Arc<SinkHealth>)> = wired.iter().map(|w| (w.route.clone(), Arc::clone(&w.health))).collect();
        let bound = cfg.agent.health_sink_failing_after;
        Arc::new(move || {
            let mut details = vec![("connections".to_string(), stats.snapshot().connections_open.to_string())];
            let mut ok = true;
            for (route, sink) in &sinks {
                let s = route.channel.stats();
                // A channel over 90% full means its sink is not keeping up.
                let full = s.events * 10 > s.capacity_events * 9;
                let over = if full { " (over 90% full)" } else { "" };
                details.push((format!("channel {}", route.sink), format!("{} events, {} bytes{over}", s.events, s.bytes)));
                let verdict = sink.verdict(s.events, bound);
                ok &= verdict.ok && !full;
                details.push((format!("sink {}", sink.name()), verdict.detail));
            }
            Health { ok, details }
        })
    };
    let registry = metrics.register();
    let mut metrics_task = None;
    if let Some(addr) = cfg.metrics.listen {
        let mut rx = stop_rx.clone();
        let (_, task) = serve_metrics(addr, Arc::clone(&registry), health, async move {
            let _ = rx.wait_for(|s| *s).await;
        })
        .await?;
        metrics_task = Some(task);
    }

    let mut replicator = Replicator::new(routes, cfg.source.put_timeout, metrics.clone(), cfg.agent.state_dir.join("dead-letter.jsonl"));
    if cfg.source.body != BodyFormat::Clickevent {
        replicator = replicator.with_lines(LineReader {
            parser: cfg.parser.clone(),
            host_header: cfg.source.host_header.clone(),
            auto: cfg.source.body == BodyFormat::Auto,
        });
    }
    let replicator = Arc::new(replicator);
    let limits = ServerLimits {
        max_frame_bytes: cfg.source.max_frame_bytes,
        max_batch_events: cfg.source.max_batch_events,
        max_connections: cfg.source.max_connections,
        idle_timeout: cfg.source.idle_timeout,
        deflate: cfg.source.deflate,
        allow: cfg.source.allow.clone(),
        tls: cfg.source_tls.clone(),
        max_first_frame_bytes: cfg.source.max_first_frame_bytes,
        max_buffered_bytes: cfg.source.max_buffered_bytes,
        handshake_timeout: cfg.source.handshake_timeout,
        frame_timeout: cfg.source.frame_timeout,
        max_connections_per_address: cfg.source.max_connections_per_address,
        ..ServerLimits::default()
    };
    let (source_stop_tx, source_stop_rx) = tokio::sync::oneshot::channel::<()>();
    let gauge_stats = Arc::clone(&server_stats);
    let source_metrics = metrics.clone();
    let service = Service::from_env();
    let progress = service.progress();
    // The once-a-second metrics loop beats the systemd watchdog: it shares
    // the runtime with the source and the sinks, so a runtime they block
    // stops the pings.
    let gauge_task = tokio::spawn(async move {
        let mut last = StatsSnapshot::default();
        loop {
            progress.beat();
            source_metrics.observe_source(&gauge_stats.snapshot(), &mut last);
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        }
    });
    let source_task = tokio::spawn(serve_with_stats(listener, replicator, limits, server_stats, async move {
        let _ = source_stop_rx.await;
    }));
    info!(instance = %cfg.agent.instance_id, listen = %cfg.source.listen, tls = cfg.source.tls.is_some(), sinks = ?cfg.sinks.names(), "fan-out agent running");

    service.ready(&format!("serving Flume Avro on {}", cfg.source.listen));

    shutdown_signal().await;
    service.stopping("draining: source stopped, sinks flushing");
    let _ = source_stop_tx.send(());
    source_task.await?;
    let _ = stop_tx.send(true);
    for w in wired {
        w.task.await?;
    }
    gauge_task.abort();
    if let Some(t) = metrics_task {
        let _ = t.await;
    }
    info!("fan-out agent stopped cleanly");
    Ok(())
}
