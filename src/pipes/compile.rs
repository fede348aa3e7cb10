//! A loaded pipe and its compilation: request values + the template AST →
//! one PostgreSQL statement with `$n::type` placeholders and their binds.
//!
//! The SQL text depends only on which branches were taken and which
//! identifiers `column()`/`columns()` chose, never on a value's content, so
//! it can key a prepared-statement cache.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::Value;
use sha2::Digest;

use super::bind::BindValue;
use super::cond::{self, Env};
use super::error::{PipeError, PipeLoadError};
use super::file::{file_label, parse_pipe_file};
use super::params::{self, ParamDecl, RESERVED_PARAMS};
use super::render::Renderer;
use super::template::{self, TNode};

#[derive(Debug, Clone)]
pub struct Pipe {
    name: String,
    description: Option<String>,
    nodes: Vec<PipeNode>,
    endpoint: usize,
    params: Vec<ParamDecl>,
    /// SHA-256 of the file's text: a changed file (after a reload) gives
    /// different ETags and cache keys (src/cache/answers.rs).
    source_hash: [u8; 32],
}

#[derive(Debug, Clone)]
pub struct PipeNode {
    pub name: String,
    pub description: Option<String>,
    /// The node's SQL template as written (indentation stripped).
    pub sql: String,
    pub(crate) template: Vec<TNode>,
}

/// What to run: `sql` with `binds[i]` for `$i+1`.
#[derive(Debug, Clone, PartialEq)]
pub struct CompiledQuery {
    pub sql: String,
    pub binds: Vec<BindValue>,
    /// Request parameters the pipe does not declare (sorted; `token`, `q`
    /// and `format` are never listed).
    pub unknown_params: Vec<String>,
}

impl Pipe {
    /// Parses the datafile and every node's template and collects the
    /// parameter declarations: every problem in the file surfaces here.
    pub fn load(name: &str, text: &str) -> Result<Pipe, PipeLoadError> {
        let file = parse_pipe_file(name, text)?;
        let label = file_label(&file.name);
        let at = |(line, msg): (usize, String)| PipeLoadError::new(label.clone(), line, msg);
        let mut uses = Vec::new();
        let mut nodes = Vec::new();
        for n in file.nodes {
            let template = template::parse(&n.sql, n.sql_line, &mut uses).map_err(at)?;
            nodes.push(PipeNode {
                name: n.name,
                description: n.description,
                sql: n.sql,
                template,
            });
        }
        let params = params::collect(&uses).map_err(at)?;
        for node in &mut nodes {
            type_check(&mut node.template, &params).map_err(at)?;
        }
        Ok(Pipe {
            name: file.name,
            description: file.description,
            nodes,
            endpoint: file.endpoint,
            params,
            source_hash: sha2::Sha256::digest(text.as_bytes()).into(),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn source_hash(&self) -> &[u8; 32] {
        &self.source_hash
    }

    pub fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }

    pub fn nodes(&self) -> &[PipeNode] {
        &self.nodes
    }

    pub fn endpoint_node(&self) -> &PipeNode {
        &self.nodes[self.endpoint]
    }

    /// Declarations in first-use order.
    pub fn params(&self) -> &[ParamDecl] {
        &self.params
    }

    pub fn param(&self, name: &str) -> Option<&ParamDecl> {
        self.params.iter().find(|d| d.name == name)
    }

    /// Compiles the pipe for one request. Nodes before the endpoint node
    /// become CTEs named after them (lower-cased, so unquoted references in
    /// any case resolve); nodes after it are not used.
    pub fn compile(&self, values: &BTreeMap<String, Value>) -> Result<CompiledQuery, PipeError> {
        let mut effective = BTreeMap::new();
        let mut given = BTreeSet::new();
        for d in &self.params {
            let v = match values.get(&d.name) {
                Some(v) => d.parse(v)?,
                None => None,
            };
            if v.is_some() {
                given.insert(d.name.clone());
            } else if d.required {
                return Err(PipeError::missing_param(&d.name, &d.expected()));
            }
            effective.insert(d.name.clone(), v.or_else(|| d.default.clone()));
        }
        let unknown_params = values
            .keys()
            .filter(|k| self.param(k).is_none() && !RESERVED_PARAMS.contains(&k.as_str()))
            .cloned()
            .collect();
        let mut r = Renderer {
            pipe: self,
            env: Env {
                values: &effective,
                given: &given,
            },
            binds: Vec::new(),
            slots: HashMap::new(),
        };
        let mut ctes = Vec::new();
        for node in &self.nodes[..self.endpoint] {
            let sql = r.node(node)?;
            ctes.push(format!(
                "\"{}\" AS (\n{sql}\n)",
                node.name.to_ascii_lowercase()
            ));
        }
        let main = r.node(self.endpoint_node())?;
        Ok(CompiledQuery {
            sql: with_ctes(&ctes, &main),
            binds: r.binds,
            unknown_params,
        })
    }

    /// Request values built from each parameter's example, else default,
    /// else (for required ones) a made-up valid value: enough to compile
    /// and EXPLAIN the pipe when it is loaded.
    pub fn example_values(&self) -> BTreeMap<String, Value> {
        let mut out = BTreeMap::new();
        for d in &self.params {
            let v = match (&d.example, &d.default) {
                (Some(e), _) => Value::String(e.clone()),
                (None, Some(v)) => v.to_json(),
                (None, None) if d.required => synthetic(d),
                _ => continue,
            };
            out.insert(d.name.clone(), v);
        }
        out
    }
}

fn type_check(nodes: &mut [TNode], decls: &[ParamDecl]) -> Result<(), (usize, String)> {
    for n in nodes {
        if let TNode::If {
            branches,
            otherwise,
        } = n
        {
            for b in branches {
                cond::type_check(&mut b.cond, decls).map_err(|m| (b.line, m))?;
                type_check(&mut b.body, decls)?;
            }
            type_check(otherwise, decls)?;
        }
    }
    Ok(())
}

/// A valid value for a required parameter without example or default.
fn synthetic(d: &ParamDecl) -> Value {
    use super::types::ParamType as T;
    let elem = match &d.ty {
        T::Array(e) => &**e,
        t => t,
    };
    let one = match (&d.allowed, elem) {
        (Some(a), _) => Value::String(a[0].clone()),
        (_, T::String) => Value::from("example"),
        (_, T::Boolean) => Value::from("false"),
        (_, T::Date) => Value::from("2024-01-01"),
        (_, T::DateTime | T::DateTime64) => Value::from("2024-01-01 00:00:00"),
        (_, t) => {
            let (lo, hi) = (d.min.unwrap_or(f64::MIN), d.max.unwrap_or(f64::MAX));
            let n = 0f64.clamp(lo, hi);
            if t.is_float() {
                Value::from(n)
            } else {
                Value::from(n.ceil() as i64)
            }
        }
    };
    match d.ty {
        T::Array(_) => Value::Array(vec![one]),
        _ => one,
    }
}

/// Prepends the CTEs; an endpoint that starts with its own `WITH` gets
/// them merged into its list, since `WITH a AS (…) WITH b AS (…)` is not SQL.
fn with_ctes(ctes: &[String], main: &str) -> String {
    if ctes.is_empty() {
        return main.to_string();
    }
    let list = ctes.join(",\n");
    let body = main.trim_start();
    let word = |s: &str, w: &str| {
        s.get(..w.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(w))
            && s[w.len()..].starts_with(char::is_whitespace)
    };
    if word(body, "WITH") {
        let rest = body[4..].trim_start();
        if word(rest, "RECURSIVE") {
            return format!("WITH RECURSIVE {list},\n{}", rest[9..].trim_start());
        }
        return format!("WITH {list},\n{rest}");
    }
    format!("WITH {list}\n{main}")
}

#[cfg(test)]
mod tests;
