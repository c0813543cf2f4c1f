//! The unit the generator's stages pass along (produce → reorder →
//! finalize): one line with what the later stages need to know about it.
//! Its own module because the generator makes and finalizes items and the
//! reorder stage swaps them; neither owns the other's half.

use crate::record::Record;
use crate::time::UnixSeconds;
use crate::truth::LineKind;

/// A line moving through the pipeline.
#[derive(Clone, Debug)]
pub(crate) struct Item {
    pub(crate) bytes: Vec<u8>,
    pub(crate) kind: LineKind,
    /// Event time of valid lines (`None` for invalid lines and unresolved duplicates).
    pub(crate) ts: Option<UnixSeconds>,
    pub(crate) rec: Option<Record>,
    /// Picked for out-of-order delivery.
    pub(crate) displace: bool,
}
