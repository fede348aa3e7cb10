//! The answer cache and ETags.
//!
//! A request is identified by what decides its answer, nothing else: the pipe
//! (name and file text), the format, and the compiled statement (SQL text and
//! bind values, so defaults, parameter order and spelling such as `limit=010`
//! vs `limit=10` collapse, and the token never enters). The ETag hashes that
//! identity with the [`Stamp`]; the cache stores one encoded answer per
//! identity and serves it only while its stamp is the current one.

use std::sync::Arc;

use bytes::Bytes;
use quick_cache::sync::Cache;
use quick_cache::Weighter;
use sha2::{Digest, Sha256};

use super::Stamp;
use crate::pipes::format::Format;
use crate::pipes::{CompiledQuery, Pipe};

/// SHA-256 of a request's identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RequestKey([u8; 32]);

impl RequestKey {
    pub fn new(pipe: &Pipe, format: Format, query: &CompiledQuery) -> Self {
        // Debug of the binds is exact (floats print round-trip, strings escaped);
        // every part is length-prefixed so no two requests concatenate alike.
        let binds = format!("{:?}", query.binds);
        let mut h = Sha256::new();
        for part in [
            pipe.name().as_bytes(),
            pipe.source_hash(),
            format.extension().as_bytes(),
            query.sql.as_bytes(),
            binds.as_bytes(),
        ] {
            h.update((part.len() as u64).to_le_bytes());
            h.update(part);
        }
        RequestKey(h.finalize().into())
    }

    /// A weak ETag (`W/"…"`): the body's bytes differ between two runs of the
    /// same answer (`statistics.elapsed`, gzip), its meaning does not. The same
    /// on every server of a cluster, so a load balancer may switch servers.
    pub fn etag(&self, stamp: &Stamp) -> String {
        let mut h = Sha256::new();
        h.update(self.0);
        for v in stamp.versions {
            h.update(v.to_le_bytes());
        }
        h.update(stamp.day.to_string().as_bytes());
        format!("W/\"{}\"", hex::encode(&h.finalize()[..16]))
    }
}

/// One encoded answer.
pub struct Answer {
    pub stamp: Stamp,
    pub etag: String,
    pub content_type: &'static str,
    pub body: Bytes,
    /// The body gzip-compressed once, for the clients that accept it (browsers
    /// do): compressing a cached answer again on every poll would cost more
    /// than everything else a hit does. Made when the first such client asks
    /// (see [`Answer::with_gzip`]), not for clients that never will (services,
    /// curl): for a 50 KB answer it cost more than PostgreSQL's part.
    pub gzip: Option<Bytes>,
}

/// Bodies this small are sent as they are (as the compression layer does).
const GZIP_MIN_BYTES: usize = 32;

impl Answer {
    /// `compress`: keep a gzip copy too (`http.compression`).
    pub fn new(
        stamp: Stamp,
        etag: String,
        content_type: &'static str,
        body: Bytes,
        compress: bool,
    ) -> Self {
        let gzip = (compress && body.len() > GZIP_MIN_BYTES).then(|| gzip(&body));
        Answer {
            stamp,
            etag,
            content_type,
            body,
            gzip,
        }
    }

    /// This answer with its gzip copy; `None` when it has one already or is too
    /// small to compress.
    pub fn with_gzip(&self) -> Option<Answer> {
        (self.gzip.is_none() && self.body.len() > GZIP_MIN_BYTES).then(|| Answer {
            stamp: self.stamp,
            etag: self.etag.clone(),
            content_type: self.content_type,
            body: self.body.clone(),
            gzip: Some(gzip(&self.body)),
        })
    }
}

fn gzip(body: &[u8]) -> Bytes {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(body.len() / 4),
        // Level 1: a 51 KB customer_ltv page in 0.4 ms (11 KB) instead of 1.1 ms
        // (9 KB) at the default level; a miss waits for it.
        flate2::Compression::fast(),
    );
    encoder
        .write_all(body)
        .expect("writing to a Vec cannot fail");
    Bytes::from(encoder.finish().expect("writing to a Vec cannot fail"))
}

/// Bytes an entry holds, roughly: the body, the ETag, and a fixed overhead.
#[derive(Clone)]
struct ByBytes;

impl Weighter<RequestKey, Arc<Answer>> for ByBytes {
    fn weight(&self, _key: &RequestKey, answer: &Arc<Answer>) -> u64 {
        let gzip = answer.gzip.as_ref().map_or(0, Bytes::len);
        (answer.body.len() + gzip + answer.etag.len() + 160) as u64
    }
}

/// Encoded answers, at most `max_bytes` of them (quick_cache evicts the
/// least useful entries, CLOCK-Pro style). An entry is served only when its
/// stamp equals the current one, so a write is never answered with data from
/// before it; stale entries are replaced by the next run or evicted.
pub struct AnswerCache {
    entries: Option<Cache<RequestKey, Arc<Answer>, ByBytes>>,
}

impl AnswerCache {
    /// `enabled == false` or `max_bytes == 0`: every lookup misses.
    pub fn new(enabled: bool, max_bytes: u64) -> Self {
        let entries = (enabled && max_bytes > 0).then(|| {
            let estimated_items = (max_bytes / 8192).clamp(16, 100_000) as usize;
            Cache::with_weighter(estimated_items, max_bytes, ByBytes)
        });
        AnswerCache { entries }
    }

    /// The answer for `key` if it was computed at `stamp`.
    pub fn get(&self, key: &RequestKey, stamp: &Stamp) -> Option<Arc<Answer>> {
        let answer = self.entries.as_ref()?.get(key)?;
        (answer.stamp == *stamp).then_some(answer)
    }

    /// Keeps `answer` (an answer larger than the cache's share for it is not kept).
    pub fn put(&self, key: RequestKey, answer: Arc<Answer>) {
        if let Some(entries) = &self.entries {
            entries.insert(key, answer);
        }
    }

    /// Forgets everything (after notifications may have been missed).
    pub fn clear(&self) {
        if let Some(entries) = &self.entries {
            entries.clear();
        }
    }

    /// Bytes held now (for tests and logs).
    pub fn weight(&self) -> u64 {
        self.entries.as_ref().map_or(0, Cache::weight)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;
    use serde_json::{json, Value};
    use std::collections::BTreeMap;

    const PIPE: &str =
        "NODE n\nSQL >\n    %\n    SELECT {{ Int32(x, 1) }} AS x, {{ String(s, 'a') }} AS s\n";

    fn key(pipe: &Pipe, params: &[(&str, Value)]) -> RequestKey {
        let params: BTreeMap<String, Value> = params
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        RequestKey::new(pipe, Format::Json, &pipe.compile(&params).unwrap())
    }

    fn stamp(v: i64) -> Stamp {
        Stamp {
            versions: [v, 0, 0, 0, 0],
            day: NaiveDate::from_ymd_opt(2026, 1, 2).unwrap(),
        }
    }

    #[test]
    fn equal_answers_share_a_key_and_different_ones_do_not() {
        let pipe = Pipe::load("p", PIPE).unwrap();
        let default = key(&pipe, &[]);
        assert_eq!(
            default,
            key(&pipe, &[("x", json!("1"))]),
            "the default spelled out"
        );
        assert_eq!(
            default,
            key(&pipe, &[("x", json!("01"))]),
            "another spelling"
        );
        assert_eq!(
            default,
            key(&pipe, &[("token", json!("secret"))]),
            "the token"
        );
        assert_ne!(default, key(&pipe, &[("x", json!("2"))]));
        assert_ne!(default, key(&pipe, &[("s", json!("b"))]));
        let edited = Pipe::load("p", &PIPE.replace("AS x", "AS y")).unwrap();
        assert_ne!(default, key(&edited, &[]));
        let csv = RequestKey::new(&pipe, Format::Csv, &pipe.compile(&BTreeMap::new()).unwrap());
        assert_ne!(default, csv);
    }

    #[test]
    fn etags_change_with_the_stamp_and_are_weak() {
        let pipe = Pipe::load("p", PIPE).unwrap();
        let k = key(&pipe, &[]);
        assert_eq!(k.etag(&stamp(1)), k.etag(&stamp(1)));
        assert_ne!(k.etag(&stamp(1)), k.etag(&stamp(2)));
        let mut next_day = stamp(1);
        next_day.day = next_day.day.succ_opt().unwrap();
        assert_ne!(k.etag(&stamp(1)), k.etag(&next_day));
        assert!(k.etag(&stamp(1)).starts_with("W/\""));
    }

    #[test]
    fn the_cache_serves_only_current_answers_within_its_size() {
        let pipe = Pipe::load("p", PIPE).unwrap();
        let cache = AnswerCache::new(true, 1 << 20);
        let k = key(&pipe, &[]);
        let answer = |s: Stamp, len: usize| {
            let body = Bytes::from(vec![b'x'; len]);
            Arc::new(Answer::new(s, k.etag(&s), "application/json", body, true))
        };
        cache.put(k, answer(stamp(1), 100));
        assert!(cache.get(&k, &stamp(1)).is_some());
        assert!(cache.get(&k, &stamp(2)).is_none(), "a newer version misses");
        for i in 0..100 {
            let other = key(&pipe, &[("x", json!(i.to_string()))]);
            cache.put(other, answer(stamp(1), 100_000));
        }
        assert!(cache.weight() <= 1 << 20, "{}", cache.weight());
        let gz = answer(stamp(1), 1000).gzip.clone().expect("a gzip copy");
        let mut plain = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gz[..]), &mut plain).unwrap();
        assert_eq!(plain, vec![b'x'; 1000]);
        let plain_only = Answer::new(
            stamp(1),
            k.etag(&stamp(1)),
            "application/json",
            Bytes::from(vec![b'y'; 1000]),
            false,
        );
        assert!(plain_only.gzip.is_none());
        let upgraded = plain_only.with_gzip().expect("compressed on demand");
        assert_eq!(upgraded.body, plain_only.body);
        assert!(upgraded.gzip.as_ref().is_some_and(|g| g.len() < 1000));
        assert!(upgraded.with_gzip().is_none(), "compressed once");
        let off = AnswerCache::new(false, 1 << 20);
        off.put(k, answer(stamp(1), 10));
        assert!(off.get(&k, &stamp(1)).is_none());
    }
}
