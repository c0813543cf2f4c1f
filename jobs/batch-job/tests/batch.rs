//! End-to-end tests of `batch-job` against the real HDFS and MariaDB of
//! `scripts/stack` (`scripts/stack up hdfs mariadb`; `eval "$(scripts/stack env)"`
//! sets HDFS_URL and MYSQL_URL, the defaults are the stack's addresses).
//!
//! Every expected number is computed in `common::expected` straight from the
//! parsed events (sets of ids and visitor strings), never by the job's code.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use common::*;

type ClickEventOwned = clickstream_contract::ClickEvent<'static>;

fn d(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

#[test]
fn sample_logs_on_hdfs_exact_idempotent_and_duplicate_proof() {
    let events = sample_events();
    assert_eq!(events.len(), 3980 + 4477, "the parser accepts the documented valid lines");
    let target = Target::hdfs(&format!("/clickstream_test/{}/master", unique_name("sample")));
    target.write_master("fanout-a", &events, 2);
    let db = TestDb::create();
    let want = expected(&events, false, 400);
    assert_eq!(want.keys().copied().collect::<Vec<_>>(), vec![d("2026-11-20"), d("2026-11-21")]);

    let out = run(&["run", "--from", "2026-11-20", "--to", "2026-11-21"], &target.url(), &db.url);
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.lines().count(), 1, "one summary line");
    assert!(stdout.contains("8457 events read, 8457 unique, 0 duplicates"), "{stdout}");
    assert_eq!(db.rows(), want);

    // At-least-once transport: a second instance re-delivers every 7th event
    // (another file in the same partitions). Nothing may change.
    target.write_master("fanout-b", &redelivery(&events, 7), 1);
    let out = run(&["run", "--date", "2026-11-20"], &target.url(), &db.url);
    assert_eq!(out.status.code(), Some(0));
    let out = run(&["run", "--from", "2026-11-20", "--to", "2026-11-21"], &target.url(), &db.url);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains(&format!("{} duplicates", events.len().div_ceil(7))));
    assert_eq!(db.rows(), want, "duplicates and re-runs leave the results unchanged");

    let runs = db.runs();
    assert_eq!(runs.len(), 3);
    assert!(runs.iter().all(|r| r.outcome == "succeeded" && r.finished && r.error.is_none()), "{runs:?}");
    assert_eq!(runs[2].events_unique as usize, events.len());
    assert_eq!(runs[2].events_read as usize, events.len() + events.len().div_ceil(7));
    target.cleanup();
}

#[test]
fn real_apache_logs_on_local_fs_exact_with_both_visitor_definitions() {
    let events = apache_events();
    assert_eq!(events.len(), 10_000);
    let dir = tempfile::tempdir().unwrap();
    let target = Target::local(dir.path());
    target.write_master("fanout-a", &events, 3);
    target.write_master("fanout-retry", &redelivery(&events, 3), 1);
    let db = TestDb::create();

    let out = run(&["run", "--from", "2015-05-17", "--to", "2015-05-20", "--no-progress"], &target.url(), &db.url);
    assert_eq!(out.status.code(), Some(0));
    let want = expected(&events, false, 400);
    assert_eq!(want.len(), 4);
    assert_eq!(db.rows(), want);

    // Visitor = client address + user agent, success = below 500, from a config file.
    let db2 = TestDb::create();
    let conf = dir.path().join("batch-job.toml");
    std::fs::write(&conf, "[reports]\nvisitor = \"client_and_user_agent\"\nsuccess_below = 500\n").unwrap();
    let out = run(&["--config", conf.to_str().unwrap(), "run", "--from", "2015-05-17", "--to", "2015-05-20"], &target.url(), &db2.url);
    assert_eq!(out.status.code(), Some(0));
    let want2 = expected(&events, true, 500);
    assert_eq!(db2.rows(), want2);
    assert!(want2.values().zip(want.values()).all(|(a, b)| a.unique_visitors >= b.unique_visitors));
    assert!(want2.values().zip(want.values()).any(|(a, b)| a.unique_visitors > b.unique_visitors));
}

/// Issue 22's reports on 10,000 real lines spread over three web servers and
/// four days (Sunday 2015-05-17 ends an ISO week): per server and per
/// category, top paths, and weekly and monthly unique visitors, equal to an
/// independent count; the week's and month's rows follow when a later run
/// reports another of their days, and a rerun changes nothing.
#[test]
fn servers_categories_top_paths_and_visitor_ranges_are_exact() {
    let mut events = apache_events();
    for (i, e) in events.iter_mut().enumerate() {
        e.source_host = format!("web-{}", ["a", "b", "c"][i % 3]).into();
    }
    let dir = tempfile::tempdir().unwrap();
    let target = Target::local(dir.path());
    target.write_master("fanout-a", &events, 2);
    target.write_master("fanout-retry", &redelivery(&events, 7), 1);
    let conf = dir.path().join("batch-job.toml");
    std::fs::write(&conf, "[reports]\ntop_paths = 7\n").unwrap();
    let db = TestDb::create();
    let report = |from: &str, to: &str| {
        let out = run(&["--config", conf.to_str().unwrap(), "run", "--from", from, "--to", to, "--no-progress"], &target.url(), &db.url);
        assert_eq!(out.status.code(), Some(0));
    };
    let until = |last: &str| -> Vec<ClickEventOwned> { events.iter().filter(|e| partition(e).0 <= d(last)).cloned().collect() };

    report("2015-05-17", "2015-05-18");
    let first = expected_slices(&until("2015-05-18"), 7);
    assert_eq!(first.weeks.keys().copied().collect::<Vec<_>>(), [d("2015-05-11"), d("2015-05-18")], "Sunday the 17th ends its ISO week");
    assert_eq!(db.slices(), first);

    report("2015-05-19", "2015-05-20");
    let all = expected_slices(&events, 7);
    let got = db.slices();
    assert_eq!(got.daily, all.daily);
    assert_eq!(got.hourly, all.hourly);
    assert_eq!(got.top_paths, all.top_paths);
    assert_eq!(got.weeks, all.weeks, "the week of the 18th now holds three days");
    assert_eq!(got.months, all.months);
    let week = all.weeks[&d("2015-05-18")];
    assert_eq!(week.0, 3);
    let daily_sum: u64 = db.rows().iter().filter(|(day, _)| **day >= d("2015-05-18")).map(|(_, r)| r.unique_visitors).sum();
    assert!(week.2 < daily_sum, "the week's visitors ({}) are a union, not the sum of its days' ({daily_sum})", week.2);
    assert_eq!(all.daily.keys().filter(|(_, dim, _)| dim == "server").count(), 12, "three servers on four days");
    assert!(all.top_paths.values().all(|p| p.len() == 7));

    report("2015-05-18", "2015-05-18");
    assert_eq!(db.slices(), all, "a rerun of one day changes nothing");
}

#[test]
fn dry_run_prints_the_four_reports_without_mysql() {
    let events = sample_events();
    let dir = tempfile::tempdir().unwrap();
    let target = Target::local(dir.path());
    target.write_master("fanout-a", &events, 1);
    let out = run(&["run", "--from", "2026-11-20", "--to", "2026-11-21", "--dry-run"], &target.url(), "mysql://nobody:x@127.0.0.1:1/none");
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    let want = expected(&events, false, 400);
    for section in ["1. unique visitors per day", "2. success vs failure", "3. day-wise distribution", "4. hourly distribution"] {
        assert!(text.contains(section), "{section} missing:\n{text}");
    }
    let day = &want[&d("2026-11-20")];
    assert!(text.contains(&format!("2026-11-20  Friday     {:>15}  {:>10}", day.unique_visitors, day.requests)), "{text}");
    assert!(text.lines().last().unwrap().starts_with("batch-job dry run:"));
}

#[test]
fn a_damaged_block_costs_that_block_and_a_bad_header_the_file() {
    let events = sample_events();
    let dir = tempfile::tempdir().unwrap();
    let target = Target::local(dir.path());
    target.write_master("fanout-a", &events, 2);
    let db = TestDb::create();
    let quarantine = dir.path().join("quarantine");
    let config = dir.path().join("batch.toml");
    std::fs::write(&config, format!("[run]\nquarantine_dir = \"{}\"\n", quarantine.display())).unwrap();
    let run_with = |args: &[&str]| {
        let mut all = vec!["--config", config.to_str().unwrap()];
        all.extend_from_slice(args);
        run(&all, &target.url(), &db.url)
    };

    // One more file of hour 12: three blocks, the middle one damaged (64 bytes flipped).
    let day = d("2026-11-20");
    let hour12: Vec<&_> = events.iter().filter(|e| partition(e) == (day, 12)).take(90).collect();
    let groups: Vec<Vec<&_>> = hour12.chunks(30).map(<[_]>::to_vec).collect();
    let (mut bytes, blocks) = container_blocks(&groups, apache_avro::Codec::Deflate(apache_avro::DeflateSettings::default()));
    let mid = (blocks[1].start + blocks[1].end) / 2 - 32;
    for b in &mut bytes[mid..mid + 64] {
        *b ^= 0x5a;
    }
    let victim = "date=2026-11-20/hour=12/fanout-b-1-0.avro";
    target.put(victim, bytes.clone());
    // Its events are in the original files too: the day's numbers stay those of all events.
    let out = run_with(&["run", "--date", "2026-11-20"]);
    assert_eq!(out.status.code(), Some(0), "a damaged block does not block the day");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("skipped 0 invalid record(s) (none) and 1 damaged block(s)"), "{stdout}");
    assert_eq!(db.rows()[&day], expected(&events, false, 400)[&day], "every event is also in its original file");
    let r = db.runs().pop().unwrap();
    assert_eq!((r.outcome.as_str(), r.records_skipped, r.blocks_skipped), ("succeeded", 0, 1));
    let inputs = r.inputs.unwrap();
    assert!(inputs.contains(victim) && inputs.contains("\"blocks_skipped\":[{"), "{inputs}");
    let kept = std::fs::read_to_string(quarantine.join(format!("2026-11-20.run{}.jsonl", r.run_id))).unwrap();
    assert!(kept.contains("\"kind\":\"block\"") && kept.contains(victim), "{kept}");

    // A header nothing can be read from: the whole file is refused (exit 4) unless skipped.
    let mut broken = bytes;
    for b in &mut broken[8..40] {
        *b ^= 0x5a;
    }
    target.put(victim, broken);
    let before = db.rows();
    let out = run_with(&["run", "--date", "2026-11-20"]);
    assert_eq!(out.status.code(), Some(4), "corrupt header");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(victim) && stderr.contains("byte offset"), "names file and offset: {stderr}");
    assert_eq!(db.rows(), before, "report tables untouched");
    assert_eq!(db.runs().last().unwrap().outcome, "failed");
    let out = run_with(&["run", "--date", "2026-11-20", "--skip-corrupt"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("skipped corrupt file://"));
    let r = db.runs().pop().unwrap();
    assert_eq!((r.outcome.as_str(), r.files_corrupt), ("succeeded", 1));
    assert_eq!(db.rows()[&day], expected(&events, false, 400)[&day]);
}

/// The block's own events (no copy elsewhere): exactly they are missing.
#[test]
fn only_the_damaged_blocks_events_are_missing() {
    let events = sample_events();
    let day = d("2026-11-21");
    let dir = tempfile::tempdir().unwrap();
    let target = Target::local(dir.path());
    let mut per_hour: std::collections::BTreeMap<u32, Vec<&_>> = std::collections::BTreeMap::new();
    for e in events.iter().filter(|e| partition(e).0 == day) {
        per_hour.entry(partition(e).1).or_default().push(e);
    }
    let mut lost = Vec::new();
    for (hour, evs) in &per_hour {
        let third = evs.len().div_ceil(3).max(1);
        let groups: Vec<Vec<&_>> = evs.chunks(third).map(<[_]>::to_vec).collect();
        let (mut bytes, blocks) = container_blocks(&groups, apache_avro::Codec::Null);
        if *hour == 9 && groups.len() == 3 {
            // Garbage over the middle block's count and size (between the first
            // block's sync marker and its data): the reader resyncs at the next marker.
            for b in &mut bytes[blocks[0].end + 16..blocks[1].start + 4] {
                *b = 0xff;
            }
            lost.extend(groups[1].iter().map(|e| e.event_id.to_string()));
        }
        target.put(&format!("date={day}/hour={hour:02}/fanout-a-{hour}-0.avro"), bytes);
    }
    assert!(!lost.is_empty(), "hour 09 has events");
    let db = TestDb::create();
    let out = run(&["run", "--date", &day.to_string()], &target.url(), &db.url);
    assert_eq!(out.status.code(), Some(0));
    let kept: Vec<_> = events.iter().filter(|e| !lost.contains(&e.event_id.to_string())).cloned().collect();
    assert_eq!(db.rows()[&day], expected(&kept, false, 400)[&day], "exactly the damaged block's events are missing");
    assert_eq!(db.runs().pop().unwrap().blocks_skipped, 1);
}

#[test]
fn invalid_records_are_skipped_counted_per_rule_and_kept_aside() {
    use std::borrow::Cow;
    let events = sample_events();
    let day = d("2026-11-20");
    let dir = tempfile::tempdir().unwrap();
    let target = Target::local(dir.path());
    target.write_master("fanout-a", &events, 1);
    // Poison written by some other writer into hour 10 of the day.
    let base = events.iter().find(|e| partition(e) == (day, 10)).unwrap().clone();
    let mut poison = vec![
        ClickEventOwned { status: 0, event_id: Cow::Owned(format!("{:032x}", 1)), ..base.clone() },
        ClickEventOwned { status: 1000, event_id: Cow::Owned(format!("{:032x}", 2)), ..base.clone() },
        ClickEventOwned { response_bytes: Some(-5), event_id: Cow::Owned(format!("{:032x}", 3)), ..base.clone() },
        ClickEventOwned { event_id: Cow::Borrowed("not-a-hex-id"), ..base.clone() },
    ];
    // An event of hour 11 in hour 10's partition.
    let other_hour = events.iter().find(|e| partition(e) == (day, 11)).unwrap().clone();
    poison.push(ClickEventOwned { event_id: Cow::Owned(format!("{:032x}", 4)), ..other_hour });
    let refs: Vec<&_> = poison.iter().collect();
    target.put("date=2026-11-20/hour=10/other-1-0.avro", container_bytes(&refs, apache_avro::Codec::Null));
    let quarantine = dir.path().join("kept");
    let config = dir.path().join("batch.toml");
    std::fs::write(&config, format!("[run]\nquarantine_dir = \"{}\"\n", quarantine.display())).unwrap();
    let db = TestDb::create();
    let out = run(&["--config", config.to_str().unwrap(), "run", "--date", "2026-11-20"], &target.url(), &db.url);
    assert_eq!(out.status.code(), Some(0), "poison records do not stop the day");
    assert_eq!(db.rows()[&day], expected(&events, false, 400)[&day], "the day's numbers without them");
    let r = db.runs().pop().unwrap();
    assert_eq!((r.records_skipped, r.blocks_skipped), (5, 0));
    let inputs: serde_json::Value = serde_json::from_str(&r.inputs.unwrap()).unwrap();
    assert_eq!(inputs["days"][0]["records_skipped"], serde_json::json!({"event_id": 1, "partition": 1, "response_bytes": 1, "status": 2}));
    let kept = std::fs::read_to_string(quarantine.join(format!("2026-11-20.run{}.jsonl", r.run_id))).unwrap();
    let lines: Vec<serde_json::Value> = kept.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 5);
    assert!(lines.iter().all(|l| l["kind"] == "record" && l["file"].as_str().unwrap().ends_with("other-1-0.avro")));
    // Each kept record is the datum as written: it decodes back to the poison event.
    use base64::Engine as _;
    let datum = base64::engine::general_purpose::STANDARD.decode(lines[0]["datum_base64"].as_str().unwrap()).unwrap();
    assert_eq!(clickstream_contract::ClickEvent::decode_datum(&datum).unwrap(), poison[0]);
}

#[test]
fn in_progress_files_no_data_days_and_check_complete() {
    let events = sample_events();
    let dir = tempfile::tempdir().unwrap();
    let target = Target::local(dir.path());
    target.write_master("fanout-a", &events, 1);
    let tmp = "date=2026-11-21/hour=23/fanout-a-1795305540000-99.avro.tmp";
    target.put(tmp, b"Obj\x01half written".to_vec());
    let db = TestDb::create();

    // .tmp skipped and reported; 2026-11-22 has no data: exit 3, other days written.
    let out = run(&["run", "--from", "2026-11-21", "--to", "2026-11-22"], &target.url(), &db.url);
    assert_eq!(out.status.code(), Some(3));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("no data yet for 2026-11-22") && stdout.contains("1 in progress skipped"), "{stdout}");
    assert_eq!(db.rows()[&d("2026-11-21")], expected(&events, false, 400)[&d("2026-11-21")]);
    let r = db.runs().pop().unwrap();
    assert_eq!((r.outcome.as_str(), r.files_in_progress), ("no_data", 1));
    assert!(r.inputs.unwrap().contains(".avro.tmp"));

    // A day with nothing at all: exit 3, nothing written.
    let out = run(&["run", "--date", "2026-11-25"], &target.url(), &db.url);
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(db.rows().len(), 1);

    let check = |day: &str, extra: &[&str]| {
        let mut args = vec!["check-complete", "--date", day];
        args.extend_from_slice(extra);
        run(&args, &target.url(), &db.url).status.code()
    };
    assert_eq!(check("2026-11-20", &[]), Some(0));
    assert_eq!(check("2026-11-21", &[]), Some(3), "a .tmp file is left");
    target.remove(tmp);
    assert_eq!(check("2026-11-21", &[]), Some(0));
    // Today's sink hides its in-use files from Hive/Spark with a `_`: the
    // batch job still waits for them.
    let hidden = "date=2026-11-21/hour=23/_fanout-a-1795305540000-100.avro.tmp";
    target.put(hidden, Vec::new());
    assert_eq!(check("2026-11-21", &[]), Some(3), "a _*.avro.tmp file is left");
    target.remove(hidden);
    assert_eq!(check("2026-11-21", &[]), Some(0));
    assert_eq!(check("2026-11-22", &[]), Some(3), "no files");
    let today = chrono::Utc::now().date_naive().to_string();
    target.write_master("fanout-a", &[], 1);
    assert_eq!(check(&today, &["--grace-minutes", "0"]), Some(3), "today is not over");
}

#[test]
fn misplaced_event_is_skipped_as_a_contract_violation() {
    let events = sample_events();
    let dir = tempfile::tempdir().unwrap();
    let target = Target::local(dir.path());
    let e = &events[0];
    let (day, hour) = partition(e);
    let rel = format!("date={day}/hour={:02}/bad-1-0.avro", (hour + 1) % 24);
    target.put(&rel, container_bytes(&[e], apache_avro::Codec::Null));
    let out = run(&["run", "--date", &day.to_string(), "--dry-run"], &target.url(), "mysql://x@127.0.0.1:1/x");
    assert_eq!(out.status.code(), Some(0), "one record does not block the day");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("skipped 1 invalid record(s) (1 partition)"), "{stdout}");
}

/// kill -9 at random moments of runs that would replace day A's results with
/// day B's: afterwards the day holds exactly A or exactly B, never a mix.
#[test]
fn kill_9_leaves_old_or_new_results_never_a_mix() {
    let events = sample_events();
    let (first, second): (Vec<_>, Vec<_>) = events.iter().cloned().partition(|e| e.source_host == "web1");
    let dir = tempfile::tempdir().unwrap();
    let target = Target::local(dir.path());
    target.write_master("web1", &first, 4);
    let db = TestDb::create();
    assert_eq!(run(&["run", "--from", "2026-11-20", "--to", "2026-11-21"], &target.url(), &db.url).status.code(), Some(0));
    let old = expected(&first, false, 400);
    assert_eq!(db.rows(), old);

    target.write_master("web2", &second, 4);
    let new = expected(&events, false, 400);

    // First, deterministically: kill -9 while the transaction holds every new row.
    let mut child = batch_job()
        .args(["--source", &target.url(), "--mysql-url", &db.url])
        .args(["run", "--from", "2026-11-20", "--to", "2026-11-21"])
        .env(batch_job::sink::FAULT_PAUSE_ENV, "30000")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    while std::io::BufRead::read_line(&mut stderr, &mut line).unwrap() > 0 && !line.contains("before COMMIT") {
        line.clear();
    }
    assert!(line.contains("before COMMIT"), "the run never reached its transaction");
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(db.rows(), old, "killed inside the transaction: the old rows stay");

    // Then at random moments: reading, writing, pausing, committing.
    let mut outcomes = (0, 0);
    for i in 0..8u64 {
        let mut child = batch_job()
            .args(["--source", &target.url(), "--mysql-url", &db.url])
            .args(["run", "--from", "2026-11-20", "--to", "2026-11-21"])
            .env(batch_job::sink::FAULT_PAUSE_ENV, "400")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Spread the kills over reading, writing and the pause before COMMIT.
        std::thread::sleep(Duration::from_millis(50 + i * 70));
        let _ = child.kill(); // SIGKILL
        let status = child.wait().unwrap();
        let rows = db.rows();
        if rows == old {
            outcomes.0 += 1;
        } else {
            assert_eq!(rows, new, "after kill -9 #{i} ({status:?}) the days hold a mix of old and new rows");
            outcomes.1 += 1;
        }
        if rows == new {
            break;
        }
    }
    assert!(outcomes.0 > 0, "no kill landed before COMMIT; the test did not exercise the crash window");
    let t = Instant::now();
    assert_eq!(run(&["run", "--from", "2026-11-20", "--to", "2026-11-21"], &target.url(), &db.url).status.code(), Some(0));
    assert!(t.elapsed() < Duration::from_secs(60));
    assert_eq!(db.rows(), new);
    // Killed runs stay visible as unfinished rows of batch_runs.
    assert!(db.runs().iter().any(|r| r.outcome == "running" && !r.finished));
}

#[test]
fn cli_help_validate_and_usage_errors() {
    for cmd in [
        &["--help"][..],
        &["run", "--help"],
        &["migrate", "--help"],
        &["check-complete", "--help"],
        &["reconcile", "--help"],
        &["validate", "--help"],
    ] {
        let out = batch_job().args(cmd).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{cmd:?}");
        assert!(!out.stdout.is_empty());
    }
    let conf = repo_root().join("conf/batch-job.toml");
    let out = batch_job().args(["validate", conf.to_str().unwrap()]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("clickstream:***@"), "password hidden");
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[reports]\nsucess_below = 500\n").unwrap();
    let out = batch_job().args(["validate", bad.to_str().unwrap()]).output().unwrap();
    assert_eq!(out.status.code(), Some(78));
    assert!(String::from_utf8_lossy(&out.stderr).contains("sucess_below"));
    assert_eq!(batch_job().args(["run"]).output().unwrap().status.code(), Some(2));
    assert_eq!(batch_job().args(["run", "--from", "2026-11-21", "--to", "2026-11-20"]).output().unwrap().status.code(), Some(2));
}

#[test]
fn migrate_is_idempotent() {
    let db = TestDb::create();
    let out = batch_job().args(["--mysql-url", &db.url, "migrate"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("applied"));
    let out = batch_job().args(["--mysql-url", &db.url, "migrate"]).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("up to date"));

    // Runs starting together on a new database (Airflow's catch-up) all succeed:
    // one migrates, the others wait for it.
    let fresh = TestDb::create();
    let children: Vec<_> =
        (0..4).map(|_| batch_job().args(["--mysql-url", &fresh.url, "migrate"]).stderr(std::process::Stdio::piped()).spawn().unwrap()).collect();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    }
}

#[test]
fn unreachable_services_fail_fast_with_their_own_exit_code() {
    // A port nobody listens on: hdfs-native retries it without end, so only
    // the job's own deadline (source.timeout_seconds) ends the wait.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("batch-job.toml");
    std::fs::write(
        &conf,
        format!(
            "[source]\nurl = \"hdfs://127.0.0.1:{dead}/clickstream/master\"\ntimeout_seconds = 3\n\
             [mysql]\nurl = \"mysql://u:p@127.0.0.1:{dead}/db\"\nconnect_timeout_seconds = 3\n[completeness]\ngrace_minutes = 0\n"
        ),
    )
    .unwrap();
    for args in [&["check-complete", "--date", "2026-11-20"][..], &["run", "--date", "2026-11-20"]] {
        let t = std::time::Instant::now();
        let out = batch_job().arg("--config").arg(&conf).args(args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(75), "{args:?}: {stderr}");
        assert!(t.elapsed() < Duration::from_secs(20), "{args:?} took {:?}", t.elapsed());
        assert!(stderr.contains("HDFS at hdfs://127.0.0.1:") && stderr.contains("unreachable"), "{stderr}");
    }

    // MySQL down, the master copy fine: the run fails at the connection, exit 75.
    let target = Target::local(dir.path());
    target.write_master("fanout-a", &sample_events(), 1);
    let t = std::time::Instant::now();
    let out = run(&["run", "--date", "2026-11-20"], &target.url(), &format!("mysql://u:p@127.0.0.1:{dead}/db"));
    assert_eq!(out.status.code(), Some(75));
    assert!(t.elapsed() < Duration::from_secs(20), "took {:?}", t.elapsed());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("MySQL at mysql://u:***@127.0.0.1:") && stderr.contains("unreachable"), "{stderr}");
}

#[test]
fn a_missing_master_copy_root_is_a_configuration_error() {
    let db = TestDb::create();
    let dir = tempfile::tempdir().unwrap();
    let missing = format!("file://{}/wrong", dir.path().display());
    for args in [&["check-complete", "--date", "2026-11-20"][..], &["run", "--date", "2026-11-20"]] {
        let out = run(args, &missing, &db.url);
        assert_eq!(out.status.code(), Some(78), "{args:?}: not 3 (a sensor would wait for hours)");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("/wrong does not exist") && stderr.contains("source.url"), "{stderr}");
    }
    let hdfs = Target::hdfs(&format!("/clickstream_test/{}/missing", unique_name("root")));
    let out = run(&["check-complete", "--date", "2026-11-20"], &hdfs.url(), &db.url);
    assert_eq!(out.status.code(), Some(78), "on HDFS too");
}

#[test]
fn reconcile_reports_again_exactly_the_days_whose_files_changed() {
    let events = sample_events();
    let (early, late): (Vec<_>, Vec<_>) = events.iter().cloned().partition(|e| !(e.source_host == "web2" && partition(e).0 == d("2026-11-20")));
    assert!(!late.is_empty());
    let target = Target::hdfs(&format!("/clickstream_test/{}/master", unique_name("reconcile")));
    target.write_master("fanout-a", &early, 2);
    let db = TestDb::create();
    let out = run(&["run", "--from", "2026-11-20", "--to", "2026-11-21", "--reason", "scheduled"], &target.url(), &db.url);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(db.rows(), expected(&early, false, 400));

    // Nothing changed: nothing re-run.
    let reconcile = || run(&["reconcile", "--through", "2026-11-22", "--days", "5", "--no-progress"], &target.url(), &db.url);
    let out = reconcile();
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(stdout.contains("2026-11-20: unchanged") && stdout.contains("2026-11-22: never reported"), "{stdout}");
    assert_eq!(db.runs().len(), 1);

    // web2's logs of the 20th arrive late; a file still being written waits.
    target.write_master("fanout-b", &late, 1);
    let tmp = "date=2026-11-20/hour=23/fanout-b-1795219140000-99.avro.tmp";
    target.put(tmp, b"Obj\x01half written".to_vec());
    let out = reconcile();
    assert!(String::from_utf8_lossy(&out.stdout).contains("2026-11-20: 1 file(s) still being written"));
    assert_eq!(db.rows(), expected(&early, false, 400));
    target.remove(tmp);

    let out = reconcile();
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(stdout.contains("2026-11-20: changed, reported again") && stdout.contains("2026-11-21: unchanged"), "{stdout}");
    assert_eq!(db.rows(), expected(&events, false, 400), "the late logs are counted, the other day untouched");
    let runs = db.runs();
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[0].reason, "scheduled");
    assert!(runs[1].reason.starts_with(&format!("reconcile: the day's files changed since run {}", runs[0].run_id)), "{}", runs[1].reason);

    // Reconciled once: a second reconcile finds nothing to do.
    let out = reconcile();
    assert!(String::from_utf8_lossy(&out.stdout).contains("2026-11-20: unchanged"));
    assert_eq!(db.runs().len(), 2);
    target.cleanup();
}

/// Airflow's catch-up starts runs of several days at once on one database:
/// they migrate one at a time and write one at a time (the deletes and
/// inserts of two days' transactions deadlocked InnoDB), and every run succeeds.
#[test]
fn concurrent_runs_of_different_days_all_succeed() {
    let events = sample_events();
    let dir = tempfile::tempdir().unwrap();
    let target = Target::local(dir.path());
    target.write_master("fanout-a", &events, 2);
    let db = TestDb::create();
    let children: Vec<_> = ["2026-11-20", "2026-11-21"]
        .iter()
        .cycle()
        .take(6)
        .map(|day| {
            batch_job()
                .args(["--source", &target.url(), "--mysql-url", &db.url, "run", "--date", day, "--no-progress"])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    }
    assert_eq!(db.rows(), expected(&events, false, 400));
    assert!(db.runs().iter().all(|r| r.outcome == "succeeded"));
}

/// `[metrics] textfile`: each run rewrites a node_exporter textfile with its
/// outcome and MySQL's newest reported day (real MariaDB); a run that fails
/// at MySQL says so and keeps the newest day it cannot ask for, so the
/// "day missing" alert still counts from the last real report. promtool
/// (Debian's prometheus package) accepts the file.
#[test]
fn each_run_writes_its_outcome_and_the_newest_day_to_a_textfile() {
    let dir = tempfile::tempdir().unwrap();
    let target = Target::local(dir.path());
    target.write_master("fanout-a", &sample_events(), 1);
    let db = TestDb::create();
    let prom = dir.path().join("clickstream_batch.prom");
    let conf = dir.path().join("batch-job.toml");
    std::fs::write(&conf, format!("[mysql]\nconnect_timeout_seconds = 3\n[metrics]\ntextfile = \"{}\"\n", prom.display())).unwrap();
    let with_conf = |args: &[&str], mysql: &str| {
        let mut all = vec!["--config", conf.to_str().unwrap()];
        all.extend_from_slice(args);
        run(&all, &target.url(), mysql)
    };
    let value = |name: &str| -> Option<f64> {
        let text = std::fs::read_to_string(&prom).unwrap();
        text.lines().find(|l| l.starts_with(&format!("{name} "))).map(|l| l.rsplit(' ').next().unwrap().parse().unwrap())
    };
    let before = chrono::Utc::now().timestamp() as f64;
    assert_eq!(with_conf(&["run", "--date", "2026-11-20"], &db.url).status.code(), Some(0));
    assert_eq!(value("batch_job_last_run_success"), Some(1.0));
    let midnight = d("2026-11-20").and_hms_opt(0, 0, 0).unwrap().and_utc().timestamp() as f64;
    assert_eq!(value("batch_job_newest_reported_day_timestamp_seconds"), Some(midnight));
    assert!(value("batch_job_last_run_timestamp_seconds").unwrap() >= before);
    let promtool = Command::new("promtool").args(["check", "metrics"]).stdin(std::fs::File::open(&prom).unwrap()).output();
    if let Ok(out) = promtool {
        assert!(out.status.success(), "promtool check metrics: {}", String::from_utf8_lossy(&out.stderr));
    }

    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let out = with_conf(&["run", "--date", "2026-11-20"], &format!("mysql://u:p@127.0.0.1:{dead}/db"));
    assert_eq!(out.status.code(), Some(75));
    assert_eq!(value("batch_job_last_run_success"), Some(0.0));
    assert_eq!(value("batch_job_newest_reported_day_timestamp_seconds"), Some(midnight), "kept from the last report");

    // A textfile node_exporter would not read is refused with its key.
    std::fs::write(&conf, "[metrics]\ntextfile = \"/tmp/batch.txt\"\n").unwrap();
    let out = batch_job().arg("validate").arg(&conf).output().unwrap();
    assert_eq!(out.status.code(), Some(78));
    assert!(String::from_utf8_lossy(&out.stderr).contains("metrics.textfile"), "{}", String::from_utf8_lossy(&out.stderr));
}

/// Issue 22, points 2 and 4, as an in-place upgrade: a database with a
/// day's reports, taken back to the schema before the migration, gets
/// `hourly_traffic.hour_start` (UTC start of each hour, indexed) computed for
/// its existing rows, and views whose day names stay English in a session
/// whose `lc_time_names` is German.
#[test]
fn the_upgrade_adds_hour_timestamps_and_locale_free_day_names_to_existing_rows() {
    use diesel::prelude::*;
    use diesel_migrations::MigrationHarness;
    let dir = tempfile::tempdir().unwrap();
    let target = Target::local(dir.path());
    target.write_master("fanout-a", &sample_events(), 1);
    let db = TestDb::create();
    assert_eq!(run(&["run", "--date", "2026-11-20"], &target.url(), &db.url).status.code(), Some(0));
    let mut c = db.conn();
    // Back to the schema before it, with the data (later migrations first).
    while c.revert_last_migration(batch_job::sink::MIGRATIONS).unwrap().to_string() != "20261206000003" {}
    let has_column = "SELECT CAST(COUNT(*) AS CHAR) AS v FROM information_schema.columns \
                      WHERE table_schema = DATABASE() AND table_name = 'hourly_traffic' AND column_name = 'hour_start'";
    assert_eq!(texts(&mut c, has_column), ["0"], "the schema before the migration");

    let out = batch_job().args(["--mysql-url", &db.url, "migrate"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(texts(&mut c, has_column), ["1"]);
    let wrong = texts(
        &mut c,
        "SELECT CONCAT(day, ' ', hour, ' ', COALESCE(hour_start, 'NULL')) AS v FROM hourly_traffic \
         WHERE hour_start IS NULL OR hour_start <> TIMESTAMP(day, MAKETIME(hour, 0, 0))",
    );
    assert!(wrong.is_empty(), "{wrong:?}");
    assert_eq!(texts(&mut c, "SELECT CAST(COUNT(*) AS CHAR) AS v FROM v_hourly_traffic WHERE hour_start >= '2026-11-20 00:00:00' AND hour_start < '2026-11-21 00:00:00'"), ["24"]);
    let indexed = "SELECT CAST(COUNT(*) AS CHAR) AS v FROM information_schema.statistics \
                   WHERE table_schema = DATABASE() AND table_name = 'hourly_traffic' AND column_name = 'hour_start'";
    assert_eq!(texts(&mut c, indexed), ["1"]);

    diesel::sql_query("SET lc_time_names = 'de_DE'").execute(&mut c).unwrap();
    assert_eq!(texts(&mut c, "SELECT DAYNAME('2026-11-20') AS v"), ["Freitag"], "the session really is German");
    for view in ["v_unique_visitors_daily", "v_daywise_visitors"] {
        assert_eq!(texts(&mut c, &format!("SELECT weekday_name AS v FROM {view} WHERE day = '2026-11-20'")), ["Friday"], "{view}");
    }
    assert_eq!(texts(&mut c, "SELECT weekday_name AS v FROM v_weekday_visitors"), ["Friday"]);
}

/// The slicing migration (issue 22) on a database with a reported day: the
/// day's rows stay, the new tables and views appear empty for it (the upgrade
/// cannot invent them), the misleading sum of daily uniques leaves the weekday
/// view, and running the day again fills its breakdowns, paths and visitor set.
#[test]
fn the_upgrade_to_slices_keeps_existing_days_and_a_rerun_fills_them() {
    use diesel_migrations::MigrationHarness;
    let dir = tempfile::tempdir().unwrap();
    let target = Target::local(dir.path());
    let events = sample_events();
    target.write_master("fanout-a", &events, 1);
    let db = TestDb::create();
    assert_eq!(run(&["run", "--date", "2026-11-20"], &target.url(), &db.url).status.code(), Some(0));
    let mut c = db.conn();
    while c.revert_last_migration(batch_job::sink::MIGRATIONS).unwrap().to_string() != "20261207000001" {}
    let tables = "SELECT CAST(COUNT(*) AS CHAR) AS v FROM information_schema.tables WHERE table_schema = DATABASE() \
                  AND table_name IN ('daily_dimension_traffic', 'hourly_dimension_traffic', 'daily_top_paths', 'daily_visitors', \
                  'weekly_visitors', 'monthly_visitors', 'v_server_daily', 'v_category_daily', 'v_server_hourly', 'v_category_hourly')";
    assert_eq!(texts(&mut c, tables), ["0"], "the schema before the migration");
    let before = db.rows();
    assert_eq!(before.len(), 1);

    let out = batch_job().args(["--mysql-url", &db.url, "migrate"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(texts(&mut c, tables), ["10"]);
    assert_eq!(db.rows(), before, "the reported day is untouched");
    assert_eq!(db.slices(), Slices::default(), "no slices are invented for a day reported before");
    let sum_column = "SELECT CAST(COUNT(*) AS CHAR) AS v FROM information_schema.columns \
                      WHERE table_schema = DATABASE() AND table_name = 'v_weekday_visitors' AND column_name = 'sum_unique_visitors'";
    assert_eq!(texts(&mut c, sum_column), ["0"]);

    assert_eq!(run(&["run", "--date", "2026-11-20"], &target.url(), &db.url).status.code(), Some(0));
    let reported: Vec<ClickEventOwned> = events.iter().filter(|e| partition(e).0 == d("2026-11-20")).cloned().collect();
    assert!(reported.len() < events.len(), "the sample logs reach into the 21st");
    assert!(db.slices() == expected_slices(&reported, 100), "the rerun's slices differ from the independent count");
    assert_eq!(db.rows(), before);
    assert_eq!(texts(&mut c, "SELECT server AS v FROM v_server_daily ORDER BY server"), ["web1", "web2"]);
}
