//! The shop's content: categories, products, search terms, static assets.
//!
//! Fixed tables (not random words) so the logs read like a real shop and so
//! the category rule of the parser has predictable, meaningful answers.
//! Categories are listed by popularity rank: the generator draws them with a
//! Zipf law, so "electronics" leads and top-N results are stable.

/// Shop host used in referrers.
pub const SHOP_ORIGIN: &str = "https://shop.example.com";

/// A product category with its sub-categories.
pub struct Category {
    /// URL segment after `/category/`.
    pub name: &'static str,
    /// Second-level segments (`/category/NAME/SUB`).
    pub subs: &'static [&'static str],
}

/// Categories in popularity order (rank 1 first).
pub const CATEGORIES: &[Category] = &[
    Category { name: "electronics", subs: &["laptops", "phones", "audio", "cameras", "tv"] },
    Category { name: "books", subs: &["fiction", "science", "children", "cooking"] },
    Category { name: "clothing", subs: &["women", "men", "kids", "outlet"] },
    Category { name: "home-garden", subs: &["kitchen", "furniture", "garden", "lighting"] },
    Category { name: "toys", subs: &["lego", "puzzles", "outdoor"] },
    Category { name: "sports", subs: &["running", "cycling", "fitness"] },
    Category { name: "shoes", subs: &["sneakers", "boots"] },
    Category { name: "beauty", subs: &["skincare", "fragrance"] },
    Category { name: "grocery", subs: &["coffee", "snacks", "drinks"] },
    Category { name: "music", subs: &["vinyl", "instruments"] },
    Category { name: "movies", subs: &["bluray", "dvd"] },
    Category { name: "pet-supplies", subs: &["dogs", "cats"] },
    Category { name: "automotive", subs: &["tools", "accessories"] },
    Category { name: "office", subs: &["paper", "desks"] },
    Category { name: "jewelry", subs: &["watches", "rings"] },
    Category { name: "health", subs: &["vitamins", "care"] },
];

/// Products of category rank `c` have ids `PRODUCT_BASE + c * PRODUCT_SPAN + 0..PRODUCT_SPAN`
/// (five or six digits, like `/product/12345`).
pub const PRODUCT_BASE: u32 = 10_000;
/// Number of product ids per category.
pub const PRODUCT_SPAN: u32 = 5_000;

/// Words visitors search for (joined with `+`, percent-encoded where needed).
pub const SEARCH_TERMS: &[&str] = &[
    "laptop",
    "headphones",
    "wireless",
    "usb-c",
    "charger",
    "kindle",
    "novel",
    "lego",
    "running+shoes",
    "coffee",
    "espresso",
    "vinyl",
    "gift",
    "winter+jacket",
    "black+friday",
    "sale",
    "camera",
    "tv+55",
    "caf%C3%A9",
    "k%C3%BCche",
    "yoga+mat",
    "dog+food",
    "desk",
    "watch",
    "perfume",
    "bike",
    "puzzle",
    "harry+potter",
    "ssd+1tb",
    "phone+case",
];

/// Sort orders offered on category pages.
pub const SORTS: &[&str] = &["price_asc", "price_desc", "newest", "rating"];

/// Assets every page loads (fetched on a visitor's first page, then cached).
pub const PAGE_ASSETS: &[(&str, u32)] = &[
    ("/static/css/site.4f9c2e.css", 48_211),
    ("/static/js/app.b71d09.js", 187_904),
    ("/static/js/vendor.09ac3f.js", 243_118),
    ("/static/img/logo.svg", 6_342),
    ("/favicon.ico", 1_150),
];

/// Paths vulnerability scanners probe (answered 404 by the shop).
pub const PROBE_PATHS: &[&str] = &[
    "/wp-login.php",
    "/.env",
    "/wp-admin/setup-config.php",
    "/phpmyadmin/index.php",
    "/.git/config",
    "/admin/config.php",
    "/cgi-bin/luci",
    "/vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php",
];

/// Payloads of scanners that put a raw `"` into the request line, which
/// Apache writes as `\"`.
pub const QUOTED_PROBES: &[&str] = &["/search?q=\"><script>alert(1)</script>", "/search?q=1\"%20OR%20\"1\"=\"1"];

/// Back-office pages visited by staff with HTTP authentication (`%u` set).
pub const ADMIN_PAGES: &[&str] = &["/admin/orders", "/admin/orders?status=open", "/admin/products", "/admin/stock", "/admin/reports/daily"];

/// The category of a request target, by the rule the parser uses: the segment
/// after `/category/` when present, else the first path segment, and
/// `uncategorized` for `/` (the query string is ignored).
///
/// This is the ground-truth side of that rule, for tests that compute
/// expected aggregates without the parser.
///
/// ```
/// use clickstream_loggen::category_of;
/// assert_eq!(category_of("/category/books?page=2"), "books");
/// assert_eq!(category_of("/category/electronics/laptops"), "electronics");
/// assert_eq!(category_of("/product/12345"), "product");
/// assert_eq!(category_of("/search?q=lego"), "search");
/// assert_eq!(category_of("/"), "uncategorized");
/// assert_eq!(category_of("/?utm_source=x"), "uncategorized");
/// ```
pub fn category_of(target: &str) -> &str {
    let path = target.split(['?', '#']).next().unwrap_or("");
    let trimmed = path.trim_start_matches('/');
    let mut segments = trimmed.split('/');
    let first = segments.next().unwrap_or("");
    if first == "category" {
        if let Some(cat) = segments.next().filter(|s| !s.is_empty()) {
            return cat;
        }
    }
    if first.is_empty() {
        "uncategorized"
    } else {
        first
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_generated_kind_of_path_has_the_expected_category() {
        assert_eq!(category_of("/category/home-garden/kitchen?sort=newest"), "home-garden");
        assert_eq!(category_of("/category/"), "category");
        assert_eq!(category_of("/static/css/site.css"), "static");
        assert_eq!(category_of("/favicon.ico"), "favicon.ico");
        assert_eq!(category_of("/cart"), "cart");
        assert_eq!(category_of("/checkout"), "checkout");
    }

    #[test]
    fn product_ids_have_five_or_six_digits() {
        const { assert!(PRODUCT_BASE >= 10_000) };
        assert!(PRODUCT_BASE + CATEGORIES.len() as u32 * PRODUCT_SPAN < 1_000_000);
    }
}
