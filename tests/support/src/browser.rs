//! The dashboard in a real browser: headless Chromium (Debian `chromium`)
//! driven over WebDriver by `chromedriver` through `fantoccini`. Shared by
//! serve's own browser tests (rows written by the test) and the end-to-end
//! dashboard test (log lines through every real binary), so both read the
//! page the same way: [`READ_DASHBOARD`] is the one description of what the
//! page shows, taken from its DOM (`serve/src/dashboard/app.js` sets the
//! `data-*` attributes it reads).

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder};
use serde_json::{json, Value};

/// Debian's Chromium.
pub const CHROMIUM: &str = "/usr/bin/chromium";
/// Debian's `chromium-driver`.
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// What the dashboard shows, read from its DOM: connection state, hourly
/// bars `[start, source, requests, visitors]` (visitors `""` when unknown),
/// alerts `[key, highlighted]`, top categories, servers, a marker that a
/// reload would wipe (`window.__loadedOnce`, set by [`mark_loaded`]), and
/// the keys of every alert that flashed as new since [`record_flashes`]
/// (sorted; `null` before it).
pub const READ_DASHBOARD: &str = r##"
const q = (s) => Array.from(document.querySelectorAll(s));
return {
  flashed: window.__flashed ? Array.from(window.__flashed).sort() : null,
  connection: document.getElementById("connection").dataset.state,
  bars: q("#traffic-chart rect.bar").map(r => [r.dataset.start, r.dataset.source, Number(r.dataset.requests), r.dataset.visitors === "" ? "" : Number(r.dataset.visitors)]),
  alerts: q("#alerts li").map(li => [li.dataset.key, li.classList.contains("new")]),
  top: q("#top-categories li").map(li => [li.dataset.category, Number(li.dataset.requests)]),
  servers: q("#servers tbody tr").map(tr => [tr.dataset.host, tr.dataset.state, Number(tr.dataset.requests)]),
  marker: window.__loadedOnce || null,
};
"##;

/// chromedriver on a free port, killed on drop.
pub struct Driver {
    child: Child,
    port: u16,
    profile: tempfile::TempDir,
}

impl Driver {
    /// Starts chromedriver and waits until it listens. Panics naming the
    /// package to install when Chromium or the driver is missing.
    pub fn start() -> Driver {
        for bin in [CHROMIUM, CHROMEDRIVER] {
            assert!(Path::new(bin).exists(), "{bin} missing: `scripts/stack deps` installs chromium and chromium-driver");
        }
        let port = crate::free_port();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting chromedriver");
        crate::wait_until(Duration::from_secs(20), "chromedriver", || TcpStream::connect(("127.0.0.1", port)).is_ok());
        Driver { child, port, profile: tempfile::tempdir().expect("temp dir") }
    }

    /// A new headless Chromium session (fixed window size, so screenshots compare).
    pub async fn browser(&self) -> Client {
        let profile = self.profile.path().display().to_string();
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": CHROMIUM,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--disable-dev-shm-usage", "--window-size=1280,1100", format!("--user-data-dir={profile}"),
                ]
            }),
        );
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{}", self.port))
            .await
            .expect("a WebDriver session with headless Chromium")
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The page as [`READ_DASHBOARD`] sees it.
pub async fn read_dashboard(c: &Client) -> Value {
    c.execute(READ_DASHBOARD, vec![]).await.expect("reading the page")
}

/// The requests of every hourly bar the page shows, added up.
pub fn shown_requests(page: &Value) -> i64 {
    page["bars"].as_array().expect("bars").iter().map(|b| b[2].as_i64().expect("a bar's requests")).sum()
}

/// The keys of the alerts the page lists, in its order (newest first).
pub fn alert_keys(page: &Value) -> Vec<String> {
    page["alerts"].as_array().expect("alerts").iter().map(|a| a[0].as_str().expect("an alert's key").to_string()).collect()
}

/// Polls the page every 100 ms until `ok`; panics with what it shows after `timeout`.
pub async fn wait_for(c: &Client, what: &str, timeout: Duration, ok: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + timeout;
    loop {
        let page = read_dashboard(c).await;
        if ok(&page) {
            return page;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}; the page shows {page:#}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Sets the marker a reload would wipe (`marker` in [`READ_DASHBOARD`]).
pub async fn mark_loaded(c: &Client) {
    c.execute("window.__loadedOnce = 'yes'; return null;", vec![]).await.expect("setting the marker");
}

/// From now on, remembers the key of every alert the page adds as new
/// (`flashed` in [`READ_DASHBOARD`]). Why: the page flashes an alert only in
/// the update that brings it (the next update re-renders it plain), so two
/// alerts that arrive in consecutive updates are never both highlighted in
/// one snapshot; what the page did is only seen as it happens.
pub async fn record_flashes(c: &Client) {
    const INSTALL: &str = r##"
window.__flashed = new Set();
new MutationObserver((changes) => {
  for (const change of changes)
    for (const node of change.addedNodes)
      if (node.classList && node.classList.contains("new")) window.__flashed.add(node.dataset.key);
}).observe(document.getElementById("alerts"), { childList: true });
return null;
"##;
    c.execute(INSTALL, vec![]).await.expect("installing the flash recorder");
}

/// `<target dir>/test-artifacts`, created: where screenshots are kept.
/// `target_tmpdir` is the calling test's `env!("CARGO_TARGET_TMPDIR")`
/// (`<target dir>/tmp`; only integration tests get it from Cargo).
pub fn artifacts_dir(target_tmpdir: &str) -> PathBuf {
    let dir = Path::new(target_tmpdir).parent().expect("<target dir>/tmp").join("test-artifacts");
    std::fs::create_dir_all(&dir).expect("creating the artifacts directory");
    dir
}

/// Takes a screenshot into the artifacts directory as `name`; returns its
/// path. Asserts it is not blank (a real page is well over 10 kB of PNG).
pub async fn screenshot(c: &Client, target_tmpdir: &str, name: &str) -> PathBuf {
    let png = c.screenshot().await.expect("screenshot");
    let path = artifacts_dir(target_tmpdir).join(name);
    std::fs::write(&path, &png).expect("writing the screenshot");
    eprintln!("screenshot: {}", path.display());
    assert!(png.len() > 10_000, "screenshot of {} bytes", png.len());
    path
}
