//! The log-line parser, as the spool agent and the fan-out agent's `line`
//! bodies use it.

use std::sync::OnceLock;

use clickstream_contract::{rules, ClickEvent};
use clickstream_logparse::{FormatName, LineOrigin, Parser, ParserConfig};

/// A custom format with every optional group, to fuzz the regex path too.
const REGEX_FORMAT: &str = r#"^(?P<time>\S+) (?P<client>\S+) (?P<user>\S+) (?P<method>\S+) (?P<path>\S+) (?P<protocol>\S+) (?P<status>\S+) (?P<bytes>\S+) "(?P<referrer>[^"]*)" "(?P<user_agent>[^"]*)"$"#;

fn parsers() -> &'static [Parser; 2] {
    static PARSERS: OnceLock<[Parser; 2]> = OnceLock::new();
    PARSERS.get_or_init(|| {
        let regex = ParserConfig { format: FormatName::Regex, regex: Some(REGEX_FORMAT.into()), ..Default::default() };
        [ParserConfig::default().build().expect("default parser"), regex.build().expect("regex parser")]
    })
}

/// Parses `data` as one line with the default (auto-detecting) parser and
/// with a regex-format parser. An accepted line yields an event that obeys
/// the contract's rulebook (the parser is the first hop that must enforce
/// it) and survives an Avro round trip unchanged.
pub fn log_line(data: &[u8]) {
    let origin = LineOrigin { source_host: "web1", source_file: "/var/log/access.log", file_fingerprint: "0123456789abcdef", byte_offset: 0 };
    for parser in parsers() {
        let Ok(event) = parser.parse_event(data, &origin) else { continue };
        if let Err(v) = rules::validate(&event) {
            panic!("the parser accepted a line the rulebook refuses: {v:?}");
        }
        let datum = event.to_datum();
        let decoded = ClickEvent::decode_datum(&datum).expect("a parsed event's datum decodes");
        assert_eq!(decoded, event);
    }
}
