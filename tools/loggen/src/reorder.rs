//! Out-of-order delivery: a one-line reorder buffer.
//!
//! A line picked for displacement is held back for one line: if the next
//! line is in order and at most `max_gap` seconds *newer*, the two neighbours
//! are swapped and the held line becomes `OutOfOrder`. Anything else (same
//! second, a gap too wide, an invalid, late or duplicate line) releases the
//! held line unchanged and the displacement is retried on the next normal
//! line. Swapping only adjacent lines keeps a page ahead of the assets it
//! loads, keeps memory constant, and keeps duplicates and late lines exactly
//! where the selection placed them.

use std::collections::VecDeque;

use crate::item::Item;
use crate::truth::LineKind;

/// The reorder stage.
#[derive(Debug)]
pub(crate) struct Reorder {
    held: Option<Item>,
    /// Displacements asked for but not done yet.
    debt: u64,
    max_gap: i64,
}

impl Reorder {
    pub(crate) fn new(max_gap_secs: u64) -> Self {
        Reorder { held: None, debt: 0, max_gap: max_gap_secs.min(i64::MAX as u64) as i64 }
    }

    /// Feed the next produced line; lines ready for output go to `out`.
    pub(crate) fn push(&mut self, mut x: Item, out: &mut VecDeque<Item>) {
        if x.displace {
            x.displace = false;
            self.debt += 1;
        }
        let in_order = matches!(x.kind, LineKind::Normal | LineKind::Ddos | LineKind::ErrorStorm);
        if let Some(mut a) = self.held.take() {
            match (in_order, x.ts, a.ts) {
                (true, Some(t), Some(ta)) if t > ta && t - ta <= self.max_gap => {
                    out.push_back(x);
                    a.kind = LineKind::OutOfOrder;
                    out.push_back(a);
                    self.debt -= 1;
                    return;
                }
                _ => out.push_back(a),
            }
        }
        if self.debt > 0 && x.kind == LineKind::Normal && x.ts.is_some() {
            self.held = Some(x);
        } else {
            out.push_back(x);
        }
    }

    /// Release whatever is held (end of stream).
    pub(crate) fn finish(&mut self, out: &mut VecDeque<Item>) {
        if let Some(a) = self.held.take() {
            out.push_back(a);
        }
    }
}
