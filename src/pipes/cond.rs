//! `{% if %}` conditions: their resolved form, a load-time typing pass that
//! turns literals into values of the parameter they are compared with (so
//! `DateTime(d) > '2024-01-01'` compares timestamps, and a literal that
//! cannot be one is a load error), and evaluation against request values.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::expr::CmpOp;
use super::params::ParamDecl;
use super::types::ParamType;
use super::values::{self, Constraints, ParamValue};

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Cond {
    /// The request gave the parameter (a non-empty value).
    Defined(String),
    Not(Box<Cond>),
    And(Box<Cond>, Box<Cond>),
    Or(Box<Cond>, Box<Cond>),
    Cmp(CmpOp, Operand, Operand),
    In {
        item: Operand,
        set: Operand,
        negated: bool,
    },
    Truthy(Operand),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Operand {
    /// A literal as written; replaced by `Const` when the pipe is loaded.
    Lit(Value),
    Const(Option<ParamValue>),
    /// The parameter's typed value: as given, else its default, else None.
    Param(String),
    List(Vec<Operand>),
}

/// Values a condition is evaluated against.
pub(crate) struct Env<'a> {
    /// Effective value of every declared parameter (given or default).
    pub values: &'a BTreeMap<String, Option<ParamValue>>,
    /// Parameters the request gave.
    pub given: &'a BTreeSet<String>,
}

/// Types the literals of a condition; errors are messages for the tag line.
pub(crate) fn type_check(c: &mut Cond, decls: &[ParamDecl]) -> Result<(), String> {
    let ty_of = |o: &Operand| match o {
        Operand::Param(p) => decls.iter().find(|d| d.name == *p).map(|d| d.ty.clone()),
        _ => None,
    };
    match c {
        Cond::Defined(_) => Ok(()),
        Cond::Not(a) => type_check(a, decls),
        Cond::And(a, b) | Cond::Or(a, b) => type_check(a, decls).and(type_check(b, decls)),
        Cond::Truthy(o) => coerce(o, None),
        Cond::Cmp(_, l, r) => {
            let (lt, rt) = (ty_of(l), ty_of(r));
            if let (Some(a), Some(b)) = (&lt, &rt) {
                if a != b && !(a.is_numeric() && b.is_numeric()) {
                    return Err(format!(
                        "cannot compare {} with {}",
                        a.clickhouse_name(),
                        b.clickhouse_name()
                    ));
                }
            }
            coerce(l, rt.as_ref())?;
            coerce(r, lt.as_ref())
        }
        Cond::In { item, set, .. } => {
            let item_ty = ty_of(item);
            match (&*set, ty_of(set)) {
                (Operand::List(_), _) => coerce(set, item_ty.as_ref())?,
                (_, Some(ParamType::Array(e))) => coerce(item, Some(&e))?,
                _ => {
                    return Err(
                        "the right side of 'in' must be a list or an Array parameter".into(),
                    )
                }
            }
            coerce(item, None)
        }
    }
}

/// Replaces literals in `o` by values, of type `ty` when given.
fn coerce(o: &mut Operand, ty: Option<&ParamType>) -> Result<(), String> {
    match o {
        Operand::List(items) => items.iter_mut().try_for_each(|i| coerce(i, ty)),
        Operand::Lit(v) => {
            let value = match ty {
                // Numbers compare across Int and Float; keep them as written.
                Some(t) if t.is_numeric() && v.is_number() => natural(v),
                Some(t) if !v.is_null() => {
                    match values::parse_value("", t, &Constraints::default(), v) {
                        Ok(Some(p)) => Some(p),
                        _ => return Err(format!("cannot compare {} with {v}", t.noun())),
                    }
                }
                _ => natural(v),
            };
            *o = Operand::Const(value);
            Ok(())
        }
        _ => Ok(()),
    }
}

/// A literal's own value: 'a' is a String, 1 an Int, [..] an Array.
fn natural(v: &Value) -> Option<ParamValue> {
    match v {
        Value::String(s) => Some(ParamValue::Str(s.clone())),
        Value::Bool(b) => Some(ParamValue::Bool(*b)),
        Value::Number(n) => Some(match n.as_i64() {
            Some(i) => ParamValue::Int(i),
            None => ParamValue::Float(n.as_f64().unwrap_or(0.0)),
        }),
        Value::Array(items) => Some(ParamValue::Array(
            items.iter().filter_map(natural).collect(),
        )),
        _ => None,
    }
}

pub(crate) fn eval(c: &Cond, env: &Env) -> bool {
    match c {
        Cond::Defined(p) => env.given.contains(p),
        Cond::Not(a) => !eval(a, env),
        Cond::And(a, b) => eval(a, env) && eval(b, env),
        Cond::Or(a, b) => eval(a, env) || eval(b, env),
        Cond::Truthy(o) => truthy(&value(o, env)),
        Cond::Cmp(op, l, r) => {
            let ord = compare(&value(l, env), &value(r, env));
            match op {
                CmpOp::Eq => ord == Some(Ordering::Equal),
                CmpOp::Ne => ord != Some(Ordering::Equal),
                CmpOp::Lt => ord == Some(Ordering::Less),
                CmpOp::Le => matches!(ord, Some(Ordering::Less | Ordering::Equal)),
                CmpOp::Gt => ord == Some(Ordering::Greater),
                CmpOp::Ge => matches!(ord, Some(Ordering::Greater | Ordering::Equal)),
            }
        }
        Cond::In { item, set, negated } => {
            let item = value(item, env);
            let found = match set {
                Operand::List(items) => items
                    .iter()
                    .any(|o| compare(&item, &value(o, env)) == Some(Ordering::Equal)),
                other => match value(other, env) {
                    Some(ParamValue::Array(vs)) => vs
                        .into_iter()
                        .any(|v| compare(&item, &Some(v)) == Some(Ordering::Equal)),
                    _ => false,
                },
            };
            found != *negated
        }
    }
}

fn value(o: &Operand, env: &Env) -> Option<ParamValue> {
    match o {
        Operand::Lit(v) => natural(v),
        Operand::Const(v) => v.clone(),
        Operand::Param(p) => env.values.get(p).cloned().flatten(),
        Operand::List(items) => Some(ParamValue::Array(
            items.iter().filter_map(|i| value(i, env)).collect(),
        )),
    }
}

/// Python's truthiness: None, '', 0, 0.0, False and [] are false.
fn truthy(v: &Option<ParamValue>) -> bool {
    match v {
        None => false,
        Some(ParamValue::Str(s)) => !s.is_empty(),
        Some(ParamValue::Int(n)) => *n != 0,
        Some(ParamValue::Float(f)) => *f != 0.0,
        Some(ParamValue::Bool(b)) => *b,
        Some(ParamValue::Array(a)) => !a.is_empty(),
        Some(ParamValue::Date(_) | ParamValue::DateTime(_)) => true,
    }
}

/// Orders two values of comparable kinds; `None` when they are not (then
/// `==` is false, `!=` true and every ordering false).
fn compare(a: &Option<ParamValue>, b: &Option<ParamValue>) -> Option<Ordering> {
    use ParamValue::*;
    let (a, b) = match (a, b) {
        (None, None) => return Some(Ordering::Equal),
        (Some(a), Some(b)) => (a, b),
        _ => return None,
    };
    match (a, b) {
        (Int(x), Int(y)) => Some(x.cmp(y)),
        (Str(x), Str(y)) => Some(x.cmp(y)),
        (Bool(x), Bool(y)) => Some(x.cmp(y)),
        (Date(x), Date(y)) => Some(x.cmp(y)),
        (DateTime(x), DateTime(y)) => Some(x.cmp(y)),
        (Array(x), Array(y)) => {
            for (p, q) in x.iter().zip(y) {
                match compare(&Some(p.clone()), &Some(q.clone()))? {
                    Ordering::Equal => {}
                    other => return Some(other),
                }
            }
            Some(x.len().cmp(&y.len()))
        }
        _ => a.as_f64()?.partial_cmp(&b.as_f64()?),
    }
}
