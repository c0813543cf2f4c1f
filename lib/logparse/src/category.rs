//! Which site category a request belongs to, for the popularity views.
//!
//! The default rule suits shops whose URLs carry the category
//! (`/category/books/...`) and sites whose first path segment is the section
//! (`/blog/...`). Sites with other URL schemes configure a regex whose named
//! group `category` captures it.

use std::borrow::Cow;

use regex::Regex;
use serde::Deserialize;

/// How to derive the category from the request path.
#[derive(Debug, Clone)]
pub enum CategoryRule {
    /// The segment after `/{marker}/` when present, else the first non-empty
    /// path segment, else `default`.
    Segment {
        /// Marker segment, e.g. `category`.
        marker: String,
        /// Name for `/`, and for paths whose first segment is empty.
        default: String,
    },
    /// The named group `category` of the regex, matched against the path;
    /// `default` when it does not match.
    Regex {
        /// Regex with a named group `category`.
        regex: Regex,
        /// Name when the regex does not match.
        default: String,
    },
}

impl Default for CategoryRule {
    fn default() -> Self {
        CategoryRule::Segment { marker: "category".into(), default: "uncategorized".into() }
    }
}

/// The `[parser.category]` configuration table.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct CategoryConfig {
    /// Marker segment for the default rule (default `category`).
    pub marker: Option<String>,
    /// Regex with a named group `category`; replaces the default rule.
    pub regex: Option<String>,
    /// Category when none can be derived (default `uncategorized`).
    pub default: Option<String>,
}

impl CategoryConfig {
    /// Validates and builds the rule.
    pub fn build(&self) -> Result<CategoryRule, String> {
        let default = self.default.clone().unwrap_or_else(|| "uncategorized".into());
        if default.is_empty() {
            return Err("parser.category.default must not be empty".into());
        }
        match (&self.regex, &self.marker) {
            (Some(_), Some(_)) => Err("parser.category: set either `regex` or `marker`, not both".into()),
            (Some(re), None) => {
                let regex = Regex::new(re).map_err(|e| format!("parser.category.regex: {e}"))?;
                if !regex.capture_names().any(|n| n == Some("category")) {
                    return Err("parser.category.regex needs a named group (?P<category>...)".into());
                }
                Ok(CategoryRule::Regex { regex, default })
            }
            (None, marker) => {
                let marker = marker.clone().unwrap_or_else(|| "category".into());
                if marker.is_empty() || marker.contains('/') {
                    return Err(format!("parser.category.marker {marker:?} must be one non-empty path segment"));
                }
                Ok(CategoryRule::Segment { marker, default })
            }
        }
    }
}

fn lower(s: &str) -> Cow<'_, str> {
    if s.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(s.to_ascii_lowercase())
    } else {
        Cow::Borrowed(s)
    }
}

impl CategoryRule {
    /// The category of `path` (lower-cased: `/Books` and `/books` are one category).
    pub fn categorize<'a>(&'a self, path: &'a str) -> Cow<'a, str> {
        match self {
            CategoryRule::Segment { marker, default } => {
                // Absolute-form targets (proxy requests) carry scheme and host.
                let path = match path.strip_prefix("http://").or_else(|| path.strip_prefix("https://")) {
                    Some(rest) => rest.find('/').map_or("/", |i| &rest[i..]),
                    None => path,
                };
                // Servers merge repeated slashes, so `//a` is in section `a`.
                let first = path.split('/').find(|s| !s.is_empty()).unwrap_or("");
                let mut rest = path.split('/').skip(1);
                while let Some(seg) = rest.next() {
                    if seg == marker {
                        match rest.next() {
                            Some(c) if !c.is_empty() => return lower(c),
                            _ => break,
                        }
                    }
                }
                if first.is_empty() || !path.starts_with('/') {
                    Cow::Borrowed(default)
                } else {
                    lower(first)
                }
            }
            CategoryRule::Regex { regex, default } => regex
                .captures(path)
                .and_then(|c| c.name("category"))
                .filter(|m| !m.as_str().is_empty())
                .map_or(Cow::Borrowed(default.as_str()), |m| lower(m.as_str()).into_owned().into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_rule() {
        let r = CategoryRule::default();
        assert_eq!(r.categorize("/category/books/123"), "books");
        assert_eq!(r.categorize("/shop/category/Toys"), "toys");
        assert_eq!(r.categorize("/category/"), "category");
        assert_eq!(r.categorize("/blog/2015/x.html"), "blog");
        assert_eq!(r.categorize("/favicon.ico"), "favicon.ico");
        assert_eq!(r.categorize("/"), "uncategorized");
        assert_eq!(r.categorize("//x"), "x");
        assert_eq!(r.categorize("*"), "uncategorized");
        assert_eq!(r.categorize("-"), "uncategorized");
        assert_eq!(r.categorize("http://example.com/category/books"), "books");
        assert_eq!(r.categorize("http://example.com"), "uncategorized");
    }

    #[test]
    fn config_validation_names_the_key() {
        let bad = CategoryConfig { regex: Some("(".into()), ..Default::default() };
        assert!(bad.build().unwrap_err().starts_with("parser.category.regex"));
        let no_group = CategoryConfig { regex: Some("^/x".into()), ..Default::default() };
        assert!(no_group.build().unwrap_err().contains("(?P<category>"));
        let rule = CategoryConfig { regex: Some("^/shop/(?P<category>[^/]+)".into()), ..Default::default() }.build().unwrap();
        assert_eq!(rule.categorize("/shop/Garden/x"), "garden");
        assert_eq!(rule.categorize("/other"), "uncategorized");
    }
}
