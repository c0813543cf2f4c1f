//! The run loop: consume, window, flush, checkpoint, commit — in that order.
//!
//! Ordering that makes a kill -9 harmless (details in docs/speed-layer.md):
//! 1. events are processed into the in-memory [`Core`];
//! 2. a flush first writes every row changed since the last flush and waits
//!    until all are acknowledged;
//! 3. only then the checkpoint row (per partition: resume offset, watermark
//!    state) is written;
//! 4. only then the merged rows of the windows touched (and of those every
//!    partition has closed since) are recomputed from all partitions' shares
//!    ([`Sink::merge`]): several instances may share the partitions;
//! 5. only then the offsets counted so far are committed to the consumer
//!    group (monitoring: lag tools read them; restarts use the checkpoint).
//!
//! A crash between any two steps loses nothing: the next run starts from the
//! previous checkpoint and rewrites the same rows. A flush that fails is
//! retried with backoff while consumption waits (backpressure), and no
//! checkpoint moves past rows that were not written.

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use tokio::sync::watch;

use clickstream_contract::ClickEvent;
use clickstream_telemetry::systemd::{Progress, Service};
use clickstream_telemetry::{serve_metrics, HealthCheck};

use crate::config::{Assignment, Config, OffsetReset};
use crate::core::{Click, Core, CoreConfig, CoreStats, Verdict};
use crate::health::JobHealth;
use crate::merge::WindowKind;
use crate::metrics::{Finality, Kind, Metrics, Partition, Reason};
use crate::partition::PartitionCheckpoint;
use crate::sink::{MergeReport, MergeRules, Sink, SinkError, CHECKPOINT_HEARTBEAT};
use crate::source::{self, Source, SourceContext, SourceError};

/// Why the job stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// Cassandra.
    #[error(transparent)]
    Sink(#[from] SinkError),
    /// Kafka.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// The metrics endpoint could not bind.
    #[error("metrics endpoint: {0}")]
    Metrics(std::io::Error),
    /// Static sharding gives this instance no partition.
    #[error("kafka.shard_index {index} of kafka.shard_count {count} owns no partition of `{topic}` (partitions {all:?}): lower shard_count")]
    EmptyShard {
        /// Topic.
        topic: String,
        /// This instance.
        index: u32,
        /// Instances.
        count: u32,
        /// The topic's partitions.
        all: Vec<i32>,
    },
    /// Shutdown was requested while Cassandra was unreachable: the last
    /// rows were not written (the next run replays them from the checkpoint).
    #[error("stopped before the last flush could be written: {0}")]
    UnflushedAtShutdown(SinkError),
}

/// What a run did (for tests and the final log line).
#[derive(Debug, Clone, Copy, Default)]
pub struct RunSummary {
    /// Records consumed.
    pub consumed: u64,
    /// The core's totals.
    pub stats: CoreStats,
}

/// Resolves once shutdown was requested.
async fn stopped(rx: &mut watch::Receiver<bool>) {
    loop {
        let done = { *rx.borrow_and_update() };
        if done {
            return;
        }
        if rx.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

struct Runner {
    cfg: Config,
    core: Core,
    sink: Sink,
    consumer: Arc<Source>,
    metrics: Metrics,
    /// Every partition of the topic: the merged views need all their checkpoints.
    all_partitions: Vec<i32>,
    /// The partitions this instance reads now (its shard, or the group's assignment).
    owned: Vec<i32>,
    merge_rules: MergeRules,
    last_checkpoint: Option<Vec<PartitionCheckpoint>>,
    last_stats: CoreStats,
    /// Revocations already recovered from.
    revocations_seen: u64,
    /// Partitions nobody has checkpointed for [`Runner::orphan_after`] (warned once per change).
    orphans_reported: Vec<i32>,
    started: Instant,
    /// When the checkpoint rows were last written (rewritten every
    /// [`CHECKPOINT_HEARTBEAT`] to say the partitions have an owner).
    checkpoint_written: Instant,
    /// When the assignment last changed.
    adopted: Instant,
    /// When this instance last left and rejoined the group to force a rebalance.
    rejoined: Option<Instant>,
    health: Arc<JobHealth>,
    shutdown: watch::Receiver<bool>,
    clock: ListeningClock,
    /// Beaten by the main loop and by each Cassandra retry: a job that
    /// retries through an outage is alive (its health says failing), a job
    /// stuck in one call is not.
    progress: Progress,
}

/// With nothing to write for this long, the job pings Cassandra instead.
const STORE_PING_AFTER: Duration = Duration::from_secs(10);

/// How long an idle ping may take before it counts as a failure.
const STORE_PING_TIMEOUT: Duration = Duration::from_secs(5);

/// Runs the job until `shutdown` resolves (then flushes, checkpoints and commits).
pub async fn run(cfg: Config, shutdown: impl Future<Output = ()> + Send + 'static) -> Result<RunSummary, JobError> {
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    let (metrics, registry) = Metrics::new();
    let health = Arc::new(JobHealth::new(cfg.job.health_failing_after, cfg.job.health_max_unread_records));
    if let Some(addr) = cfg.metrics.listen {
        let h = health.clone();
        let check: HealthCheck = Arc::new(move || h.report());
        let mut rx = stop_rx.clone();
        serve_metrics(addr, registry, check, async move { stopped(&mut rx).await }).await.map_err(JobError::Metrics)?;
    }

    let sink = Sink::connect(&cfg.cassandra, &cfg.job.name, &cfg.kafka.topic).await?;
    let all_checkpoints = sink.load_checkpoint().await?;
    let all_partitions = source::topic_partitions(&cfg.kafka).await?;
    // Group mode starts with nothing: the first assignment rebuilds the core.
    let owned: Vec<i32> = match cfg.kafka.assignment {
        Assignment::Static => all_partitions.iter().copied().filter(|&p| cfg.kafka.owns(p)).collect(),
        Assignment::Group => Vec::new(),
    };
    if cfg.kafka.assignment == Assignment::Static && owned.is_empty() {
        return Err(JobError::EmptyShard {
            topic: cfg.kafka.topic.clone(),
            index: cfg.kafka.shard_index,
            count: cfg.kafka.shard_count,
            all: all_partitions,
        });
    }
    let checkpoints: Vec<PartitionCheckpoint> = all_checkpoints.iter().filter(|c| owned.contains(&c.partition)).cloned().collect();
    let core = restored_core(&cfg, &checkpoints, &owned);
    let starts: HashMap<i32, i64> = all_checkpoints.iter().map(|c| (c.partition, c.resume_offset)).collect();
    tracing::info!(
        topic = %cfg.kafka.topic,
        partitions = ?all_partitions,
        assignment = ?cfg.kafka.assignment,
        owned = ?owned,
        checkpoint = ?checkpoints.iter().map(|c| (c.partition, c.resume_offset, c.replay_until, c.closed_through)).collect::<Vec<_>>(),
        "speed-job starting"
    );
    let consumer = source::subscribe(&cfg.kafka, SourceContext::new(&cfg.kafka, starts, metrics.clone(), health.clone()), &owned)?;
    let merge_rules = MergeRules::from_core(&CoreConfig::from_config(&cfg));
    let service = Service::from_env();
    let mut runner = Runner {
        cfg,
        core,
        sink,
        consumer,
        metrics,
        all_partitions,
        owned,
        merge_rules,
        last_checkpoint: Some(checkpoints),
        last_stats: CoreStats::default(),
        revocations_seen: 0,
        orphans_reported: Vec::new(),
        started: Instant::now(),
        checkpoint_written: Instant::now(),
        adopted: Instant::now(),
        rejoined: None,
        health,
        shutdown: stop_rx,
        clock: ListeningClock::start(),
        progress: service.progress(),
    };
    // Ready once subscribed: the checkpoint is restored and the loop starts now.
    service.ready(&format!("consuming {}", runner.cfg.kafka.topic));
    runner.main_loop(service).await
}

impl Runner {
    /// Beats the systemd watchdog once per iteration (and [`Runner::retry`]
    /// once per attempt): a call that hangs withholds the pings, and systemd
    /// restarts the job from its checkpoint.
    async fn main_loop(&mut self, service: Service) -> Result<RunSummary, JobError> {
        let progress = self.progress.clone();
        let mut tick = tokio::time::interval(self.cfg.job.flush_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut since_flush = 0usize;
        let mut consumed = 0u64;
        let consumer = self.consumer.clone();
        let mut stop = self.shutdown.clone();
        loop {
            progress.beat();
            tokio::select! {
                biased;
                _ = stopped(&mut stop) => break,
                _ = tick.tick() => {
                    self.flush(false).await?;
                    since_flush = 0;
                }
                m = consumer.recv() => match m {
                    Ok(msg) => {
                        if self.assignment_changed() {
                            // This record may predate the seek: it is delivered again after it.
                            self.adopt_assignment().await?;
                            continue;
                        }
                        let (p, offset) = (msg.partition(), msg.offset());
                        if !self.owned.contains(&p) {
                            // Fetched before its partition was revoked: its new owner counts it.
                            continue;
                        }
                        consumed += 1;
                        self.metrics.events_consumed.inc();
                        self.process(p, offset, msg.payload().unwrap_or_default());
                        since_flush += 1;
                        if since_flush >= self.cfg.job.max_batch_events {
                            self.flush(false).await?;
                            since_flush = 0;
                        }
                    }
                    Err(KafkaError::PartitionEOF(p)) => {
                        tracing::debug!(partition = p, "read to the end of the partition");
                        self.core.caught_up(p, self.clock.now_ms());
                    }
                    Err(e) => tracing::warn!(error = %e, "kafka consume error (librdkafka retries)"),
                }
            }
        }
        tracing::info!("shutting down: final flush, checkpoint and commit");
        service.stopping("final flush, checkpoint and commit");
        self.flush(true).await?;
        let stats = self.core.stats();
        tracing::info!(consumed, counted = stats.counted, late = stats.late, duplicates = stats.duplicates, "speed-job stopped");
        Ok(RunSummary { consumed, stats })
    }

    fn process(&mut self, partition: i32, offset: i64, payload: &[u8]) {
        let event = match ClickEvent::decode_single_object(payload) {
            Ok(e) => e,
            Err(e) => {
                self.metrics.decode_errors.inc();
                tracing::warn!(partition, offset, error = %e, "record is not a click event; skipped");
                return;
            }
        };
        if let Err(v) = clickstream_contract::rules::validate(&event) {
            self.metrics.decode_errors.inc();
            tracing::warn!(partition, offset, event_id = %event.event_id, violation = %v, "event breaks the contract's rules; skipped");
            return;
        }
        let Some(click) = Click::from_event(&event) else {
            self.metrics.decode_errors.inc();
            tracing::warn!(partition, offset, event_id = %event.event_id, "event id is not 32 hex digits; skipped");
            return;
        };
        if let Verdict::Late(reason) = self.core.process(partition, offset, &click) {
            self.metrics.events_late.get_or_create(&Reason { reason: reason.as_str() }).inc();
        }
    }

    /// Whether the partitions this instance reads changed since the core was
    /// built for them (group mode: a rebalance, a session timeout, a broker
    /// restart). Static assignments never change.
    fn assignment_changed(&self) -> bool {
        let ctx = self.consumer.context();
        ctx.revocations() != self.revocations_seen || (self.cfg.kafka.assignment == Assignment::Group && ctx.assigned() != self.owned)
    }

    /// After a revocation or a new assignment, records processed since the
    /// last written checkpoint may be delivered again, partitions may have
    /// come from other instances (whose checkpoints are newer than anything
    /// this one knows), and the assignment may have positioned them
    /// anywhere: drop the in-memory state, read every partition's
    /// checkpoint again, restore the assigned ones and seek each to its
    /// resume offset (the same path as a restart after kill -9).
    async fn adopt_assignment(&mut self) -> Result<(), JobError> {
        let ctx = self.consumer.context();
        self.revocations_seen = ctx.revocations();
        let assigned = match self.cfg.kafka.assignment {
            Assignment::Static => self.owned.clone(),
            Assignment::Group => ctx.assigned(),
        };
        let all = self.retry("checkpoint read", false, || self.sink.load_checkpoint()).await?;
        let mine: Vec<PartitionCheckpoint> = all.iter().filter(|c| assigned.contains(&c.partition)).cloned().collect();
        tracing::info!(
            before = ?self.owned,
            now = ?assigned,
            "the assignment changed: restoring the assigned partitions' checkpoints and seeking to them"
        );
        self.core = restored_core(&self.cfg, &mine, &assigned);
        self.last_stats = CoreStats::default(); // the new core counts from zero
        let resume: HashMap<i32, i64> = all.iter().map(|c| (c.partition, c.resume_offset)).collect();
        ctx.set_start_offsets(resume.clone());
        let fallback = if self.cfg.kafka.auto_offset_reset == OffsetReset::Latest { Offset::End } else { Offset::Beginning };
        let mut paused = TopicPartitionList::new();
        for &p in &assigned {
            let offset = resume.get(&p).map_or(fallback, |o| Offset::Offset(*o));
            if let Err(e) = self.consumer.seek(&self.cfg.kafka.topic, p, offset, Duration::ZERO) {
                // The restored lanes skip what their checkpoint accounts for,
                // so a start before the resume offset only costs a re-read.
                tracing::warn!(partition = p, error = %e, "seek to the checkpoint failed; the partition reads from where it was assigned");
            }
            paused.add_partition(&self.cfg.kafka.topic, p);
        }
        // Group assignments arrive paused (see `source`): fetch from here on.
        if let Err(e) = self.consumer.resume(&paused) {
            tracing::warn!(error = %e, "resuming the assigned partitions failed");
        }
        self.owned = assigned;
        self.last_checkpoint = Some(mine);
        self.adopted = Instant::now();
        Ok(())
    }

    /// Writes changed rows, then the checkpoint, then commits offsets.
    async fn flush(&mut self, last: bool) -> Result<(), JobError> {
        if self.assignment_changed() {
            // Never checkpoint state built on records that may be delivered again.
            return self.adopt_assignment().await;
        }
        let busy = Instant::now();
        self.core.advance(self.clock.now_ms());
        let updates = self.core.drain();
        let touched = Core::touched(&updates);
        if !updates.is_empty() {
            let rules = self.merge_rules;
            let n = self.retry("rows", last, || self.sink.write(&updates, &touched, &rules)).await?;
            self.metrics.rows_written.inc_by(n as u64);
        }
        let cp = self.core.checkpoint();
        if self.assignment_changed() {
            // Changed while the rows were written: they are correct upserts, but
            // the new assignment's positions are not this checkpoint's.
            return self.adopt_assignment().await;
        }
        if self.last_checkpoint.as_ref() != Some(&cp) || self.checkpoint_written.elapsed() >= CHECKPOINT_HEARTBEAT {
            self.retry("checkpoint", last, || self.sink.write_checkpoint(&cp)).await?;
            self.checkpoint_written = Instant::now();
            self.metrics.checkpoints.inc();
            for c in &cp {
                self.metrics.replay_window_records.get_or_create(&Partition { partition: c.partition }).set(c.replay_window());
            }
            self.commit(&cp, last);
            self.last_checkpoint = Some(cp);
        }
        self.merge(&touched, last).await?;
        let stats = self.core.stats();
        self.metrics.record_core(&self.last_stats, &stats, self.core.state_size(), self.core.closed_through(), self.core.open_windows());
        self.last_stats = stats;
        self.check_store_when_quiet().await;
        self.clock.not_listening(busy.elapsed());
        Ok(())
    }

    /// Recomputes the merged rows (see [`Sink::merge`]) and reports them.
    async fn merge(&mut self, touched: &BTreeSet<(WindowKind, i64)>, last: bool) -> Result<(), JobError> {
        let (rules, partitions) = (self.merge_rules, self.all_partitions.clone());
        let report = self.retry("merge", last, || self.sink.merge(touched, &partitions, &rules)).await?;
        self.metrics.rows_written.inc_by(report.rows as u64);
        self.metrics.windows_merged.get_or_create(&Finality { finality: "final" }).inc_by(report.finalized as u64);
        self.metrics.windows_merged.get_or_create(&Finality { finality: "open" }).inc_by(report.open as u64);
        self.metrics.alerts.get_or_create(&Kind { kind: "health" }).inc_by(report.health_alerts);
        if report.watermark > i64::MIN {
            self.metrics.merged_watermark_timestamp_seconds.set(report.watermark as f64 / 1000.0);
        }
        self.core.topic_progress(report.topic_max, report.topic_idle);
        self.watch_orphans(&report);
        for s in &report.unreadable_sketches {
            tracing::warn!(share = %s, "a share's visitor sketch is unreadable: left out of the merged window's visitors (counts are complete)");
        }
        Ok(())
    }

    /// Every owner rewrites its checkpoint rows at least every
    /// [`CHECKPOINT_HEARTBEAT`]; a partition whose row is older than this
    /// has no owner.
    fn orphan_after(&self) -> Duration {
        (self.cfg.kafka.session_timeout * 3).max(CHECKPOINT_HEARTBEAT * 3)
    }

    /// Notices partitions nobody reads (their checkpoint rows stopped being
    /// rewritten): their windows stay open and the merged watermark stops.
    /// Static mode says so (a shard is down; systemd restarts it). Group
    /// mode also leaves and rejoins the group: Tansu's coordinator may not
    /// hand a dead member's partitions to the others until a member joins
    /// (docs/speed-layer.md), and a join makes it divide them all again.
    fn watch_orphans(&mut self, report: &MergeReport) {
        let orphan_after = self.orphan_after();
        let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
        let orphans = orphans(report, now_ms, orphan_after, self.started.elapsed() > orphan_after);
        self.metrics.orphaned_partitions.set(orphans.len() as i64);
        if orphans.is_empty() {
            self.orphans_reported.clear();
            return;
        }
        if orphans != self.orphans_reported {
            tracing::warn!(partitions = ?orphans, after = ?orphan_after, "nobody has checkpointed these partitions lately: is every instance running?");
            self.orphans_reported = orphans;
        }
        let settled = self.adopted.elapsed() > orphan_after && self.rejoined.is_none_or(|t| t.elapsed() > orphan_after);
        if self.cfg.kafka.assignment == Assignment::Group && settled {
            tracing::warn!(partitions = ?self.orphans_reported, "rejoining the consumer group so that the coordinator divides every partition again");
            self.rejoined = Some(Instant::now());
            self.consumer.unsubscribe();
            if let Err(e) = self.consumer.subscribe(&[&self.cfg.kafka.topic]) {
                tracing::error!(error = %e, "subscribing again failed; retrying at the next flush");
                self.rejoined = None;
            }
        }
    }

    /// Pings Cassandra when no write has reached it for a while (an idle
    /// topic writes nothing), so `/health` notices a store that went away
    /// while there was nothing to write. Never retried: the next flush asks
    /// again.
    async fn check_store_when_quiet(&self) {
        if self.health.store_quiet_for().is_some_and(|t| t < STORE_PING_AFTER) {
            return;
        }
        match self.sink.ping(STORE_PING_TIMEOUT).await {
            Ok(()) => self.health.store_answered(),
            Err(e) => {
                tracing::warn!(error = %e, "Cassandra did not answer the idle health ping");
                self.health.store_failed(&e.to_string());
            }
        }
    }

    /// Retries an idempotent write with backoff until it succeeds; gives up
    /// only when shutting down (`last`) after a grace period.
    async fn retry<'a, T, F, Fut>(&'a self, what: &str, last: bool, mut f: F) -> Result<T, JobError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, SinkError>> + 'a,
    {
        let mut delay = Duration::from_millis(100);
        let started = Instant::now();
        loop {
            self.progress.beat();
            match f().await {
                Ok(v) => {
                    self.health.store_answered();
                    return Ok(v);
                }
                Err(e) => {
                    self.metrics.write_errors.inc();
                    self.health.store_failed(&e.to_string());
                    let stopping = { *self.shutdown.borrow() };
                    if (last || stopping) && started.elapsed() > Duration::from_secs(10) {
                        return Err(JobError::UnflushedAtShutdown(e));
                    }
                    tracing::warn!(error = %e, what, retry_in = ?delay, "writing to Cassandra failed; retrying (rows are idempotent)");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
            }
        }
    }

    /// Commits what is counted to the group, for lag monitoring only: each
    /// partition's [`PartitionCheckpoint::committed_offset`] (everything
    /// below it is counted and written), not its resume offset, so a
    /// caught-up job shows lag 0. Restarts seek to the checkpoint's resume
    /// offsets instead, which is why this may run ahead of them.
    fn commit(&self, cps: &[PartitionCheckpoint], sync: bool) {
        let mut tpl = TopicPartitionList::new();
        for cp in cps {
            if let Err(e) = tpl.add_partition_offset(&self.cfg.kafka.topic, cp.partition, Offset::Offset(cp.committed_offset())) {
                tracing::warn!(error = %e, "building the offset commit");
            }
        }
        let mode = if sync { CommitMode::Sync } else { CommitMode::Async };
        if let Err(e) = self.consumer.commit(&tpl, mode) {
            tracing::warn!(error = %e, "committing offsets to the consumer group failed (the checkpoint is authoritative)");
        }
    }
}

/// The clock of idleness: wall time the job spent listening to Kafka, which
/// excludes time spent flushing. While a flush waits for Cassandra, records
/// may arrive unread; counting that time would call their partition (or web
/// server) idle and let windows close ahead of them (`window_final`).
struct ListeningClock {
    started: Instant,
    busy: Duration,
}

impl ListeningClock {
    fn start() -> ListeningClock {
        ListeningClock { started: Instant::now(), busy: Duration::ZERO }
    }

    /// Listening time so far, ms.
    fn now_ms(&self) -> i64 {
        self.started.elapsed().saturating_sub(self.busy).as_millis() as i64
    }

    /// Takes `d` (spent not reading Kafka) off the clock.
    fn not_listening(&mut self, d: Duration) {
        self.busy += d;
    }
}

/// A core for `partitions`, restored from their `checkpoints`.
fn restored_core(cfg: &Config, checkpoints: &[PartitionCheckpoint], partitions: &[i32]) -> Core {
    let mut core = Core::new(CoreConfig::from_config(cfg));
    core.expect_sources(&cfg.windows.sources);
    core.restore(checkpoints);
    core.assign(partitions);
    core
}

/// The partitions nobody owns: their checkpoint rows were last written more
/// than `orphan_after` before `now_ms` — and, once the job has run that
/// long itself (`counting_unowned`), those without any.
fn orphans(report: &MergeReport, now_ms: i64, orphan_after: Duration, counting_unowned: bool) -> Vec<i32> {
    let stale = report.checkpointed_at.iter().filter(|(_, at)| now_ms.saturating_sub(*at) > orphan_after.as_millis() as i64).map(|(p, _)| *p);
    let mut out: Vec<i32> = stale.chain(report.unowned.iter().copied().filter(|_| counting_unowned)).collect();
    out.sort_unstable();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_partition_is_orphaned_when_its_checkpoint_stops_being_rewritten() {
        let report = MergeReport { checkpointed_at: vec![(0, 100_000), (1, 83_000), (2, 79_000)], unowned: vec![3], ..MergeReport::default() };
        let after = Duration::from_secs(18);
        assert_eq!(orphans(&report, 100_000, after, false), [2], "rewritten within 18 s: owned");
        assert_eq!(orphans(&report, 100_000, after, true), [2, 3], "never checkpointed, once the job has waited as long");
        assert!(orphans(&report, 90_000, after, false).is_empty());
    }
}
