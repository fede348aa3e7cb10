//! Token scopes, Tinybird's spelling: `ADMIN`, `DATASOURCES:APPEND:<name>`,
//! `DATASOURCES:READ:<name>`, `PIPES:READ:<name>`; `*` stands for any name.
//! Ours: `METRICS:READ` (the Prometheus endpoint, `GET /metrics`).

use std::fmt;
use std::str::FromStr;

const METRICS_READ: &str = "METRICS:READ";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    Admin,
    DatasourcesAppend(Target),
    DatasourcesRead(Target),
    PipesRead(Target),
    MetricsRead,
}

/// The resource a scope covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Any,
    Named(String),
}

/// What a request needs.
#[derive(Debug, Clone, Copy)]
pub enum Need<'a> {
    Admin,
    AppendTo(&'a str),
    ReadDatasource(&'a str),
    ReadPipe(&'a str),
    ReadMetrics,
}

impl Target {
    fn covers(&self, name: &str) -> bool {
        match self {
            Target::Any => true,
            Target::Named(n) => n == name,
        }
    }
}

impl Scope {
    pub fn allows(&self, need: Need<'_>) -> bool {
        match (self, need) {
            (Scope::Admin, _) => true,
            (Scope::DatasourcesAppend(t), Need::AppendTo(n)) => t.covers(n),
            (Scope::DatasourcesRead(t), Need::ReadDatasource(n)) => t.covers(n),
            (Scope::PipesRead(t), Need::ReadPipe(n)) => t.covers(n),
            (Scope::MetricsRead, Need::ReadMetrics) => true,
            _ => false,
        }
    }
}

impl fmt::Display for Need<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Need::Admin => write!(f, "ADMIN"),
            Need::AppendTo(n) => write!(f, "DATASOURCES:APPEND:{n}"),
            Need::ReadDatasource(n) => write!(f, "DATASOURCES:READ:{n}"),
            Need::ReadPipe(n) => write!(f, "PIPES:READ:{n}"),
            Need::ReadMetrics => write!(f, "{METRICS_READ}"),
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (kind, target) = match self {
            Scope::Admin => return write!(f, "ADMIN"),
            Scope::MetricsRead => return write!(f, "{METRICS_READ}"),
            Scope::DatasourcesAppend(t) => ("DATASOURCES:APPEND", t),
            Scope::DatasourcesRead(t) => ("DATASOURCES:READ", t),
            Scope::PipesRead(t) => ("PIPES:READ", t),
        };
        match target {
            Target::Any => write!(f, "{kind}:*"),
            Target::Named(n) => write!(f, "{kind}:{n}"),
        }
    }
}

impl FromStr for Scope {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("ADMIN") {
            return Ok(Scope::Admin);
        }
        if s.eq_ignore_ascii_case(METRICS_READ) {
            return Ok(Scope::MetricsRead);
        }
        let upper = s.to_ascii_uppercase();
        let (ctor, prefix): (fn(Target) -> Scope, &str) = if upper
            .starts_with("DATASOURCES:APPEND:")
        {
            (Scope::DatasourcesAppend, "DATASOURCES:APPEND:")
        } else if upper.starts_with("DATASOURCES:READ:") {
            (Scope::DatasourcesRead, "DATASOURCES:READ:")
        } else if upper.starts_with("PIPES:READ:") {
            (Scope::PipesRead, "PIPES:READ:")
        } else {
            return Err(format!(
                "unknown scope '{s}': use ADMIN, DATASOURCES:APPEND:<name>, DATASOURCES:READ:<name>, PIPES:READ:<name> (* for any name) or METRICS:READ"
            ));
        };
        let name = &s[prefix.len()..];
        let target = match name {
            "*" => Target::Any,
            n if !n.is_empty() && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') => {
                Target::Named(n.to_string())
            }
            _ => {
                return Err(format!(
                    "scope '{s}' needs a name of letters, digits and _ (or *)"
                ))
            }
        };
        Ok(ctor(target))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_round_trip_through_text() {
        for text in [
            "ADMIN",
            "DATASOURCES:APPEND:customers",
            "DATASOURCES:READ:*",
            "PIPES:READ:customer_ltv",
            "METRICS:READ",
        ] {
            assert_eq!(text.parse::<Scope>().unwrap().to_string(), text);
        }
    }

    #[test]
    fn a_named_scope_covers_only_its_name_and_star_covers_all() {
        let s: Scope = "DATASOURCES:APPEND:customers".parse().unwrap();
        assert!(s.allows(Need::AppendTo("customers")));
        assert!(!s.allows(Need::AppendTo("transactions")));
        assert!(!s.allows(Need::ReadDatasource("customers")));
        let any: Scope = "PIPES:READ:*".parse().unwrap();
        assert!(any.allows(Need::ReadPipe("x")));
        assert!(!any.allows(Need::Admin));
        assert!(Scope::Admin.allows(Need::AppendTo("x")));
    }

    #[test]
    fn malformed_scopes_are_rejected_with_the_accepted_forms() {
        assert!("WRITE:x".parse::<Scope>().unwrap_err().contains("ADMIN"));
        assert!("PIPES:READ:".parse::<Scope>().is_err());
        assert!("PIPES:READ:a;b".parse::<Scope>().is_err());
    }
}
