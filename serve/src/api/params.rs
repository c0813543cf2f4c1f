//! Query parameters, checked one by one so that every mistake is a 400
//! naming the parameter (axum's own `Query` rejection names none). Unknown
//! and repeated parameters are refused too: `?form=2026-11-20` silently
//! ignored would answer a different question than the one asked.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::NaiveDate;

use super::error::ApiError;

/// The parameters of one request.
#[derive(Debug, Default)]
pub struct Params {
    values: BTreeMap<String, String>,
}

impl Params {
    /// Parses a raw query string, accepting only `known` names, each once.
    pub fn parse(raw: Option<&str>, known: &[&str]) -> Result<Params, ApiError> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw.unwrap_or("")).map_err(|e| ApiError {
            status: axum::http::StatusCode::BAD_REQUEST,
            code: "bad_parameter",
            parameter: None,
            message: format!("the query string is not valid URL encoding: {e}"),
        })?;
        let mut values = BTreeMap::new();
        for (k, v) in pairs {
            if !known.contains(&k.as_str()) {
                return Err(ApiError::unknown(&k, known));
            }
            if values.insert(k.clone(), v).is_some() {
                return Err(ApiError::bad(&k, format!("`{k}` is given more than once")));
            }
        }
        Ok(Params { values })
    }

    /// The raw value, if given (an empty value counts as given).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// A `YYYY-MM-DD` date.
    pub fn date(&self, name: &str) -> Result<Option<NaiveDate>, ApiError> {
        self.get(name)
            .map(|v| {
                NaiveDate::parse_from_str(v, "%Y-%m-%d")
                    .ok()
                    .filter(|_| v.len() == 10)
                    .ok_or_else(|| ApiError::bad(name, format!("`{v}` is not a date: expected YYYY-MM-DD")))
            })
            .transpose()
    }

    /// An integer in `min..=max`, `default` when absent.
    pub fn int(&self, name: &str, default: u32, min: u32, max: u32) -> Result<u32, ApiError> {
        let Some(v) = self.get(name) else {
            return Ok(default);
        };
        match v.parse::<u32>() {
            Ok(n) if (min..=max).contains(&n) => Ok(n),
            _ => Err(ApiError::bad(name, format!("`{v}`: expected a whole number from {min} to {max}"))),
        }
    }

    /// One of `allowed`, `default` when absent.
    pub fn one_of<'a>(&'a self, name: &str, allowed: &[&'a str], default: &'a str) -> Result<&'a str, ApiError> {
        match self.get(name) {
            None => Ok(default),
            Some(v) if allowed.contains(&v) => Ok(v),
            Some(v) => Err(ApiError::bad(name, format!("`{v}`: expected one of {}", allowed.join(", ")))),
        }
    }

    /// A duration such as `5m` or `300s`.
    pub fn duration(&self, name: &str) -> Result<Option<Duration>, ApiError> {
        self.get(name)
            .map(|v| humantime::parse_duration(v).map_err(|_| ApiError::bad(name, format!("`{v}` is not a duration such as 5m or 300s"))))
            .transpose()
    }

    /// A non-empty string without control characters (host names, client addresses).
    pub fn word(&self, name: &str) -> Result<Option<&str>, ApiError> {
        match self.get(name) {
            None => Ok(None),
            Some(v) if !v.is_empty() && v.len() <= 255 && !v.chars().any(char::is_control) => Ok(Some(v)),
            Some(_) => Err(ApiError::bad(name, "must be 1 to 255 printable characters")),
        }
    }

    /// Whether `day`, `from` or `to` is given (else [`Params::day_range`]
    /// answers its default, which a caller may then look up only when needed).
    pub fn names_days(&self) -> bool {
        ["day", "from", "to"].iter().any(|n| self.values.contains_key(*n))
    }

    /// The days asked for: `day=D`, or `from=D&to=D` (either alone means
    /// that one day), else `default`; at most `max_days` long.
    pub fn day_range(&self, default: NaiveDate, max_days: u32) -> Result<(NaiveDate, NaiveDate), ApiError> {
        let day = self.date("day")?;
        let from = self.date("from")?;
        let to = self.date("to")?;
        let (from, to) = match (day, from, to) {
            (Some(_), Some(_), _) => return Err(ApiError::bad("day", "give either `day` or `from`/`to`, not both")),
            (Some(_), _, Some(_)) => return Err(ApiError::bad("day", "give either `day` or `from`/`to`, not both")),
            (Some(d), None, None) => (d, d),
            (None, Some(f), Some(t)) => (f, t),
            (None, Some(f), None) => (f, f),
            (None, None, Some(t)) => (t, t),
            (None, None, None) => (default, default),
        };
        if to < from {
            return Err(ApiError::bad("to", format!("`to` ({to}) is before `from` ({from})")));
        }
        let len = (to - from).num_days() + 1;
        if len > i64::from(max_days) {
            return Err(ApiError::bad("to", format!("the range {from}..{to} is {len} days; at most {max_days} (api.max_range_days)")));
        }
        Ok((from, to))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(q: &str) -> Params {
        Params::parse(Some(q), &["from", "to", "day", "limit", "kind", "window"]).unwrap()
    }

    #[test]
    fn every_mistake_names_its_parameter() {
        let d = NaiveDate::from_ymd_opt(2026, 11, 20).unwrap();
        let e = Params::parse(Some("frm=2026-11-20"), &["from"]).unwrap_err();
        assert_eq!((e.code, e.parameter.as_deref()), ("unknown_parameter", Some("frm")));
        let e = Params::parse(Some("from=a&from=b"), &["from"]).unwrap_err();
        assert_eq!(e.parameter.as_deref(), Some("from"));
        let e = parse("from=2026-13-01").day_range(d, 31).unwrap_err();
        assert_eq!(e.parameter.as_deref(), Some("from"));
        assert!(e.message.contains("2026-13-01"), "{}", e.message);
        let e = parse("from=2026-11-20&to=2026-11-19").day_range(d, 31).unwrap_err();
        assert_eq!(e.parameter.as_deref(), Some("to"));
        let e = parse("from=2026-01-01&to=2026-11-19").day_range(d, 31).unwrap_err();
        assert!(e.message.contains("at most 31"), "{}", e.message);
        let e = parse("day=2026-11-20&from=2026-11-20").day_range(d, 31).unwrap_err();
        assert_eq!(e.parameter.as_deref(), Some("day"));
        let e = parse("limit=0").int("limit", 10, 1, 100).unwrap_err();
        assert_eq!(e.parameter.as_deref(), Some("limit"));
        let e = parse("kind=dos").one_of("kind", &["ddos", "health"], "all").unwrap_err();
        assert!(e.message.contains("ddos, health"), "{}", e.message);
        let e = parse("window=5 minutes please").duration("window").unwrap_err();
        assert_eq!(e.parameter.as_deref(), Some("window"));
    }

    #[test]
    fn ranges_default_sensibly() {
        let d = NaiveDate::from_ymd_opt(2026, 11, 20).unwrap();
        assert_eq!(parse("").day_range(d, 31).unwrap(), (d, d));
        assert_eq!(parse("from=2026-11-18").day_range(d, 31).unwrap().1.to_string(), "2026-11-18");
        let (f, t) = parse("from=2026-11-18&to=2026-11-20").day_range(d, 3).unwrap();
        assert_eq!((f.to_string(), t), ("2026-11-18".to_string(), d));
        assert!(parse("from=2026-11-18&to=2026-11-21").day_range(d, 3).is_err());
    }
}
