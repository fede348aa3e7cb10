//! HTTP side of polling: conditional requests (`If-None-Match` → 304) and the
//! headers every pipe answer carries (`ETag`, `Cache-Control`, `x-ltv-cache`).

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::Response;

/// `hit` (from memory), `miss` (computed now), or `bypass` (computed now,
/// untagged: the data versions are unknown while the notification connection
/// is down).
pub const CACHE_STATUS: HeaderName = HeaderName::from_static("x-ltv-cache");

/// Whether `If-None-Match` names `etag`, compared weakly as RFC 9110
/// §13.1.2 asks (`W/"x"` and `"x"` match). `*` matches only when `exists`:
/// a current answer is known to exist (it is cached). A tag we issued proves
/// that by itself; `*` on a request that would fail must get its error.
pub fn none_match(headers: &HeaderMap, etag: &str, exists: bool) -> bool {
    let ours = opaque(etag);
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .any(|tag| (tag == "*" && exists) || opaque(tag) == ours)
}

fn opaque(tag: &str) -> &str {
    tag.strip_prefix("W/").unwrap_or(tag)
}

/// 304 with the validators a cache needs (ETag, Cache-Control), no body.
pub fn not_modified(etag: &str, cache_control: &str) -> Response {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::NOT_MODIFIED;
    validators(response.headers_mut(), Some(etag), cache_control);
    response
}

/// 200 with the encoded answer.
pub fn answer(
    content_type: &'static str,
    body: Bytes,
    etag: Option<&str>,
    cache_control: &str,
    status: &'static str,
) -> Response {
    let mut response = Response::new(Body::from(body));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(CACHE_STATUS, HeaderValue::from_static(status));
    validators(headers, etag, cache_control);
    response
}

fn validators(headers: &mut HeaderMap, etag: Option<&str>, cache_control: &str) {
    if let Some(v) = etag.and_then(|e| HeaderValue::from_str(e).ok()) {
        headers.insert(header::ETAG, v);
    }
    // Checked at start-up (`Application::build`); empty means no header.
    if let Ok(v) = HeaderValue::from_str(cache_control) {
        if !cache_control.is_empty() {
            headers.insert(header::CACHE_CONTROL, v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(header::IF_NONE_MATCH, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn if_none_match_compares_weakly_over_lists() {
        let etag = "W/\"abc\"";
        for exists in [true, false] {
            assert!(none_match(&with(&["W/\"abc\""]), etag, exists));
            assert!(none_match(&with(&["\"abc\""]), etag, exists));
            assert!(none_match(&with(&["\"x\", W/\"abc\""]), etag, exists));
            assert!(none_match(&with(&["\"x\"", "W/\"abc\""]), etag, exists));
            assert!(!none_match(&with(&["W/\"abd\""]), etag, exists));
            assert!(!none_match(&with(&[]), etag, exists));
        }
        assert!(none_match(&with(&["*"]), etag, true));
        assert!(!none_match(&with(&["*"]), etag, false));
    }
}
