//! The Kafka sink: every event to a topic, keyed by client address, value
//! single-object Avro, header `event_id`; an event leaves the channel only
//! after its delivery report came back.

mod config;
mod deliveries;
mod sink;

pub use config::KafkaSinkConfig;
pub use sink::{KafkaFailure, KafkaSink};
