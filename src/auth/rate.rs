//! Per-token rate limits: at most N requests per one-second window, N being
//! the token's own `rate_limit_rps` or `auth.rate_limit_rps` (0: none).
//! Counted in this server's memory, by the token's hash; several servers
//! behind a balancer each allow N.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::TokenInfo;

const WINDOW: Duration = Duration::from_secs(1);
/// Past this many tokens counted, the windows that ended are dropped.
const PRUNE_AT: usize = 10_000;

/// A request over its token's limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limited {
    /// Requests allowed per window.
    pub limit: u32,
    /// Whole seconds until the window ends (at least 1).
    pub reset_secs: u64,
}

struct Window {
    started: Instant,
    count: u32,
}

pub struct RateLimiter {
    default_rps: u32,
    windows: Mutex<HashMap<Vec<u8>, Window>>,
}

impl RateLimiter {
    pub fn new(default_rps: u32) -> Self {
        RateLimiter {
            default_rps,
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// Counts one request of `token`; `Err` when it is over the limit.
    pub fn check(&self, token: &TokenInfo) -> Result<(), Limited> {
        let limit = token.rate_limit_rps.unwrap_or(self.default_rps);
        if limit == 0 {
            return Ok(());
        }
        let now = Instant::now();
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        if windows.len() >= PRUNE_AT {
            windows.retain(|_, w| now.duration_since(w.started) < WINDOW);
        }
        let window = windows.entry(token.key.clone()).or_insert(Window {
            started: now,
            count: 0,
        });
        if now.duration_since(window.started) >= WINDOW {
            *window = Window {
                started: now,
                count: 0,
            };
        }
        if window.count >= limit {
            let left = WINDOW.saturating_sub(now.duration_since(window.started));
            return Err(Limited {
                limit,
                reset_secs: left.as_secs_f64().ceil().max(1.0) as u64,
            });
        }
        window.count += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(key: u8, rps: Option<u32>) -> TokenInfo {
        TokenInfo {
            scopes: vec![],
            expires_at: None,
            rate_limit_rps: rps,
            key: vec![key],
        }
    }

    #[test]
    fn each_token_gets_its_own_window() {
        let limiter = RateLimiter::new(2);
        let (a, b) = (token(1, None), token(2, Some(3)));
        assert!(limiter.check(&a).is_ok());
        assert!(limiter.check(&a).is_ok());
        let limited = limiter.check(&a).unwrap_err();
        assert_eq!((limited.limit, limited.reset_secs), (2, 1));
        for _ in 0..3 {
            assert!(limiter.check(&b).is_ok(), "b has its own limit");
        }
        assert!(limiter.check(&b).is_err());
        std::thread::sleep(WINDOW);
        assert!(limiter.check(&a).is_ok(), "a new window");
    }

    #[test]
    fn zero_means_no_limit() {
        let limiter = RateLimiter::new(0);
        let t = token(1, None);
        assert!((0..10_000).all(|_| limiter.check(&t).is_ok()));
    }
}
