//! The `Caller` extractor: who is calling, from `Authorization: Bearer` or `?token=`.

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;

use super::error::ApiError;
use super::AppState;
use crate::auth::{self, Need, Scope};

/// A caller with a live token. Extraction fails with 401 when no token was sent
/// and 403 when the token is unknown, revoked or expired.
pub struct Caller {
    scopes: Vec<Scope>,
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
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = token_of(parts)?;
        Caller::from_lookup(auth::scopes_of(&state.db, &token).await?)
    }
}

impl Caller {
    fn from_lookup(scopes: Option<Vec<Scope>>) -> Result<Self, ApiError> {
        match scopes {
            Some(scopes) => Ok(Caller { scopes }),
            None => Err(ApiError::Forbidden(
                "invalid token: it is unknown, revoked or expired".into(),
            )),
        }
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
        let scopes = state.polling.tokens.scopes_of(&state.db, &token).await?;
        Caller::from_lookup(scopes).map(PipeReader)
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
