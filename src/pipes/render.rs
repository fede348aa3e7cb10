//! Rendering one node's template for one request: text as written,
//! parameters as `$n::type` placeholders (one per parameter, reused),
//! `column()` choices as quoted identifiers, `{% if %}` by evaluating the
//! conditions, `error()` as a failed request.

use std::collections::HashMap;
use std::fmt::Write;

use super::bind::BindValue;
use super::compile::{Pipe, PipeNode};
use super::cond::{self, Env};
use super::error::PipeError;
use super::template::TNode;
use super::values::ParamValue;

pub(crate) struct Renderer<'a> {
    pub pipe: &'a Pipe,
    pub env: Env<'a>,
    pub binds: Vec<BindValue>,
    /// Parameter name → its placeholder number (1-based).
    pub slots: HashMap<String, usize>,
}

impl Renderer<'_> {
    /// One node's SQL, without trailing whitespace or `;` (it may be
    /// wrapped in a CTE or a subquery).
    pub(crate) fn node(&mut self, node: &PipeNode) -> Result<String, PipeError> {
        let mut out = String::new();
        self.render(&node.template, &mut out)?;
        Ok(out
            .trim_end_matches(|c: char| c.is_whitespace() || c == ';')
            .to_string())
    }

    fn render(&mut self, nodes: &[TNode], out: &mut String) -> Result<(), PipeError> {
        for n in nodes {
            match n {
                TNode::Text(t) => out.push_str(t),
                TNode::Param(p) => {
                    let (slot, ty) = self.slot(p);
                    let _ = write!(out, "${slot}::{ty}");
                }
                TNode::Column { param, multi } => out.push_str(&self.identifiers(param, *multi)?),
                TNode::Error { message, status } => {
                    return Err(PipeError::Custom {
                        message: message.clone(),
                        status: *status,
                    })
                }
                TNode::If {
                    branches,
                    otherwise,
                } => {
                    let taken = branches.iter().find(|b| cond::eval(&b.cond, &self.env));
                    self.render(taken.map_or(otherwise, |b| &b.body), out)?;
                }
            }
        }
        Ok(())
    }

    fn value(&self, param: &str) -> Option<&ParamValue> {
        self.env.values.get(param).and_then(Option::as_ref)
    }

    fn slot(&mut self, param: &str) -> (usize, &'static str) {
        let decl = self
            .pipe
            .param(param)
            .expect("every template parameter is declared");
        let ty = decl.ty.pg_type();
        if let Some(&n) = self.slots.get(param) {
            return (n, ty);
        }
        self.binds
            .push(BindValue::from_param(&decl.ty, self.value(param)));
        self.slots.insert(param.to_string(), self.binds.len());
        (self.binds.len(), ty)
    }

    /// The chosen column(s), double-quoted. Values were checked against the
    /// allowed list when parsed, and defaults when the pipe was loaded.
    fn identifiers(&self, param: &str, multi: bool) -> Result<String, PipeError> {
        let quote = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
        let decl = self
            .pipe
            .param(param)
            .expect("every template parameter is declared");
        match self.value(param) {
            Some(ParamValue::Array(items)) if multi && !items.is_empty() => Ok(items
                .iter()
                .map(|i| quote(&i.canonical()))
                .collect::<Vec<_>>()
                .join(", ")),
            Some(ParamValue::Str(s)) if !multi => Ok(quote(s)),
            Some(v) => Err(PipeError::bad_param(
                param,
                &decl.expected(),
                &v.canonical(),
            )),
            None => Err(PipeError::missing_param(param, &decl.expected())),
        }
    }
}
