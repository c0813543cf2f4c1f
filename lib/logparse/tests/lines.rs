//! Line-level behaviour: what real servers write is accepted and normalised,
//! and every kind of bad line is rejected with the reason a person would give.

use clickstream_logparse::{CategoryConfig, FormatName, LineOrigin, Parser, ParserConfig, RejectReason};

fn parse(line: &str) -> clickstream_logparse::ParsedLine<'static> {
    let parser: &'static Parser = Box::leak(Box::default());
    let line: &'static str = Box::leak(line.to_string().into_boxed_str());
    parser.parse(line.as_bytes()).unwrap_or_else(|r| panic!("{r} for {line}"))
}

fn reason(line: &[u8]) -> RejectReason {
    Parser::default().parse(line).map(|p| panic!("accepted: {p:?}")).unwrap_err().reason
}

#[test]
fn combined_line_is_normalised() {
    let p = parse(
        r#"83.149.9.216 - frank [17/May/2015:12:05:03 +0200] "get /category/Books/x?page=2 HTTP/1.1" 200 203023 "http://ref/" "  Mozilla/5.0 \"q\"  ""#,
    );
    assert_eq!(p.client_addr, "83.149.9.216");
    assert_eq!(p.remote_user.as_deref(), Some("frank"));
    assert_eq!(p.event_time_ms, 1_431_857_103_000, "+0200 converted to UTC");
    assert_eq!((p.method.as_ref(), p.path.as_ref(), p.query.as_deref()), ("GET", "/category/Books/x", Some("page=2")));
    assert_eq!(p.protocol, "HTTP/1.1");
    assert_eq!((p.status, p.response_bytes), (200, Some(203_023)));
    assert_eq!(p.referrer.as_deref(), Some("http://ref/"));
    assert_eq!(p.user_agent.as_deref(), Some(r#"Mozilla/5.0 "q""#), "trimmed and unescaped");
    assert_eq!(p.category, "books");
}

#[test]
fn missing_values_become_none() {
    let p = parse(r#"example.COM - - [17/May/2015:10:05:03 -0500] "GET / HTTP/1.0" 304 - "-" "-""#);
    assert_eq!(p.client_addr, "example.com");
    assert_eq!((p.remote_user, p.response_bytes, p.referrer, p.user_agent), (None, None, None, None));
    assert_eq!(p.event_time_ms, 1_431_875_103_000);
    assert_eq!(p.category, "uncategorized");
    let empty = parse(r#"::1 - - [17/May/2015:10:05:03 +0000] "GET /a HTTP/1.1" 200 0 "" """#);
    assert_eq!((empty.referrer, empty.user_agent, empty.response_bytes), (None, None, Some(0)));
}

#[test]
fn common_format_and_ipv6() {
    let p = parse(r#"2001:DB8::1 - - [17/May/2015:10:05:03 +0000] "HEAD /blog HTTP/1.1" 200 512"#);
    assert_eq!((p.client_addr.as_ref(), p.method.as_ref(), p.category.as_ref()), ("2001:db8::1", "HEAD", "blog"));
    assert_eq!((p.referrer, p.user_agent), (None, None));
}

#[test]
fn odd_requests_are_kept_as_unknown() {
    for req in ["-", "", "\\x16\\x03\\x01", "GET"] {
        let p = parse(&format!(r#"1.2.3.4 - - [17/May/2015:10:05:03 +0000] "{req}" 400 0 "-" "-""#));
        assert_eq!((p.method.as_ref(), p.path.as_ref(), p.protocol.as_ref()), ("UNKNOWN", "-", "-"), "{req}");
        assert_eq!(p.category, "uncategorized");
        assert_eq!(p.status, 400);
    }
}

#[test]
fn crlf_and_trailing_fields() {
    let p = parse("1.2.3.4 - - [17/May/2015:10:05:03 +0000] \"GET /x HTTP/1.1\" 200 1 \"-\" \"ua\" 0.004 \"10.0.0.1\"\r\n");
    assert_eq!((p.user_agent.as_deref(), p.category.as_ref()), (Some("ua"), "x"));
}

#[test]
fn rejections_carry_the_right_reason() {
    let ok = r#"1.2.3.4 - - [17/May/2015:10:05:03 +0000] "GET / HTTP/1.1" 200 1 "-" "ua""#;
    assert_eq!(reason(b""), RejectReason::Empty);
    assert_eq!(reason(b"   \n"), RejectReason::Empty);
    assert_eq!(reason(b"hello world"), RejectReason::Unparseable);
    assert_eq!(reason(&ok.as_bytes()[..40]), RejectReason::Unparseable);
    assert_eq!(reason(ok.replace("17/May", "32/Foo").as_bytes()), RejectReason::BadTimestamp);
    assert_eq!(reason(ok.replace("17/May/2015", "29/Feb/2015").as_bytes()), RejectReason::BadTimestamp);
    assert_eq!(reason(ok.replace("\" 200", "\" abc").as_bytes()), RejectReason::BadStatus);
    assert_eq!(reason(ok.replace("\" 200", "\" 999").as_bytes()), RejectReason::BadStatus);
    assert_eq!(reason(ok.replace("\" 200", "\" 0200").as_bytes()), RejectReason::BadStatus);
    assert_eq!(reason(ok.replace(" 1 \"-\"", " x1 \"-\"").as_bytes()), RejectReason::BadBytes);
    assert_eq!(reason(ok.replace("1.2.3.4", "<script>").as_bytes()), RejectReason::BadClient);
    let mut binary = ok.as_bytes().to_vec();
    binary[50] = 0xff;
    assert_eq!(reason(&binary), RejectReason::NotUtf8);
    let huge = format!("{ok}{}", "x".repeat(70_000));
    assert_eq!(reason(huge.as_bytes()), RejectReason::TooLong);
}

#[test]
fn rejection_messages_say_what_and_where() {
    let err = Parser::default().parse(br#"1.2.3.4 - - [17/May/2015:10:05:03 +0000] "GET / HTTP/1.1" 999 1"#).unwrap_err();
    assert_eq!(err.to_string(), "bad_status: status \"999\" is not a number from 100 to 599");
    let err = Parser::default().parse(b"1.2.3.4 - - 17/May").unwrap_err();
    assert!(err.message.contains("[timestamp]"), "{err}");
    let err = Parser::default().parse(b"ok \xff\xfe").unwrap_err();
    assert_eq!(err.message, "invalid UTF-8 at byte 3 of the line");
}

#[test]
fn strict_formats() {
    let common = r#"1.2.3.4 - - [17/May/2015:10:05:03 +0000] "GET / HTTP/1.1" 200 1"#;
    let combined = format!("{common} \"-\" \"ua\"");
    let only = |format| ParserConfig { format, ..Default::default() }.build().unwrap();
    assert!(only(FormatName::Common).parse(common.as_bytes()).is_ok());
    assert_eq!(only(FormatName::Common).parse(combined.as_bytes()).unwrap_err().reason, RejectReason::Unparseable);
    assert!(only(FormatName::Combined).parse(combined.as_bytes()).is_ok());
    assert_eq!(only(FormatName::Combined).parse(common.as_bytes()).unwrap_err().reason, RejectReason::Unparseable);
}

#[test]
fn custom_regex_format() {
    let config = ParserConfig {
        format: FormatName::Regex,
        regex: Some(r#"^(?P<time>\S+) (?P<client>\S+) (?P<method>\S+) (?P<path>\S+) (?P<status>\d+) (?P<bytes>\S+)$"#.into()),
        category: CategoryConfig { marker: Some("c".into()), ..Default::default() },
        ..Default::default()
    };
    let parser = config.build().unwrap();
    let p = parser.parse(b"2015-05-17T12:05:03+02:00 10.0.0.9 post /c/toys/1?x=1 201 -").unwrap();
    assert_eq!(p.event_time_ms, 1_431_857_103_000);
    assert_eq!((p.method.as_ref(), p.path.as_ref(), p.query.as_deref()), ("POST", "/c/toys/1", Some("x=1")));
    assert_eq!((p.status, p.response_bytes, p.category.as_ref()), (201, None, "toys"));
    assert_eq!(p.protocol, "HTTP/0.9");
    assert_eq!(parser.parse(b"nope").unwrap_err().reason, RejectReason::Unparseable);
}

#[test]
fn config_errors_name_the_key() {
    let err = |c: ParserConfig| c.build().unwrap_err().to_string();
    assert!(err(ParserConfig { format: FormatName::Regex, ..Default::default() }).contains("parser.regex"));
    let no_status = ParserConfig { format: FormatName::Regex, regex: Some("(?P<client>.)(?P<time>.)".into()), ..Default::default() };
    assert!(err(no_status).contains("(?P<status>"));
    let unknown =
        ParserConfig { format: FormatName::Regex, regex: Some("(?P<client>.)(?P<time>.)(?P<status>.)(?P<zzz>.)".into()), ..Default::default() };
    assert!(err(unknown).contains("\"zzz\""));
    assert!(err(ParserConfig { max_line_bytes: Some(3), ..Default::default() }).contains("parser.max_line_bytes"));
    let parsed: ParserConfig = toml::from_str("format = \"combined\"\nmax_line_bytes = 4096\n[category]\nmarker = \"cat\"").unwrap();
    assert_eq!(parsed.build().unwrap().max_line_bytes(), 4096);
    assert!(toml::from_str::<ParserConfig>("formt = \"combined\"").unwrap_err().to_string().contains("formt"));
}

#[test]
fn event_ids_are_deterministic_and_events_carry_origin() {
    let parser = Parser::default();
    let line = br#"1.2.3.4 - - [17/May/2015:10:05:03 +0000] "GET /a HTTP/1.1" 200 1 "-" "ua""#;
    let origin = LineOrigin { source_host: "web1", source_file: "/spool/a.log", file_fingerprint: "fp", byte_offset: 99 };
    let a = parser.parse_event(line, &origin).unwrap();
    let b = parser.parse_event(line, &origin).unwrap();
    assert_eq!(a, b);
    // The id of this line at this offset of this host's stream (the line without its terminator).
    assert_eq!(a.event_id, clickstream_contract::EventId::of_line("web1", "fp", 99, line).to_string());
    let crlf = [&line[..], b"\r\n"].concat();
    assert_eq!(parser.parse_event(&crlf, &origin).unwrap().event_id, a.event_id, "the terminator is not part of the line");
    assert_eq!((a.ingest.byte_offset, a.raw_line.as_bytes()), (99, &line[..]));
    let other = parser.parse_event(line, &LineOrigin { byte_offset: 100, ..origin }).unwrap();
    assert_ne!(a.event_id, other.event_id);
    let other_line = br#"1.2.3.4 - - [17/May/2015:10:05:03 +0000] "GET /b HTTP/1.1" 200 1 "-" "ua""#;
    assert_ne!(parser.parse_event(other_line, &origin).unwrap().event_id, a.event_id, "another line at the same place of the same stream");
}
