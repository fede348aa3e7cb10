//! Signed tokens for user-facing embeds, in Tinybird's JWT shape: HS256 with
//! a signing key only the server holds (`auth.jwt_secret`, else
//! `<data_dir>/jwt_secret`), verified without a database lookup.
//!
//! ```json
//! {"name": "tenant-a", "exp": 1767225600,
//!  "scopes": [{"type": "PIPES:READ", "resource": "customer_ltv",
//!              "fixed_params": {"country": "US"}}],
//!  "limits": {"rps": 10}}
//! ```
//!
//! A scope grants reading one pipe. Its `fixed_params` replace whatever the
//! caller sends for those parameters, from any source (query string, form or
//! JSON body, repeated keys), so a token made for one tenant cannot read
//! another's rows. Other scope types grant nothing. `limits.rps` is the
//! token's rate limit.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::{Scope, Target, TokenInfo};

/// The file under the data directory that holds the generated signing key.
pub const SECRET_FILE: &str = "jwt_secret";
const PIPES_READ: &str = "PIPES:READ";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    #[serde(default)]
    pub name: String,
    /// Expiry, seconds since the epoch (required).
    pub exp: i64,
    pub scopes: Vec<JwtScope>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<Limits>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JwtScope {
    #[serde(rename = "type")]
    pub kind: String,
    pub resource: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub fixed_params: BTreeMap<String, Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Limits {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rps: Option<u32>,
}

/// A verified JWT: what the request may do, and the parameters it may not choose.
#[derive(Debug, Clone)]
pub struct Verified {
    pub info: TokenInfo,
    /// Per pipe, the parameters the token fixes.
    pub fixed: BTreeMap<String, BTreeMap<String, Value>>,
}

/// A JWT is three base64url parts; our own tokens start with `ltv_`.
pub fn looks_like_jwt(token: &str) -> bool {
    token.starts_with("eyJ") && token.split('.').count() == 3
}

pub fn sign(secret: &[u8], claims: &Claims) -> anyhow::Result<String> {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret),
    )
    .context("cannot sign the token")
}

/// Checks the signature (HS256 only: no `alg` switching) and the expiry.
/// The error says why, for the 403.
pub fn verify(secret: &[u8], token: &str) -> Result<Verified, String> {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.leeway = 0;
    validation.set_required_spec_claims(&["exp"]);
    let data =
        jsonwebtoken::decode::<Claims>(token, &DecodingKey::from_secret(secret), &validation)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => {
                    "the JWT has expired".to_string()
                }
                jsonwebtoken::errors::ErrorKind::InvalidSignature => {
                    "the JWT's signature does not match this server's signing key".to_string()
                }
                _ => format!("the JWT is not valid: {e}"),
            })?;
    let claims = data.claims;
    let mut scopes = Vec::new();
    let mut fixed = BTreeMap::new();
    for scope in claims.scopes.into_iter().filter(|s| s.kind == PIPES_READ) {
        scopes.push(Scope::PipesRead(Target::Named(scope.resource.clone())));
        fixed.insert(scope.resource, scope.fixed_params);
    }
    Ok(Verified {
        info: TokenInfo {
            scopes,
            expires_at: chrono::DateTime::from_timestamp(claims.exp, 0),
            rate_limit_rps: claims.limits.and_then(|l| l.rps).filter(|r| *r > 0),
            key: Sha256::digest(token.as_bytes()).to_vec(),
        },
        fixed,
    })
}

/// The configured signing key, else the one in `<data_dir>/jwt_secret`,
/// created (random 256 bits, mode 0600) on first use.
pub fn signing_key(configured: Option<&str>, data_dir: &Path) -> anyhow::Result<Vec<u8>> {
    if let Some(secret) = configured {
        return Ok(secret.as_bytes().to_vec());
    }
    let file = data_dir.join(SECRET_FILE);
    if let Ok(text) = std::fs::read_to_string(&file) {
        if !text.trim().is_empty() {
            return Ok(text.trim().as_bytes().to_vec());
        }
    }
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let secret = hex::encode(bytes);
    super::write_secret(&file, &secret)?;
    Ok(secret.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp: i64) -> Claims {
        Claims {
            name: "t".into(),
            exp,
            scopes: vec![
                JwtScope {
                    kind: "PIPES:READ".into(),
                    resource: "customer_ltv".into(),
                    fixed_params: [("country".to_string(), Value::from("US"))].into(),
                },
                JwtScope {
                    kind: "DATASOURCES:APPEND".into(),
                    resource: "transactions".into(),
                    fixed_params: BTreeMap::new(),
                },
            ],
            limits: Some(Limits { rps: Some(5) }),
        }
    }

    #[test]
    fn a_signed_token_verifies_and_grants_only_pipe_reads() {
        let exp = chrono::Utc::now().timestamp() + 60;
        let token = sign(b"k", &claims(exp)).unwrap();
        assert!(looks_like_jwt(&token));
        let v = verify(b"k", &token).unwrap();
        assert_eq!(
            v.info.scopes,
            [Scope::PipesRead(Target::Named("customer_ltv".into()))]
        );
        assert_eq!(v.fixed["customer_ltv"]["country"], "US");
        assert_eq!(v.info.rate_limit_rps, Some(5));
    }

    #[test]
    fn expired_tampered_and_foreign_tokens_are_refused() {
        let now = chrono::Utc::now().timestamp();
        let expired = sign(b"k", &claims(now - 1)).unwrap();
        assert!(verify(b"k", &expired).unwrap_err().contains("expired"));
        let token = sign(b"k", &claims(now + 60)).unwrap();
        assert!(verify(b"other", &token).unwrap_err().contains("signature"));
        // Same header and signature, another payload.
        let parts: Vec<&str> = token.split('.').collect();
        let other = sign(
            b"x",
            &Claims {
                name: "evil".into(),
                ..claims(now + 60)
            },
        )
        .unwrap();
        let forged = format!(
            "{}.{}.{}",
            parts[0],
            other.split('.').nth(1).unwrap(),
            parts[2]
        );
        assert!(verify(b"k", &forged).is_err());
        // alg "none".
        let none = format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{}.", parts[1]);
        assert!(verify(b"k", &none).is_err());
    }
}
