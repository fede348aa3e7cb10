//! The `Caller` extractor: who is calling, from `Authorization: Bearer` or `?token=`.

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;

use super::error::ApiError;
use super::AppState;
use std::collections::BTreeMap;

use serde_json::Value;

use crate::auth::{self, jwt, Need, Scope, TokenInfo};

/// A caller with a live token. Extraction fails with 401 when no token was sent
/// and 403 when the token is unknown, revoked or expired.
pub struct Caller {
    scopes: Vec<Scope>,
    /// A JWT's fixed parameters, per pipe (empty for stored tokens).
    fixed: BTreeMap<String, BTreeMap<String, Value>>,
}

impl Caller {
    /// 403 unless one of the token's scopes allows `need`.
    pub fn require(&self, need: Need<'_>) -> Result<(), ApiError> {
        if self.allows(need) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "this token lacks the scope {need} (or ADMIN)"
            )))
        }
    }

    pub fn allows(&self, need: Need<'_>) -> bool {
        self.scopes.iter().any(|s| s.allows(need))
    }

    /// Replaces, in the request's final parameters, every parameter the
    /// token fixes for `pipe`: the caller's own values never reach the pipe.
    pub fn apply_fixed(&self, pipe: &str, params: &mut BTreeMap<String, Value>) {
        if let Some(fixed) = self.fixed.get(pipe) {
            for (name, value) in fixed {
                params.insert(name.clone(), value.clone());
            }
        }
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = token_of(parts)?;
        if jwt::looks_like_jwt(&token) {
            return Caller::from_jwt(state, &token);
        }
        Caller::admit(state, auth::lookup(&state.db, &token).await?)
    }
}

impl Caller {
    /// 403 for a token that is not live, 429 for one over its rate limit.
    fn admit(state: &AppState, found: Option<TokenInfo>) -> Result<Self, ApiError> {
        let Some(info) = found else {
            return Err(ApiError::Forbidden(
                "invalid token: it is unknown, revoked or expired".into(),
            ));
        };
        state
            .rate_limits
            .check(&info)
            .map_err(|l| ApiError::TooManyRequests {
                limit: l.limit,
                reset_secs: l.reset_secs,
            })?;
        Ok(Caller {
            scopes: info.scopes,
            fixed: BTreeMap::new(),
        })
    }

    /// A signed token: verified with the server's key, no database lookup.
    fn from_jwt(state: &AppState, token: &str) -> Result<Self, ApiError> {
        let verified = jwt::verify(&state.jwt_key, token)
            .map_err(|why| ApiError::Forbidden(format!("invalid token: {why}")))?;
        let mut caller = Caller::admit(state, Some(verified.info))?;
        caller.fixed = verified.fixed;
        Ok(caller)
    }
}

/// The caller of a pipe read: like [`Caller`], but the token lookup may come
/// from the short-lived token cache (`auth::cache`), so that a poll answered
/// from memory (or with 304) costs no database work. Still 401/403 before any
/// answer is given.
pub struct PipeReader(pub Caller);

impl FromRequestParts<AppState> for PipeReader {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = token_of(parts)?;
        if jwt::looks_like_jwt(&token) {
            return Caller::from_jwt(state, &token).map(PipeReader);
        }
        let found = state.polling.tokens.lookup(&state.db, &token).await?;
        Caller::admit(state, found).map(PipeReader)
    }
}

fn token_of(parts: &Parts) -> Result<String, ApiError> {
    bearer(parts)
        .or_else(|| query_token(parts))
        .ok_or(ApiError::Unauthorized)
}

fn bearer(parts: &Parts) -> Option<String> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then(|| token.to_string())
}

fn query_token(parts: &Parts) -> Option<String> {
    let query = parts.uri.query()?;
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.into_owned())
        .filter(|t| !t.is_empty())
}
