//! Query-string access that never rejects: a malformed query is read as far as it
//! goes, and handlers answer 400 for the parameters they need.

use std::collections::HashMap;

use axum::http::Uri;

use super::error::ApiError;

pub struct Query(HashMap<String, String>);

impl Query {
    pub fn from_uri(uri: &Uri) -> Self {
        let pairs = uri
            .query()
            .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
            .unwrap_or_default();
        Query(pairs)
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// A flag like Tinybird's `wait=true`: true, 1 (any case) are true.
    pub fn flag(&self, name: &str) -> bool {
        self.get(name)
            .is_some_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
    }

    /// An optional whole number within `1..=max`, `default` when absent.
    pub fn limit(&self, name: &str, default: i64, max: i64) -> Result<i64, ApiError> {
        match self.get(name) {
            None | Some("") => Ok(default),
            Some(raw) => raw
                .parse::<i64>()
                .ok()
                .filter(|v| (1..=max).contains(v))
                .ok_or_else(|| {
                    ApiError::BadRequest(format!(
                        "parameter '{name}' must be a whole number from 1 to {max}, got '{raw}'"
                    ))
                }),
        }
    }
}
