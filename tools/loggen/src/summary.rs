//! Counts of what was actually written, for humans (stderr) and tests.
//!
//! Counted at the very end of the pipeline, on the lines as written, so the
//! summary is the truth about the output even where a request could not be
//! met exactly (e.g. fewer out-of-order lines when neighbours are too far
//! apart in time).

use std::fmt;

use crate::time::{format_duration, format_rfc3339, UnixSeconds};
use crate::truth::{InvalidKind, LineKind};

/// A DDoS burst as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DdosReport {
    /// Attacking address.
    pub addr: String,
    /// The second of the burst.
    pub at: UnixSeconds,
    /// Lines written.
    pub count: u64,
}

/// An error storm as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StormReport {
    /// Start of the window.
    pub at: UnixSeconds,
    /// Window length in seconds.
    pub window_secs: u64,
    /// Failed responses written.
    pub count: u64,
}

/// Counts of the written lines.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Seed used.
    pub seed: u64,
    /// Lines written.
    pub lines: u64,
    /// Bytes written, newlines included.
    pub bytes: u64,
    /// `Normal` lines.
    pub normal: u64,
    /// `Ddos` lines.
    pub ddos: u64,
    /// `ErrorStorm` lines.
    pub error_storm: u64,
    /// `Duplicate` lines.
    pub duplicate: u64,
    /// `Late` lines.
    pub late: u64,
    /// `OutOfOrder` lines.
    pub out_of_order: u64,
    /// Invalid lines per kind, in [`InvalidKind::ALL`] order.
    pub invalid: [u64; 6],
    /// Valid request-less `"-" 408` lines (counted in `normal`/`out_of_order`/`duplicate` too).
    pub request_less: u64,
    /// Valid lines with a status other than 200.
    pub non_200: u64,
    /// Distinct client addresses among valid lines.
    pub distinct_clients: u64,
    /// Earliest event time of a valid line.
    pub first_ts: Option<UnixSeconds>,
    /// Latest event time of a valid line.
    pub last_ts: Option<UnixSeconds>,
    /// The DDoS bursts.
    pub ddos_bursts: Vec<DdosReport>,
    /// The error storms.
    pub storms: Vec<StormReport>,
}

impl Summary {
    /// All invalid lines.
    pub fn invalid_total(&self) -> u64 {
        self.invalid.iter().sum()
    }

    /// Invalid lines of one kind.
    pub fn invalid_of(&self, kind: InvalidKind) -> u64 {
        self.invalid[kind as usize]
    }

    /// Lines of one kind.
    pub fn count(&self, kind: LineKind) -> u64 {
        match kind {
            LineKind::Normal => self.normal,
            LineKind::Ddos => self.ddos,
            LineKind::ErrorStorm => self.error_storm,
            LineKind::Duplicate => self.duplicate,
            LineKind::Late => self.late,
            LineKind::OutOfOrder => self.out_of_order,
            LineKind::Invalid(k) => self.invalid_of(k),
        }
    }

    pub(crate) fn add(&mut self, kind: LineKind, len: usize) {
        self.lines += 1;
        self.bytes += len as u64 + 1;
        match kind {
            LineKind::Normal => self.normal += 1,
            LineKind::Ddos => self.ddos += 1,
            LineKind::ErrorStorm => self.error_storm += 1,
            LineKind::Duplicate => self.duplicate += 1,
            LineKind::Late => self.late += 1,
            LineKind::OutOfOrder => self.out_of_order += 1,
            LineKind::Invalid(k) => self.invalid[k as usize] += 1,
        }
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let span = match (self.first_ts, self.last_ts) {
            (Some(a), Some(b)) => format!("{} .. {}", format_rfc3339(a), format_rfc3339(b)),
            _ => "-".into(),
        };
        writeln!(f, "loggen summary (seed {})", self.seed)?;
        writeln!(f, "  lines            {:>9}  ({} bytes)", self.lines, self.bytes)?;
        writeln!(f, "  event times      {span}")?;
        writeln!(f, "  normal           {:>9}", self.normal)?;
        writeln!(f, "  ddos             {:>9}", self.ddos)?;
        for d in &self.ddos_bursts {
            writeln!(f, "    {} x {} at {}", d.count, d.addr, format_rfc3339(d.at))?;
        }
        writeln!(f, "  error-storm      {:>9}", self.error_storm)?;
        for s in &self.storms {
            writeln!(f, "    {} x 5xx in {} from {}", s.count, format_duration(s.window_secs), format_rfc3339(s.at))?;
        }
        writeln!(f, "  duplicate        {:>9}", self.duplicate)?;
        writeln!(f, "  late             {:>9}", self.late)?;
        writeln!(f, "  out-of-order     {:>9}", self.out_of_order)?;
        let detail: Vec<String> = InvalidKind::ALL.iter().map(|&k| format!("{} {}", k.name(), self.invalid_of(k))).collect();
        writeln!(f, "  invalid          {:>9}  ({})", self.invalid_total(), detail.join(", "))?;
        writeln!(f, "  request-less 408 {:>9}  (valid; included above)", self.request_less)?;
        writeln!(f, "  non-200 (valid)  {:>9}", self.non_200)?;
        write!(f, "  distinct clients {:>9}", self.distinct_clients)
    }
}
