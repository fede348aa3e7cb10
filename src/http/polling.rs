//! HTTP side of polling: conditional requests (`If-None-Match` → 304) and the
//! headers every pipe answer carries (`ETag`, `Cache-Control`, `x-ltv-cache`).

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::Response;

use crate::cache::answers::Answer;

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

/// Whether `Accept-Encoding` accepts gzip (`gzip` or `x-gzip`, q above 0).
pub fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|item| {
            let mut parts = item.split(';').map(str::trim);
            let coding = parts.next().unwrap_or("");
            let q = parts
                .find_map(|p| p.strip_prefix("q=").or_else(|| p.strip_prefix("Q=")))
                .map_or(1.0, |q| q.parse::<f32>().unwrap_or(0.0));
            (coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip"))
                && q > 0.0
        })
}

/// 200 with a tagged answer: its gzip copy when the client accepts gzip
/// (the compression layer leaves a response with `Content-Encoding` alone).
pub fn tagged(
    answer: &Answer,
    request: &HeaderMap,
    cache_control: &str,
    status: &'static str,
) -> Response {
    let gzip = answer.gzip.as_ref().filter(|_| accepts_gzip(request));
    let body = gzip.unwrap_or(&answer.body).clone();
    let mut response = self::answer(
        answer.content_type,
        body,
        Some(&answer.etag),
        cache_control,
        status,
    );
    if gzip.is_some() {
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    }
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
    fn accept_encoding_gzip_with_a_positive_q() {
        let with = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::ACCEPT_ENCODING, HeaderValue::from_str(v).unwrap());
            h
        };
        assert!(accepts_gzip(&with("gzip")));
        assert!(accepts_gzip(&with("gzip, deflate, br")));
        assert!(accepts_gzip(&with("br;q=1.0, gzip;q=0.8")));
        assert!(!accepts_gzip(&with("gzip;q=0")));
        assert!(!accepts_gzip(&with("br, identity")));
        assert!(!accepts_gzip(&HeaderMap::new()));
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
