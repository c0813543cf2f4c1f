//! Health that tells the truth (issue 20, point 2): each long-running
//! binary's `/health` turns 503, naming the reason, when the service under
//! it stops, and back to 200 when it returns. The services are real
//! processes stopped for real: a CQL endpoint of this test's own (killed
//! with SIGKILL and restarted on its port), the fan-out agent under a spool
//! agent, and a spool directory moved away.
//! The fan-out agent's own sinks are covered with a stopped broker and
//! NameNode in `agents/fanout-agent/tests/kafka_outage.rs`.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use clickstream_e2e::oracle;
use clickstream_e2e::pipeline::{binary, Pipeline};
use clickstream_testkit::{free_port, repo, wait_until, Service};

/// A CQL endpoint this test may stop: the project's stand-in as its own
/// process, its data in a snapshot file so a restart keeps the keyspace.
struct CqlEndpoint {
    child: Child,
    addr: String,
    snapshot: std::path::PathBuf,
}

impl CqlEndpoint {
    fn start(addr: String, snapshot: std::path::PathBuf) -> CqlEndpoint {
        let child = Command::new(binary("cql-standin"))
            .args(["--listen", &addr, "--snapshot-interval", "1", "--snapshot"])
            .arg(&snapshot)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting cql-standin");
        wait_until(Duration::from_secs(30), "the CQL endpoint listening", || std::net::TcpStream::connect(&addr).is_ok());
        CqlEndpoint { child, addr, snapshot }
    }

    fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    fn restart(&mut self) {
        *self = CqlEndpoint::start(self.addr.clone(), self.snapshot.clone());
    }
}

impl Drop for CqlEndpoint {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `(status code, body)` of `/health`.
fn health(s: &Service) -> (u16, String) {
    let r = s.health().unwrap_or_default();
    let code = r.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (code, r.split("\r\n\r\n").nth(1).unwrap_or_default().to_string())
}

fn wait_health(s: &Service, name: &str, code: u16, needles: &[&str]) {
    wait_until(Duration::from_secs(60), &format!("{name} /health {code} naming {needles:?}"), || {
        let (c, body) = health(s);
        c == code && needles.iter().all(|n| body.contains(n))
    });
}

#[test]
fn each_component_says_unhealthy_with_the_reason_when_its_service_stops() {
    let mut p = Pipeline::new("health");
    let mut cql = CqlEndpoint::start(format!("127.0.0.1:{}", free_port()), p.path("cql-snapshot.json"));
    p.cql = cql.addr.clone();
    let fanout = p.fanout_agent();
    let mut speed = p.speed_job();
    let spool = p.spool_agent("weblog1");
    let serve = p.serve();

    let log = repo().join("sample-logs/weblog1.txt");
    let (hits, _) = oracle::read_log("weblog1", &log);
    p.drop_file("weblog1", "weblog1.txt", &std::fs::read(&log).unwrap());
    wait_until(Duration::from_secs(120), "the sample read by the speed job", || {
        speed.metric("speed_job_events_consumed_total", "") == hits.len() as f64
    });
    for (s, name) in [(&fanout, "fanout"), (&speed, "speed-job"), (&spool, "spool agent"), (&serve, "serve")] {
        wait_health(s, name, 200, &["\"status\":\"ok\""]);
    }
    let (_, body) = health(&spool);
    assert!(body.contains("up: answered"), "{body}");

    // The store under the speed job and serve goes away: both say so.
    cql.kill();
    wait_health(&speed, "speed-job", 503, &["\"cassandra\":\"failing for"]);
    wait_health(&serve, "serve", 503, &["cassandra"]);
    cql.restart();
    wait_health(&speed, "speed-job", 200, &["\"cassandra\":\"ok: answered"]);
    wait_health(&serve, "serve", 200, &[]);

    // The fan-out agent under an idle spool agent stops: the idle probe
    // notices (no file needs to arrive first).
    let fanout_port = p.fanout_port;
    assert_eq!(fanout.terminate(), Some(0));
    wait_health(&spool, "spool agent", 503, &[&format!("receiver 127.0.0.1:{fanout_port}\":\"unreachable for")]);
    assert_eq!(spool.metric("spool_agent_receiver_up", ""), 0.0);
    let _fanout = p.fanout_agent();
    wait_health(&spool, "spool agent", 200, &["up: answered"]);

    // The spool directory disappears (an unmounted share): unhealthy, named.
    let spool_dir = p.spool("weblog1");
    let moved = p.path("spool-moved-away");
    std::fs::rename(&spool_dir, &moved).unwrap();
    wait_health(&spool, "spool agent", 503, &["missing", "create or mount it"]);
    std::fs::rename(&moved, &spool_dir).unwrap();
    wait_health(&spool, "spool agent", 200, &["\"present\""]);
    assert!(speed.child.try_wait().unwrap().is_none(), "the speed job rode out the CQL outage");
}
