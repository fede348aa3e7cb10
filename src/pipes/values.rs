//! Typed parameter values and the parsing of request values (query-string
//! strings or JSON body values) into them. The same parser checks the
//! defaults, examples and allowed lists of a declaration at load time, so a
//! value is valid in a file exactly when it would be valid in a request.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde_json::Value;

use super::error::PipeError;
use super::types::ParamType;

/// Longest accepted String value (and raw Array value), in bytes.
pub const MAX_STRING_BYTES: usize = 64 * 1024;

#[derive(Debug, Clone, PartialEq)]
pub enum ParamValue {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Date(NaiveDate),
    DateTime(DateTime<Utc>),
    Array(Vec<ParamValue>),
}

impl ParamValue {
    /// The value as a request would spell it; used for `allowed` membership,
    /// examples and error messages.
    pub fn canonical(&self) -> String {
        match self {
            ParamValue::Str(s) => s.clone(),
            ParamValue::Int(n) => n.to_string(),
            ParamValue::Float(f) => f.to_string(),
            ParamValue::Bool(b) => b.to_string(),
            ParamValue::Date(d) => d.format("%Y-%m-%d").to_string(),
            ParamValue::DateTime(t) => t.format("%Y-%m-%d %H:%M:%S%.f").to_string(),
            ParamValue::Array(items) => items
                .iter()
                .map(|v| v.canonical())
                .collect::<Vec<_>>()
                .join(","),
        }
    }

    /// JSON form: numbers and booleans as such, dates as strings.
    pub fn to_json(&self) -> Value {
        match self {
            ParamValue::Int(n) => Value::from(*n),
            ParamValue::Float(f) => Value::from(*f),
            ParamValue::Bool(b) => Value::Bool(*b),
            ParamValue::Array(items) => Value::Array(items.iter().map(|v| v.to_json()).collect()),
            other => Value::String(other.canonical()),
        }
    }

    /// The number, for `min`/`max` checks and numeric comparisons.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            ParamValue::Int(n) => Some(*n as f64),
            ParamValue::Float(f) => Some(*f),
            _ => None,
        }
    }
}

impl serde::Serialize for ParamValue {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(s)
    }
}

/// What a declaration adds to its type.
#[derive(Debug, Clone, Copy, Default)]
pub struct Constraints<'a> {
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub allowed: Option<&'a [String]>,
}

/// Why a scalar did not parse: wrong shape, or outside the type's range.
enum Fail {
    Shape,
    Range(i64, i64),
}

/// Parses one parameter value. `Ok(None)` means "not given": JSON null, or
/// an empty string for any type but String.
pub fn parse_value(
    name: &str,
    ty: &ParamType,
    c: &Constraints,
    v: &Value,
) -> Result<Option<ParamValue>, PipeError> {
    let raw = match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let bad = |expected: String| PipeError::bad_param(name, &expected, &raw);
    match v {
        Value::Null => return Ok(None),
        Value::String(s) if *ty != ParamType::String && s.trim().is_empty() => return Ok(None),
        _ => {}
    }
    if raw.len() > MAX_STRING_BYTES {
        return Err(bad(format!(
            "{} of at most {MAX_STRING_BYTES} bytes",
            ty.noun()
        )));
    }
    let (elem, items) = match (ty, v) {
        (ParamType::Array(e), Value::Array(items)) => (&**e, items.clone()),
        (ParamType::Array(e), Value::String(s)) => (
            &**e,
            s.split(',')
                .map(|p| Value::String(p.trim().to_string()))
                .collect(),
        ),
        (ParamType::Array(_), _) => return Err(bad(expected(ty, c))),
        _ => (ty, vec![v.clone()]),
    };
    let mut parsed = Vec::with_capacity(items.len());
    for item in &items {
        let value = match parse_scalar(elem, item) {
            Ok(value) => value,
            Err(Fail::Range(lo, hi)) => {
                return Err(bad(format!("{} between {lo} and {hi}", ty.noun())))
            }
            Err(Fail::Shape) => return Err(bad(expected(ty, c))),
        };
        if matches!(&value, ParamValue::Str(s) if s.contains('\0')) {
            return Err(bad(format!("{} without NUL characters", ty.noun())));
        }
        let n = value.as_f64();
        let below = matches!((n, c.min), (Some(n), Some(min)) if n < min);
        let above = matches!((n, c.max), (Some(n), Some(max)) if n > max);
        let allowed = c.allowed.is_none_or(|a| a.contains(&value.canonical()));
        if below || above || !allowed {
            return Err(bad(expected(ty, c)));
        }
        parsed.push(value);
    }
    Ok(match ty {
        ParamType::Array(_) => Some(ParamValue::Array(parsed)),
        _ => parsed.pop(),
    })
}

/// "an Int32 between 1 and 100", "one of 'a', 'b'": the constraint a value
/// must meet, as it appears in error messages.
pub fn expected(ty: &ParamType, c: &Constraints) -> String {
    let elem = match ty {
        ParamType::Array(e) => e,
        other => other,
    };
    let mut out = match (c.allowed, ty) {
        (Some(a), ParamType::Array(_)) => format!("{} of values among {}", ty.noun(), quoted(a)),
        (Some(a), _) => return format!("one of {}", quoted(a)),
        (None, _) => ty.noun(),
    };
    if matches!(ty, ParamType::Array(_)) && (c.min.is_some() || c.max.is_some()) {
        out.push_str(" with elements");
    }
    let (lo, hi) = match elem.int_range() {
        // An integer cannot be below 2.5 without being below 3.
        Some((lo, hi)) => (
            c.min.map(|m| num(m.ceil().max(lo as f64))),
            c.max.map(|m| num(m.floor().min(hi as f64))),
        ),
        None => (c.min.map(num), c.max.map(num)),
    };
    match (lo, hi) {
        (Some(lo), Some(hi)) => out.push_str(&format!(" between {lo} and {hi}")),
        (Some(lo), None) => out.push_str(&format!(" of at least {lo}")),
        (None, Some(hi)) => out.push_str(&format!(" of at most {hi}")),
        (None, None) => {}
    }
    out
}

/// Formats a bound without a spurious `.0` on whole numbers.
pub(crate) fn num(f: f64) -> String {
    if f.fract() == 0.0 && f.abs() < 9.0e15 {
        format!("{}", f as i64)
    } else {
        f.to_string()
    }
}

fn quoted(items: &[String]) -> String {
    items
        .iter()
        .map(|s| format!("'{s}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn parse_scalar(ty: &ParamType, v: &Value) -> Result<ParamValue, Fail> {
    if let Some((lo, hi)) = ty.int_range() {
        let n: i128 = match v {
            Value::Number(n) => n
                .as_i64()
                .map(i128::from)
                .or_else(|| n.as_u64().map(i128::from)),
            Value::String(s) => {
                let t = s.trim();
                let digits = t.strip_prefix(['+', '-']).unwrap_or(t);
                let ok = !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit());
                // Overlong digit strings are out of range, not malformed.
                ok.then(|| t.parse::<i128>().unwrap_or(i128::MAX))
            }
            _ => None,
        }
        .ok_or(Fail::Shape)?;
        return match i64::try_from(n) {
            Ok(n) if (lo..=hi).contains(&n) => Ok(ParamValue::Int(n)),
            _ => Err(Fail::Range(lo, hi)),
        };
    }
    let s = match v {
        Value::String(s) => Some(s.trim()),
        _ => None,
    };
    match ty {
        ParamType::String => match v {
            Value::String(s) => Ok(ParamValue::Str(s.clone())),
            Value::Number(_) | Value::Bool(_) => Ok(ParamValue::Str(v.to_string())),
            _ => Err(Fail::Shape),
        },
        ParamType::Float32 | ParamType::Float64 => {
            let f = match v {
                Value::Number(n) => n.as_f64(),
                _ => s.and_then(|s| s.parse::<f64>().ok()),
            };
            let limit = if *ty == ParamType::Float32 {
                f32::MAX as f64
            } else {
                f64::MAX
            };
            match f {
                Some(f) if f.is_finite() && f.abs() <= limit => Ok(ParamValue::Float(f)),
                _ => Err(Fail::Shape),
            }
        }
        ParamType::Boolean => match (v, s.map(str::to_ascii_lowercase).as_deref()) {
            (Value::Bool(b), _) => Ok(ParamValue::Bool(*b)),
            (Value::Number(n), _) if n.as_u64() == Some(1) => Ok(ParamValue::Bool(true)),
            (Value::Number(n), _) if n.as_u64() == Some(0) => Ok(ParamValue::Bool(false)),
            (_, Some("1" | "true")) => Ok(ParamValue::Bool(true)),
            (_, Some("0" | "false")) => Ok(ParamValue::Bool(false)),
            _ => Err(Fail::Shape),
        },
        ParamType::Date => s
            .and_then(parse_date)
            .map(ParamValue::Date)
            .ok_or(Fail::Shape),
        ParamType::DateTime | ParamType::DateTime64 => s
            .and_then(parse_datetime)
            .map(ParamValue::DateTime)
            .ok_or(Fail::Shape),
        _ => Err(Fail::Shape),
    }
}

/// Strict `YYYY-MM-DD` (chrono alone would take `2024-1-5`).
pub fn parse_date(s: &str) -> Option<NaiveDate> {
    let b = s.as_bytes();
    let shape = b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
    shape.then(|| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok())?
}

/// `YYYY-MM-DD[( |T)HH:MM:SS[.fff]]` as UTC, or RFC 3339 with an offset.
pub fn parse_datetime(s: &str) -> Option<DateTime<Utc>> {
    let date = parse_date(s.get(..10)?)?;
    let rest = &s[10..];
    if rest.is_empty() {
        return date.and_hms_opt(0, 0, 0).map(|t| t.and_utc());
    }
    if !rest.starts_with([' ', 'T', 't']) {
        return None;
    }
    let naive = s.replacen(['T', 't'], " ", 1);
    if let Ok(t) = NaiveDateTime::parse_from_str(&naive, "%Y-%m-%d %H:%M:%S%.f") {
        return Some(t.and_utc());
    }
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests;
