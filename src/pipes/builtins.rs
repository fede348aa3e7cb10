//! What names and calls mean: turns a parsed `{{ }}` expression into an
//! output node and an `{% if %}` expression into a [`Cond`], recording
//! every parameter use for the declarations. Anything not listed here is a
//! load-time error.

use serde_json::Value;

use super::cond::{Cond, Operand};
use super::error_funcs;
use super::expr::Expr;
use super::file::is_identifier;
use super::params::ParamUse;
use super::template::TNode;
use super::types::{ParamType, SCALAR_FUNCS};

const KNOWN: &str = "String, Int8..Int64, UInt8..UInt64, Float32, Float64, Boolean, Date, DateTime, DateTime64, Array, column, columns, defined, error, custom_error";

const TYPED_KWARGS: [&str; 7] = [
    "default",
    "description",
    "required",
    "example",
    "min",
    "max",
    "allowed",
];

/// Records parameter uses for one tag at `line`.
pub(crate) struct Resolver<'a> {
    pub line: usize,
    pub uses: &'a mut Vec<ParamUse>,
}

fn is_typed(func: &str) -> bool {
    func == "Array" || SCALAR_FUNCS.contains(&func)
}

impl Resolver<'_> {
    /// The meaning of `{{ expr }}`.
    pub(crate) fn output(&mut self, e: Expr) -> Result<TNode, String> {
        match e {
            Expr::Name(n) => Ok(TNode::Param(self.untyped(n)?)),
            Expr::Call { func, args, kwargs } => match func.as_str() {
                f if is_typed(f) => Ok(TNode::Param(self.typed(&func, args, kwargs)?)),
                "column" | "columns" => self.column(&func, args, kwargs),
                "error" => error_funcs::error_call(args, kwargs),
                "custom_error" => error_funcs::custom_error(args, kwargs),
                "defined" => Err("defined() belongs in {% if %}, not in {{ }}".into()),
                _ => Err(format!("unknown function '{func}'; known: {KNOWN}")),
            },
            _ => Err("{{ }} must hold a parameter, a typed parameter function, column(), columns(), error() or custom_error()".into()),
        }
    }

    /// The meaning of `{% if expr %}`.
    pub(crate) fn condition(&mut self, e: Expr) -> Result<Cond, String> {
        Ok(match e {
            Expr::Not(a) => Cond::Not(Box::new(self.condition(*a)?)),
            Expr::And(a, b) => {
                Cond::And(Box::new(self.condition(*a)?), Box::new(self.condition(*b)?))
            }
            Expr::Or(a, b) => {
                Cond::Or(Box::new(self.condition(*a)?), Box::new(self.condition(*b)?))
            }
            Expr::Cmp(op, l, r) => Cond::Cmp(op, self.operand(*l)?, self.operand(*r)?),
            Expr::In { item, set, negated } => Cond::In {
                item: self.operand(*item)?,
                set: self.operand(*set)?,
                negated,
            },
            Expr::Call {
                func,
                mut args,
                kwargs,
            } if func == "defined" => {
                if args.len() != 1 || !kwargs.is_empty() {
                    return Err("defined() takes exactly one parameter name".into());
                }
                match args.pop() {
                    Some(Expr::Name(n)) => Cond::Defined(self.untyped(n)?),
                    _ => {
                        return Err("defined() takes a parameter name, e.g. defined(country)".into())
                    }
                }
            }
            other => Cond::Truthy(self.operand(other)?),
        })
    }

    fn operand(&mut self, e: Expr) -> Result<Operand, String> {
        match e {
            Expr::Name(n) => Ok(Operand::Param(self.untyped(n)?)),
            Expr::Call { func, args, kwargs } if is_typed(&func) => {
                Ok(Operand::Param(self.typed(&func, args, kwargs)?))
            }
            Expr::Call { func, .. }
                if ["column", "columns", "error", "custom_error", "defined"]
                    .contains(&func.as_str()) =>
            {
                Err(format!("{func}() cannot be used as a value in a condition"))
            }
            Expr::Call { func, .. } => Err(format!("unknown function '{func}'; known: {KNOWN}")),
            Expr::List(items) => Ok(Operand::List(
                items
                    .into_iter()
                    .map(|i| self.operand(i))
                    .collect::<Result<_, _>>()?,
            )),
            Expr::Dict(_) => Err("a dict cannot be used in a condition".into()),
            Expr::Cmp(..) | Expr::In { .. } | Expr::Not(_) | Expr::And(..) | Expr::Or(..) => {
                Err("comparisons cannot be nested inside comparisons; use 'and'/'or'".into())
            }
            lit => Ok(Operand::Lit(literal(lit)?)),
        }
    }

    pub(crate) fn param_name(&self, func: &str, first: Option<Expr>) -> Result<String, String> {
        match first {
            Some(Expr::Name(n)) if is_identifier(&n) => Ok(n),
            _ => Err(format!(
                "{func}() needs a parameter name as its first argument, e.g. {func}(my_param)"
            )),
        }
    }

    fn untyped(&mut self, name: String) -> Result<String, String> {
        if !is_identifier(&name) {
            return Err(format!(
                "parameter name '{name}' must match [A-Za-z_][A-Za-z0-9_]*"
            ));
        }
        self.uses.push(ParamUse {
            name: name.clone(),
            line: self.line,
            ..ParamUse::default()
        });
        Ok(name)
    }

    /// `Int32(x, 10, description="…")`, `Array(x, 'Int32', default=…)`.
    fn typed(
        &mut self,
        func: &str,
        args: Vec<Expr>,
        kwargs: Vec<(String, Expr)>,
    ) -> Result<String, String> {
        let mut args = args.into_iter();
        let name = self.param_name(func, args.next())?;
        let ty = if func == "Array" {
            match args.next() {
                None => ParamType::array_of("String").expect("String arrays bind"),
                Some(Expr::Str(t)) => ParamType::array_of(&t).ok_or_else(|| {
                    format!("Array() element type must be String, an Int/UInt or a Float type, got '{t}'")
                })?,
                Some(_) => return Err("Array() takes the element type as its second argument, e.g. Array(ids, 'Int32')".into()),
            }
        } else {
            ParamType::scalar(func).expect("is_typed checked the name")
        };
        let positional_default = args.next().map(literal).transpose()?;
        if args.next().is_some() {
            let shape = if func == "Array" {
                "name, type, default"
            } else {
                "name, default"
            };
            return Err(format!("{func}() takes at most the positional arguments ({shape}); use keywords for the rest"));
        }
        let mut u = ParamUse {
            name: name.clone(),
            line: self.line,
            ty: Some(ty),
            default: positional_default,
            ..ParamUse::default()
        };
        self.kwargs(func, &mut u, kwargs, &TYPED_KWARGS)?;
        self.uses.push(u);
        Ok(name)
    }

    pub(crate) fn kwargs(
        &self,
        func: &str,
        u: &mut ParamUse,
        kwargs: Vec<(String, Expr)>,
        known: &[&str],
    ) -> Result<(), String> {
        for (k, v) in kwargs {
            let bad = |what: &str| format!("{func}(): {k}= must be {what}");
            match k.as_str() {
                _ if !known.contains(&k.as_str()) => {
                    return Err(format!(
                        "unknown keyword argument '{k}' in {func}(); expected one of: {}",
                        known.join(", ")
                    ))
                }
                "default" if u.default.is_some() => {
                    return Err(format!("{func}(): default given twice"))
                }
                "default" => u.default = Some(literal(v)?),
                "description" => match v {
                    Expr::Str(s) => u.description = Some(s),
                    _ => return Err(bad("a string")),
                },
                "required" => match v {
                    Expr::Bool(b) => u.required = Some(b),
                    _ => return Err(bad("True or False")),
                },
                "example" => u.example = Some(literal(v)?),
                "min" | "max" => {
                    let n = match v {
                        Expr::Int(i) => i as f64,
                        Expr::Float(f) => f,
                        _ => return Err(bad("a number")),
                    };
                    *(if k == "min" { &mut u.min } else { &mut u.max }) = Some(n);
                }
                _ => match literal(v)? {
                    Value::Array(items) => u.allowed = Some(items),
                    _ => return Err(bad("a list, e.g. allowed=['a', 'b']")),
                },
            }
        }
        Ok(())
    }
}

/// A literal as JSON: strings, numbers, True/False, None, lists of those.
pub(crate) fn literal(e: Expr) -> Result<Value, String> {
    Ok(match e {
        Expr::Str(s) => Value::String(s),
        Expr::Int(i) => Value::from(i),
        Expr::Float(f) => Value::from(f),
        Expr::Bool(b) => Value::Bool(b),
        Expr::None => Value::Null,
        Expr::List(items) => {
            Value::Array(items.into_iter().map(literal).collect::<Result<_, _>>()?)
        }
        _ => {
            return Err(
                "expected a literal value (string, number, True/False, None or a list)".into(),
            )
        }
    })
}
