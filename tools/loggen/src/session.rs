//! How visitors browse: sessions, click paths, statuses and response sizes.
//!
//! A browser session follows a small click-path model (home -> category ->
//! product -> cart -> checkout, with searches and back-tracking), loads static
//! assets in the same second as the page, and sends the previous page as
//! referrer. Crawlers, tools, monitors and scanners behave like themselves.
//! All of it is table driven, with integer weights, so it is easy to tune and
//! exactly reproducible.

use crate::agents::{AgentKind, AGENTS, DDOS_AGENTS};
use crate::catalog::{ADMIN_PAGES, CATEGORIES, PAGE_ASSETS, PROBE_PATHS, PRODUCT_BASE, PRODUCT_SPAN, QUOTED_PROBES, SEARCH_TERMS, SORTS};
use crate::population::Visitor;
use crate::record::{Client, Method, Proto, Record, Referrer, Req};
use crate::rng::{Cumulative, Rng};
use crate::time::UnixSeconds;

/// What kind of page a request is for (decides path, method, size, status).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PageKind {
    Home,
    Category,
    Product,
    Search,
    Cart,
    CartAdd,
    Checkout,
    CheckoutPost,
    Login,
    LoginPost,
    Account,
    Admin,
    Robots,
    Sitemap,
    Probe,
    QuotedProbe,
    Asset,
}

use PageKind::*;

/// Outside pages that send visitors to the shop.
const ENTRY_REFERRERS: &[(&str, u32)] = &[
    ("", 40),
    ("https://www.google.com/", 30),
    ("https://www.bing.com/", 8),
    ("https://duckduckgo.com/", 5),
    ("https://l.facebook.com/", 7),
    ("https://l.instagram.com/", 4),
    ("https://www.pinterest.com/", 2),
];

/// A visitor's ongoing session.
#[derive(Clone, Debug)]
pub(crate) struct Session {
    pub(crate) visitor: u32,
    kind: AgentKind,
    staff: bool,
    pages_left: u16,
    pub(crate) last_ts: UnixSeconds,
    last: Option<PageKind>,
    last_target: Option<String>,
    category: u16,
    product: u32,
    assets_loaded: bool,
    proto: Proto,
}

impl Session {
    /// `true` once the planned number of pages has been requested.
    pub(crate) fn finished(&self) -> bool {
        self.pages_left == 0
    }
}

/// Status and size decisions for the page that is being built.
pub(crate) struct Context {
    /// Answer 200 whatever happens (inside an error storm's quiet zone, or for
    /// late lines), so injected failure counts stay exact.
    pub(crate) quiet: bool,
    /// Chance of a non-200 answer.
    pub(crate) non_200: f64,
    /// Most asset requests that may follow the page in the same second.
    pub(crate) asset_budget: u32,
}

/// The behaviour model.
#[derive(Debug)]
pub(crate) struct Shop {
    categories: Cumulative,
    referrers: Cumulative,
    session_lengths: Cumulative,
}

/// Browser session lengths in pages (index + 1), by weight.
const BROWSER_PAGES: [u64; 20] = [20, 15, 14, 12, 10, 8, 6, 5, 4, 3, 3, 2, 2, 2, 1, 1, 1, 1, 1, 1];

impl Shop {
    pub(crate) fn new() -> Self {
        Shop {
            categories: Cumulative::zipf(CATEGORIES.len()),
            referrers: Cumulative::new(ENTRY_REFERRERS.iter().map(|r| r.1 as u64)),
            session_lengths: Cumulative::new(BROWSER_PAGES),
        }
    }

    /// A category, Zipf-distributed by popularity rank.
    pub(crate) fn category(&self, rng: &mut Rng) -> u16 {
        self.categories.sample(rng) as u16
    }

    /// A product of category `cat`; low ids within a category are the
    /// best-sellers (cheap skew: the smaller of two uniform draws).
    pub(crate) fn product(&self, cat: u16, rng: &mut Rng) -> u32 {
        let a = rng.below(PRODUCT_SPAN as u64) as u32;
        let b = rng.below(PRODUCT_SPAN as u64) as u32;
        PRODUCT_BASE + cat as u32 * PRODUCT_SPAN + a.min(b)
    }

    /// Start a session for `visitor` (number `index`) at time `ts`.
    pub(crate) fn start(&self, index: u32, visitor: &Visitor, ts: UnixSeconds, rng: &mut Rng) -> Session {
        let kind = visitor.kind();
        let pages = match kind {
            AgentKind::Browser => self.session_lengths.sample(rng) as u64 + 1,
            AgentKind::Crawler => rng.range(5, 60),
            AgentKind::Tool => rng.range(1, 6),
            AgentKind::Monitor => rng.range(1, 2),
            AgentKind::Scanner => rng.range(3, 12),
        };
        let proto = match kind {
            AgentKind::Browser if rng.ratio(2, 5) => Proto::Http2,
            AgentKind::Scanner | AgentKind::Tool if rng.ratio(1, 8) => Proto::Http10,
            _ => Proto::Http11,
        };
        let category = self.category(rng);
        Session {
            visitor: index,
            kind,
            staff: visitor.user.is_some(),
            pages_left: pages as u16,
            last_ts: ts,
            last: None,
            last_target: None,
            category,
            product: self.product(category, rng),
            assets_loaded: false,
            proto,
        }
    }

    fn next_kind(&self, s: &Session, rng: &mut Rng) -> PageKind {
        let table: &[(PageKind, u32)] = match s.kind {
            AgentKind::Browser if s.staff && rng.ratio(3, 5) => &[(Admin, 1)],
            AgentKind::Browser => match s.last {
                None => &[(Home, 35), (Category, 30), (Product, 25), (Search, 10)],
                Some(Home) => &[(Category, 50), (Search, 20), (Product, 20), (Cart, 5), (Login, 5)],
                Some(Category) => &[(Product, 55), (Category, 30), (Search, 10), (Home, 5)],
                Some(Product) => &[(Product, 30), (CartAdd, 15), (Category, 25), (Search, 10), (Home, 5), (Cart, 15)],
                Some(Search) => &[(Product, 55), (Search, 20), (Category, 20), (Home, 5)],
                Some(Cart) => &[(Checkout, 45), (Product, 30), (Category, 15), (Home, 10)],
                Some(CartAdd) => &[(Cart, 50), (Product, 30), (Category, 20)],
                Some(Checkout) => &[(CheckoutPost, 60), (Cart, 30), (Home, 10)],
                Some(CheckoutPost) => &[(Home, 50), (Account, 30), (Category, 20)],
                Some(Login) => &[(LoginPost, 90), (Home, 10)],
                Some(LoginPost) => &[(Account, 60), (Home, 40)],
                Some(_) => &[(Home, 40), (Category, 40), (Cart, 20)],
            },
            AgentKind::Crawler => match s.last {
                None => &[(Robots, 60), (Home, 20), (Category, 20)],
                _ => &[(Category, 40), (Product, 45), (Sitemap, 5), (Home, 10)],
            },
            AgentKind::Tool => &[(Product, 50), (Category, 20), (Home, 20), (Search, 10)],
            AgentKind::Monitor => &[(Home, 1)],
            AgentKind::Scanner => &[(Probe, 70), (QuotedProbe, 10), (Home, 20)],
        };
        rng.choose(table)
    }

    /// The next page view of session `s` at `ts`, followed (for browsers) by
    /// the asset requests it triggers, appended to `assets`.
    pub(crate) fn next_page(
        &self,
        s: &mut Session,
        visitor: &Visitor,
        ts: UnixSeconds,
        ctx: &Context,
        rng: &mut Rng,
        assets: &mut Vec<Record>,
    ) -> Record {
        let mut kind = self.next_kind(s, rng);
        if ctx.quiet && kind == Probe {
            kind = Home; // a probe would answer 404
        }
        // Browsing moves between categories now and then.
        if matches!(kind, Category | Search) && rng.ratio(1, 4) || s.last.is_none() {
            s.category = self.category(rng);
        }
        if matches!(kind, Product | CartAdd) {
            s.product = self.product(s.category, rng);
        }
        let cat = &CATEGORIES[s.category as usize];
        let mut method = Method::Get;
        let target = match kind {
            Home if rng.ratio(1, 30) => "/?utm_source=newsletter&utm_medium=email".to_string(),
            Home => "/".to_string(),
            Category => match rng.below(10) {
                0..=3 => format!("/category/{}", cat.name),
                4..=5 => format!("/category/{}/{}", cat.name, rng.pick(cat.subs)),
                6..=7 => format!("/category/{}?page={}", cat.name, rng.range(2, 6)),
                8 => format!("/category/{}?sort={}", cat.name, rng.pick(SORTS)),
                _ => format!("/category/{}/{}?page={}", cat.name, rng.pick(cat.subs), rng.range(2, 4)),
            },
            Product if rng.ratio(1, 20) => format!("/product/{}?ref=recommended", s.product),
            Product => format!("/product/{}", s.product),
            Search if rng.ratio(1, 6) => format!("/search?q={}&page=2", rng.pick(SEARCH_TERMS)),
            Search => format!("/search?q={}", rng.pick(SEARCH_TERMS)),
            Cart => "/cart".to_string(),
            CartAdd => {
                method = Method::Post;
                "/cart/add".to_string()
            }
            Checkout => "/checkout".to_string(),
            CheckoutPost => {
                method = Method::Post;
                "/checkout".to_string()
            }
            Login => "/login".to_string(),
            LoginPost => {
                method = Method::Post;
                "/login".to_string()
            }
            Account if rng.ratio(1, 2) => "/account/orders".to_string(),
            Account => "/account".to_string(),
            Admin => rng.pick(ADMIN_PAGES).to_string(),
            Robots => "/robots.txt".to_string(),
            Sitemap => "/sitemap.xml".to_string(),
            Probe => rng.pick(PROBE_PATHS).to_string(),
            QuotedProbe => rng.pick(QUOTED_PROBES).to_string(),
            Asset => unreachable!("assets are not page views"),
        };
        let head = s.kind == AgentKind::Monitor
            || (s.kind == AgentKind::Crawler && rng.ratio(1, 20))
            || (s.kind == AgentKind::Tool && method == Method::Get && rng.ratio(1, 6));
        if head {
            method = Method::Head;
        }
        let (status, bytes) = self.answer(kind, method, ctx, rng);
        let target = if status == 301 && kind == Category && !target.contains('?') {
            format!("{target}/") // Apache's trailing-slash redirect
        } else {
            target
        };
        let referrer = match (s.kind, &s.last_target) {
            (AgentKind::Browser, None) => match ENTRY_REFERRERS[self.referrers.sample(rng)].0 {
                "" => Referrer::None,
                url => Referrer::External(url),
            },
            (AgentKind::Browser, Some(prev)) if rng.ratio(9, 10) => Referrer::Shop(prev.clone()),
            _ => Referrer::None,
        };
        let ua = AGENTS[visitor.agent as usize].ua;
        let user = if kind == Admin { visitor.user } else { None };
        if s.kind == AgentKind::Browser && method == Method::Get && status == 200 {
            self.assets_for(s, kind, &target, ts, visitor, ctx, rng, assets);
        }
        s.pages_left = s.pages_left.saturating_sub(1);
        s.last = Some(kind);
        s.last_ts = ts;
        let req = Req { method, target, proto: s.proto };
        if s.kind == AgentKind::Browser {
            s.last_target = Some(req.target.clone());
        }
        Record { ts, client: Client::Visitor(s.visitor), user, req: Some(req), status, bytes, referrer, ua }
    }

    #[allow(clippy::too_many_arguments)]
    fn assets_for(
        &self,
        s: &mut Session,
        kind: PageKind,
        page: &str,
        ts: UnixSeconds,
        visitor: &Visitor,
        ctx: &Context,
        rng: &mut Rng,
        out: &mut Vec<Record>,
    ) {
        let mut budget = ctx.asset_budget;
        let mut push = |target: String, size: u32, rng: &mut Rng| {
            if budget == 0 {
                return;
            }
            budget -= 1;
            let (status, bytes) = self.answer(Asset, Method::Get, ctx, rng);
            out.push(Record {
                ts,
                client: Client::Visitor(s.visitor),
                user: None,
                req: Some(Req { method: Method::Get, target, proto: s.proto }),
                status,
                bytes: if status == 200 { Some(size) } else { bytes },
                referrer: Referrer::Shop(page.to_string()),
                ua: AGENTS[visitor.agent as usize].ua,
            });
        };
        if !s.assets_loaded {
            s.assets_loaded = true;
            for &(path, size) in PAGE_ASSETS {
                if rng.ratio(3, 5) {
                    push(path.to_string(), size, rng);
                }
            }
        }
        match kind {
            Product => {
                let n = if rng.ratio(1, 3) { 2 } else { 1 };
                for i in 0..n {
                    let suffix = if i == 0 { String::new() } else { format!("_{}", i + 1) };
                    let size = rng.range(30_000, 180_000) as u32;
                    push(format!("/static/img/products/{}{suffix}.jpg", s.product), size, rng);
                }
            }
            Category => {
                for _ in 0..rng.range(0, 3) {
                    let id = self.product(s.category, rng);
                    let size = rng.range(4_000, 12_000) as u32;
                    push(format!("/static/img/products/{id}_thumb.jpg"), size, rng);
                }
            }
            _ => {}
        }
    }

    /// Status and body size of a response.
    fn answer(&self, kind: PageKind, method: Method, ctx: &Context, rng: &mut Rng) -> (u16, Option<u32>) {
        let status = if kind == Probe {
            404
        } else if ctx.quiet || !rng.chance(ctx.non_200) {
            200
        } else {
            let table: &[(u16, u32)] = match kind {
                Asset => &[(304, 75), (404, 25)],
                Product => &[(404, 40), (301, 20), (304, 15), (500, 15), (503, 10)],
                Category => &[(301, 35), (404, 25), (304, 20), (500, 10), (503, 10)],
                Home => &[(304, 60), (503, 20), (500, 20)],
                Robots | Sitemap => &[(304, 1)],
                Search | CartAdd | CheckoutPost | LoginPost => &[(500, 50), (503, 50)],
                Admin => &[(304, 50), (500, 30), (404, 20)],
                _ => &[(301, 30), (500, 40), (503, 30)],
            };
            rng.choose(table)
        };
        let size = |rng: &mut Rng, lo: u64, hi: u64| Some(rng.range(lo, hi) as u32);
        let bytes = match (status, kind) {
            _ if method == Method::Head => None,
            (304, _) => None,
            (301, _) => size(rng, 228, 252),
            (404, Probe) => size(rng, 196, 214),
            (404, _) => size(rng, 7_300, 7_520),
            (500, _) => size(rng, 527, 540),
            (503, _) if rng.ratio(1, 2) => None,
            (503, _) => Some(299),
            (_, Home) => size(rng, 28_000, 42_000),
            (_, Category) => size(rng, 18_000, 32_000),
            (_, Product) => size(rng, 14_000, 26_000),
            (_, Search) => size(rng, 9_000, 24_000),
            (_, Cart) => size(rng, 6_000, 11_000),
            (_, CartAdd) => size(rng, 90, 400),
            (_, Checkout) => size(rng, 12_000, 16_000),
            (_, CheckoutPost) => size(rng, 3_000, 5_000),
            (_, Login) => size(rng, 5_000, 6_000),
            (_, LoginPost) => size(rng, 180, 320),
            (_, Account) => size(rng, 7_000, 10_000),
            (_, Admin) => size(rng, 20_000, 60_000),
            (_, Robots) => Some(312),
            (_, Sitemap) => size(rng, 48_000, 52_000),
            (_, QuotedProbe) => size(rng, 9_000, 12_000),
            (_, Probe) | (_, Asset) => size(rng, 1_000, 200_000),
        };
        (status, bytes)
    }

    /// One page view outside any session (late lines, raw material of invalid
    /// lines): always answered 200.
    pub(crate) fn standalone(&self, index: u32, visitor: &Visitor, ts: UnixSeconds, rng: &mut Rng) -> Record {
        let mut s = self.start(index, visitor, ts, rng);
        if s.kind != AgentKind::Browser {
            s.kind = AgentKind::Browser; // keep it an ordinary page view
        }
        let ctx = Context { quiet: true, non_200: 0.0, asset_budget: 0 };
        self.next_page(&mut s, visitor, ts, &ctx, rng, &mut Vec::new())
    }

    /// One failed request of an error storm (status 500, 502, 503 or 504).
    pub(crate) fn storm(&self, index: u32, visitor: &Visitor, ts: UnixSeconds, rng: &mut Rng) -> Record {
        let cat = self.category(rng);
        let (method, target) = match rng.below(6) {
            0 => (Method::Post, "/checkout".to_string()),
            1 => (Method::Post, "/cart/add".to_string()),
            2 => (Method::Get, "/cart".to_string()),
            3 => (Method::Get, format!("/search?q={}", rng.pick(SEARCH_TERMS))),
            4 => (Method::Get, format!("/category/{}", CATEGORIES[cat as usize].name)),
            _ => (Method::Get, format!("/product/{}", self.product(cat, rng))),
        };
        let status = [500u16, 502, 503, 504][rng.weighted(&[40, 20, 30, 10])];
        let bytes = match status {
            500 => Some(rng.range(527, 540) as u32),
            502 => Some(rng.range(341, 360) as u32),
            503 if rng.ratio(1, 2) => None,
            503 => Some(299),
            _ => Some(rng.range(240, 250) as u32),
        };
        Record {
            ts,
            client: Client::Visitor(index),
            user: None,
            req: Some(Req { method, target, proto: Proto::Http11 }),
            status,
            bytes,
            referrer: Referrer::Shop("/".to_string()),
            ua: AGENTS[visitor.agent as usize].ua,
        }
    }

    /// One request of a DDoS burst from extra address number `attacker`.
    pub(crate) fn ddos(&self, attacker: u32, ts: UnixSeconds, rng: &mut Rng) -> Record {
        let target = match rng.below(10) {
            0..=4 => "/".to_string(),
            5..=6 => format!("/search?q={}", rng.pick(SEARCH_TERMS)),
            7 => "/cart".to_string(),
            _ => format!("/product/{}", self.product(self.category(rng), rng)),
        };
        let bytes = if target == "/" { rng.range(28_000, 42_000) } else { rng.range(6_000, 26_000) };
        Record {
            ts,
            client: Client::Extra(attacker),
            user: None,
            req: Some(Req { method: Method::Get, target, proto: Proto::Http11 }),
            status: 200,
            bytes: Some(bytes as u32),
            referrer: Referrer::None,
            ua: DDOS_AGENTS[attacker as usize % DDOS_AGENTS.len()],
        }
    }

    /// Apache's line for a connection that sent no request before timing out.
    pub(crate) fn request_less(&self, index: u32, ts: UnixSeconds) -> Record {
        Record { ts, client: Client::Visitor(index), user: None, req: None, status: 408, bytes: None, referrer: Referrer::None, ua: "-" }
    }
}
