//! The template language (Tinybird's, a Tornado subset) parsed into an AST
//! once, when the pipe is loaded: text, `{{ output }}`, `{% if %}` blocks
//! and `{# comments #}`. `{{!`, `{%!` and `{#!` write a literal `{{`, `{%`
//! or `{#` (for SQL that needs one, e.g. a nested array literal).

use super::builtins::Resolver;
use super::cond::Cond;
use super::expr::parse_expr;
use super::lex::{lex_until, Tok};
use super::params::ParamUse;

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum TNode {
    Text(String),
    /// A bind placeholder for the parameter's value.
    Param(String),
    /// Identifier(s) chosen by the parameter from its allowed list.
    Column {
        param: String,
        multi: bool,
    },
    /// Rendering this fails the request.
    Error {
        message: String,
        status: u16,
    },
    If {
        branches: Vec<Branch>,
        otherwise: Vec<TNode>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Branch {
    pub cond: Cond,
    pub line: usize,
    pub body: Vec<TNode>,
}

enum Piece {
    Node(TNode),
    If(Cond, usize),
    Elif(Cond, usize),
    Else(usize),
    End(usize),
}

/// Parses template `src`, whose first line is line `first_line` of the
/// file. Parameter uses are appended to `uses`. Errors are (line, message).
pub(crate) fn parse(
    src: &str,
    first_line: usize,
    uses: &mut Vec<ParamUse>,
) -> Result<Vec<TNode>, (usize, String)> {
    let pieces = scan(src, first_line, uses)?;
    let mut it = pieces.into_iter();
    let (nodes, stop) = body(&mut it)?;
    match stop {
        None => Ok(nodes),
        Some(Piece::Elif(_, l)) => Err((l, "'{% elif %}' without a matching '{% if %}'".into())),
        Some(Piece::Else(l)) => Err((l, "'{% else %}' without a matching '{% if %}'".into())),
        Some(Piece::End(l)) => Err((l, "'{% end %}' without a matching '{% if %}'".into())),
        Some(_) => unreachable!("body() stops only at elif, else, end or the end"),
    }
}

/// Nodes up to the next `elif`/`else`/`end` (returned) or the end (None).
fn body(
    it: &mut std::vec::IntoIter<Piece>,
) -> Result<(Vec<TNode>, Option<Piece>), (usize, String)> {
    let mut nodes: Vec<TNode> = Vec::new();
    while let Some(p) = it.next() {
        match p {
            Piece::Node(TNode::Text(t)) => match nodes.last_mut() {
                Some(TNode::Text(prev)) => prev.push_str(&t),
                _ => nodes.push(TNode::Text(t)),
            },
            Piece::Node(n) => nodes.push(n),
            Piece::If(cond, line) => nodes.push(if_block(it, cond, line)?),
            stop => return Ok((nodes, Some(stop))),
        }
    }
    Ok((nodes, None))
}

fn if_block(
    it: &mut std::vec::IntoIter<Piece>,
    cond: Cond,
    line: usize,
) -> Result<TNode, (usize, String)> {
    let mut branches = Vec::new();
    let (mut cond, mut at) = (cond, line);
    loop {
        let (nodes, stop) = body(it)?;
        branches.push(Branch {
            cond,
            line: at,
            body: nodes,
        });
        match stop {
            Some(Piece::Elif(c, l)) => (cond, at) = (c, l),
            Some(Piece::Else(_)) => {
                let (otherwise, stop) = body(it)?;
                return match stop {
                    Some(Piece::End(_)) => Ok(TNode::If {
                        branches,
                        otherwise,
                    }),
                    Some(Piece::Elif(_, l)) => Err((l, "'{% elif %}' after '{% else %}'".into())),
                    Some(Piece::Else(l)) => {
                        Err((l, "a second '{% else %}' in one '{% if %}'".into()))
                    }
                    _ => Err((line, "'{% if %}' is never closed with '{% end %}'".into())),
                };
            }
            Some(Piece::End(_)) => {
                return Ok(TNode::If {
                    branches,
                    otherwise: Vec::new(),
                })
            }
            _ => return Err((line, "'{% if %}' is never closed with '{% end %}'".into())),
        }
    }
}

/// Splits the source into text, outputs and tags.
fn scan(
    src: &str,
    first_line: usize,
    uses: &mut Vec<ParamUse>,
) -> Result<Vec<Piece>, (usize, String)> {
    let mut pieces = Vec::new();
    let mut text = String::new();
    let mut pos = 0;
    let line_at = |pos: usize| first_line + src[..pos].matches('\n').count();
    while let Some(off) = src[pos..].find('{') {
        let start = pos + off;
        let rest = &src[start..];
        let opener = rest.get(..2).unwrap_or("");
        if !matches!(opener, "{{" | "{%" | "{#") {
            text.push_str(&src[pos..=start]);
            pos = start + 1;
            continue;
        }
        text.push_str(&src[pos..start]);
        if rest[2..].starts_with('!') {
            text.push_str(opener);
            pos = start + 3;
            continue;
        }
        if !text.is_empty() {
            pieces.push(Piece::Node(TNode::Text(std::mem::take(&mut text))));
        }
        let line = line_at(start);
        let at = |m: String| (line, m);
        if opener == "{#" {
            let end = rest
                .find("#}")
                .ok_or_else(|| at("unterminated comment: '{#' without '#}'".into()))?;
            pos = start + end + 2;
            continue;
        }
        let term = if opener == "{{" { "}}" } else { "%}" };
        let (toks, used) =
            lex_until(&rest[2..], term).map_err(|m| at(format!("in '{opener} {term}': {m}")))?;
        pos = start + 2 + used;
        let mut r = Resolver { line, uses };
        if opener == "{{" {
            let e = parse_expr(&toks).map_err(|m| at(format!("in '{{{{ }}}}': {m}")))?;
            pieces.push(Piece::Node(r.output(e).map_err(at)?));
            continue;
        }
        let (tag, args) = match toks.split_first() {
            Some((Tok::Name(t), args)) => (t.as_str(), args),
            _ => return Err(at("expected a tag name after '{%'".into())),
        };
        let no_args = |p: Piece| match args.is_empty() {
            true => Ok(p),
            false => Err(at(format!("'{{% {tag} %}}' takes no expression"))),
        };
        let cond = |r: &mut Resolver| -> Result<Cond, (usize, String)> {
            let e = parse_expr(args).map_err(|m| at(format!("in '{{% {tag} %}}': {m}")))?;
            r.condition(e).map_err(at)
        };
        pieces.push(match tag {
            "if" => Piece::If(cond(&mut r)?, line),
            "elif" => Piece::Elif(cond(&mut r)?, line),
            "else" => no_args(Piece::Else(line))?,
            "end" | "endif" => no_args(Piece::End(line))?,
            other => {
                return Err(at(format!(
                    "unsupported tag '{{% {other} %}}': only if, elif, else and end (or endif) are supported"
                )))
            }
        });
    }
    text.push_str(&src[pos..]);
    if !text.is_empty() {
        pieces.push(Piece::Node(TNode::Text(text)));
    }
    Ok(pieces)
}

#[cfg(test)]
mod tests;
