//! Parameter declarations. Every use of a parameter in a pipe's templates
//! is a `ParamUse`; `collect` folds them into one [`ParamDecl`] per
//! name: the first typed use declares, later uses may add what is missing
//! (a description, a default) but may not contradict it.

use serde::Serialize;
use serde_json::{json, Value};

use super::error::PipeError;
use super::types::ParamType;
use super::values::{self, num, Constraints, ParamValue};

/// Request parameters the API itself reads; a pipe cannot declare them and
/// they are never reported as unknown.
pub const RESERVED_PARAMS: [&str; 3] = ["token", "q", "format"];

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ParamDecl {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: ParamType,
    pub default: Option<ParamValue>,
    pub required: bool,
    pub description: Option<String>,
    pub example: Option<String>,
    #[serde(serialize_with = "ser_bound")]
    pub min: Option<f64>,
    #[serde(serialize_with = "ser_bound")]
    pub max: Option<f64>,
    /// Canonical spellings of the allowed values (see `ParamValue::canonical`).
    pub allowed: Option<Vec<String>>,
}

fn ser_bound<S: serde::Serializer>(v: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
    v.map(super::openapi::bound_json).serialize(s)
}

impl ParamDecl {
    pub fn constraints(&self) -> Constraints<'_> {
        Constraints {
            min: self.min,
            max: self.max,
            allowed: self.allowed.as_deref(),
        }
    }

    /// Parses a request value under this declaration; `Ok(None)` = not given.
    pub fn parse(&self, v: &Value) -> Result<Option<ParamValue>, PipeError> {
        values::parse_value(&self.name, &self.ty, &self.constraints(), v)
    }

    /// What a valid value looks like, e.g. "an Int32 between 1 and 100".
    pub fn expected(&self) -> String {
        values::expected(&self.ty, &self.constraints())
    }
}

/// One use of a parameter in a template, as written.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct ParamUse {
    pub name: String,
    pub line: usize,
    /// `None` for untyped uses: `{{ x }}`, `defined(x)`, `x` in a condition.
    pub ty: Option<ParamType>,
    pub default: Option<Value>,
    pub description: Option<String>,
    pub required: Option<bool>,
    pub example: Option<Value>,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub allowed: Option<Vec<Value>>,
}

/// Folds uses into declarations, in first-use order. Errors carry the line
/// of the offending use.
pub(crate) fn collect(uses: &[ParamUse]) -> Result<Vec<ParamDecl>, (usize, String)> {
    let mut order: Vec<&str> = Vec::new();
    for u in uses {
        if RESERVED_PARAMS.contains(&u.name.as_str()) {
            let msg = format!(
                "'{}' is reserved by the API and cannot be a parameter name",
                u.name
            );
            return Err((u.line, msg));
        }
        if !order.contains(&u.name.as_str()) {
            order.push(&u.name);
        }
    }
    let mut decls: Vec<(ParamDecl, Option<bool>)> = Vec::new();
    for u in uses {
        let Some(ty) = &u.ty else { continue };
        let fresh = declare(u, ty).map_err(|m| (u.line, m))?;
        match decls.iter_mut().find(|(d, _)| d.name == u.name) {
            None => decls.push((fresh, u.required)),
            Some((d, req)) => merge(d, req, fresh, u.required).map_err(|m| (u.line, m))?,
        }
        let (d, _) = decls
            .iter()
            .find(|(d, _)| d.name == u.name)
            .expect("just declared");
        check(d).map_err(|m| (u.line, m))?;
    }
    let out = order
        .into_iter()
        .map(|name| match decls.iter().find(|(d, _)| d.name == name) {
            Some((d, req)) => ParamDecl {
                required: req.unwrap_or(false),
                ..d.clone()
            },
            None => untyped(name),
        });
    Ok(out.collect())
}

fn untyped(name: &str) -> ParamDecl {
    ParamDecl {
        name: name.to_string(),
        ty: ParamType::String,
        default: None,
        required: false,
        description: None,
        example: None,
        min: None,
        max: None,
        allowed: None,
    }
}

/// A declaration from one typed use; each literal must be of the type.
fn declare(u: &ParamUse, ty: &ParamType) -> Result<ParamDecl, String> {
    let of_type = |what: &str, v: &Value| {
        values::parse_value(&u.name, ty, &Constraints::default(), v)
            .map_err(|e| invalid(what, &u.name, e))
    };
    let elem = match ty {
        ParamType::Array(e) => (**e).clone(),
        t => t.clone(),
    };
    let allowed = match &u.allowed {
        None => None,
        Some(list) if list.is_empty() => {
            return Err(format!("allowed=[] of parameter '{}' is empty", u.name))
        }
        Some(list) => Some(
            list.iter()
                .map(
                    |v| match values::parse_value(&u.name, &elem, &Constraints::default(), v) {
                        Ok(Some(p)) => Ok(p.canonical()),
                        _ => Err(format!(
                            "allowed value {v} of parameter '{}' is not {}",
                            u.name,
                            elem.noun()
                        )),
                    },
                )
                .collect::<Result<Vec<_>, _>>()?,
        ),
    };
    Ok(ParamDecl {
        name: u.name.clone(),
        ty: ty.clone(),
        default: match &u.default {
            Some(v) => of_type("default", v)?,
            None => None,
        },
        required: false,
        description: u.description.clone(),
        example: match &u.example {
            Some(v) => of_type("example", v)?.map(|p| p.canonical()),
            None => None,
        },
        min: u.min,
        max: u.max,
        allowed,
    })
}

/// Merges a later use into a declaration: equal or absent attributes only.
fn merge(
    d: &mut ParamDecl,
    req: &mut Option<bool>,
    new: ParamDecl,
    new_req: Option<bool>,
) -> Result<(), String> {
    let name = d.name.clone();
    if d.ty != new.ty {
        return Err(format!(
            "parameter '{name}' is used as {} here but was declared as {}",
            new.ty.clickhouse_name(),
            d.ty.clickhouse_name()
        ));
    }
    fn take<T: PartialEq>(
        name: &str,
        what: &str,
        old: &mut Option<T>,
        new: Option<T>,
        show: impl Fn(&T) -> String,
    ) -> Result<(), String> {
        match (&*old, new) {
            (Some(a), Some(b)) if *a != b => Err(format!(
                "parameter '{name}' has {what} {} here but {} where it was declared first",
                show(&b),
                show(a)
            )),
            (None, Some(b)) => {
                *old = Some(b);
                Ok(())
            }
            _ => Ok(()),
        }
    }
    let quote = |s: &String| format!("'{s}'");
    take(&name, "default", &mut d.default, new.default, |v| {
        format!("'{}'", v.canonical())
    })?;
    take(
        &name,
        "description",
        &mut d.description,
        new.description,
        quote,
    )?;
    take(&name, "example", &mut d.example, new.example, quote)?;
    take(&name, "min", &mut d.min, new.min, |n| num(*n))?;
    take(&name, "max", &mut d.max, new.max, |n| num(*n))?;
    take(&name, "allowed", &mut d.allowed, new.allowed, |a| {
        format!("{a:?}")
    })?;
    take(&name, "required", req, new_req, |b| {
        if *b {
            "True".into()
        } else {
            "False".into()
        }
    })
}

/// Checks a declaration against itself: bounds and the default/example.
fn check(d: &ParamDecl) -> Result<(), String> {
    let elem = match &d.ty {
        ParamType::Array(e) => &**e,
        t => t,
    };
    if (d.min.is_some() || d.max.is_some()) && !elem.is_numeric() {
        return Err(format!(
            "min= and max= apply to number types, not to {} parameter '{}'",
            d.ty.noun(),
            d.name
        ));
    }
    if let (Some(min), Some(max)) = (d.min, d.max) {
        if min > max {
            return Err(format!(
                "parameter '{}' has min={} greater than max={}",
                d.name,
                num(min),
                num(max)
            ));
        }
    }
    let fits = |what: &str, v: &Value| {
        d.parse(v)
            .map(|_| ())
            .map_err(|e| invalid(what, &d.name, e))
    };
    if let Some(v) = &d.default {
        fits("default", &v.to_json())?;
    }
    if let Some(e) = &d.example {
        fits("example", &json!(e))?;
    }
    Ok(())
}

/// "the default of parameter 'x' must be an Int32, got 'abc'".
fn invalid(what: &str, name: &str, e: PipeError) -> String {
    match e {
        PipeError::BadParam {
            expected, received, ..
        } => {
            format!("the {what} of parameter '{name}' must be {expected}, got '{received}'")
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests;
