//! The `.pipe` datafile: Tinybird's shape, read line by line.
//!
//! ```text
//! %                                  (optional, ignored)
//! DESCRIPTION >
//!     What the pipe answers.
//!
//! NODE filtered
//! DESCRIPTION >
//!     optional
//! SQL >
//!     %                              (optional, ignored)
//!     SELECT ...
//!
//! NODE endpoint
//! SQL >
//!     SELECT ... FROM filtered
//! TYPE endpoint                      (optional; default: the last node)
//! ```

use super::error::PipeLoadError;

/// A parsed datafile; the SQL is still template text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PipeFile {
    pub name: String,
    pub description: Option<String>,
    pub nodes: Vec<NodeDef>,
    /// Index into `nodes` of the node that answers requests.
    pub endpoint: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeDef {
    pub name: String,
    pub description: Option<String>,
    /// The SQL template with the block's indentation stripped.
    pub sql: String,
    /// 1-based line of the `NODE` keyword.
    pub line: usize,
    /// 1-based line in the file of the first line of `sql`, so template
    /// errors can point into the file.
    pub sql_line: usize,
}

/// `[A-Za-z_][A-Za-z0-9_]*`: pipe, node and parameter names.
pub fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The file name used in error messages: `<name>.pipe`.
pub(crate) fn file_label(name: &str) -> String {
    format!("{}.pipe", name.strip_suffix(".pipe").unwrap_or(name))
}

/// Parses a datafile. `name` is the pipe name (the file stem; a trailing
/// `.pipe` is tolerated).
pub fn parse_pipe_file(name: &str, text: &str) -> Result<PipeFile, PipeLoadError> {
    let stem = name.strip_suffix(".pipe").unwrap_or(name);
    let file = file_label(stem);
    if !is_identifier(stem) {
        let msg = format!("pipe name '{stem}' must match [A-Za-z_][A-Za-z0-9_]*");
        return Err(PipeLoadError::new(file, 0, msg));
    }
    Parser {
        file,
        lines: text.lines().collect(),
        description: None,
        nodes: Vec::new(),
        endpoint: None,
    }
    .run(stem)
}

struct Parser<'a> {
    file: String,
    lines: Vec<&'a str>,
    description: Option<String>,
    nodes: Vec<NodeDef>,
    endpoint: Option<usize>,
}

/// A node whose `SQL >` block may not have been seen yet.
struct Open {
    node: NodeDef,
    has_sql: bool,
}

fn is_indented(line: &str) -> bool {
    line.starts_with([' ', '\t'])
}

/// Shows at most 40 characters of an offending line.
fn shown(line: &str) -> String {
    let t = line.trim();
    match t.char_indices().nth(40) {
        Some((i, _)) => format!("{}…", &t[..i]),
        None => t.to_string(),
    }
}

impl Parser<'_> {
    fn err(&self, line: usize, msg: impl Into<String>) -> PipeLoadError {
        PipeLoadError::new(self.file.clone(), line, msg)
    }

    fn run(mut self, stem: &str) -> Result<PipeFile, PipeLoadError> {
        let mut open: Option<Open> = None;
        let mut seen_anything = false;
        let mut i = 0;
        while i < self.lines.len() {
            let (raw, lineno) = (self.lines[i], i + 1);
            i += 1;
            let t = raw.trim();
            if t.is_empty() || (t.starts_with('#') && !is_indented(raw)) {
                continue;
            }
            if is_indented(raw) {
                let msg = "unexpected indented line: indented text belongs under 'DESCRIPTION >' or 'SQL >'";
                return Err(self.err(lineno, msg));
            }
            if t == "%" && !seen_anything {
                continue;
            }
            seen_anything = true;
            let (keyword, rest) = t.split_once(char::is_whitespace).unwrap_or((t, ""));
            let (keyword, rest) = (keyword.to_ascii_uppercase(), rest.trim());
            match keyword.as_str() {
                "DESCRIPTION" | "SQL" if rest != ">" => {
                    let msg = format!("expected '{keyword} >' alone on its line, with the text indented below, found '{}'", shown(t));
                    return Err(self.err(lineno, msg));
                }
                "DESCRIPTION" => {
                    let (text, _, next) = self.block(i);
                    i = next;
                    let text = Some(text.trim().to_string()).filter(|s| !s.is_empty());
                    let slot = match open.as_mut() {
                        Some(o) => &mut o.node.description,
                        None => &mut self.description,
                    };
                    if slot.is_some() {
                        return Err(self.err(lineno, "duplicate 'DESCRIPTION >'"));
                    }
                    *slot = text;
                }
                "SQL" => {
                    let Some(o) = open.as_mut() else {
                        return Err(self.err(lineno, "expected 'NODE <name>' before 'SQL >'"));
                    };
                    if o.has_sql {
                        let msg = format!("duplicate 'SQL >' in NODE '{}'", o.node.name);
                        return Err(self.err(lineno, msg));
                    }
                    let (sql, sql_line, next) = self.block(i);
                    let (sql, sql_line) = strip_percent(&sql, sql_line);
                    if sql.trim().is_empty() {
                        let msg = format!(
                            "the SQL of NODE '{}' is empty: indent it below 'SQL >'",
                            o.node.name
                        );
                        return Err(self.err(lineno, msg));
                    }
                    i = next;
                    (o.node.sql, o.node.sql_line, o.has_sql) = (sql, sql_line, true);
                }
                "NODE" => {
                    self.close(open.take(), &format!("'{}'", shown(t)), lineno)?;
                    if !is_identifier(rest) {
                        let msg = format!("node name '{rest}' must match [A-Za-z_][A-Za-z0-9_]*");
                        return Err(self.err(lineno, msg));
                    }
                    if self.nodes.iter().any(|n| n.name.eq_ignore_ascii_case(rest)) {
                        return Err(self.err(lineno, format!("duplicate NODE '{rest}'")));
                    }
                    let node = NodeDef {
                        name: rest.to_string(),
                        description: None,
                        sql: String::new(),
                        line: lineno,
                        sql_line: 0,
                    };
                    open = Some(Open {
                        node,
                        has_sql: false,
                    });
                }
                "TYPE" => self.node_type(open.as_ref(), rest, lineno)?,
                "TOKEN" => {
                    let msg = "'TOKEN' lines are not supported: give tokens the PIPES:READ:<pipe> scope instead";
                    return Err(self.err(lineno, msg));
                }
                _ => return Err(self.unexpected(open.as_ref(), t, lineno)),
            }
        }
        let last = self.lines.len().max(1);
        self.close(open, "end of file", last)?;
        if self.nodes.is_empty() {
            return Err(self.err(
                last,
                "expected at least one 'NODE <name>' block, found end of file",
            ));
        }
        Ok(PipeFile {
            name: stem.to_string(),
            description: self.description,
            endpoint: self.endpoint.unwrap_or(self.nodes.len() - 1),
            nodes: self.nodes,
        })
    }

    fn unexpected(&self, open: Option<&Open>, t: &str, lineno: usize) -> PipeLoadError {
        let msg = match open {
            Some(o) if !o.has_sql => {
                format!("expected 'SQL >' in NODE '{}', found '{}'", o.node.name, shown(t))
            }
            Some(o) => format!(
                "expected 'NODE <name>', 'TYPE endpoint' or 'DESCRIPTION >' after NODE '{}', found '{}'",
                o.node.name,
                shown(t)
            ),
            None => format!("expected 'DESCRIPTION >' or 'NODE <name>', found '{}'", shown(t)),
        };
        self.err(lineno, msg)
    }

    fn node_type(
        &mut self,
        open: Option<&Open>,
        rest: &str,
        lineno: usize,
    ) -> Result<(), PipeLoadError> {
        let Some(o) = open else {
            return Err(self.err(lineno, "expected 'NODE <name>' before 'TYPE'"));
        };
        if !rest.eq_ignore_ascii_case("endpoint") {
            let msg = format!("only 'TYPE endpoint' is supported, found 'TYPE {rest}'");
            return Err(self.err(lineno, msg));
        }
        if let Some(prev) = self.endpoint {
            let msg = format!(
                "NODE '{}' is marked 'TYPE endpoint' but NODE '{}' already is; only one node answers",
                o.node.name, self.nodes[prev].name
            );
            return Err(self.err(lineno, msg));
        }
        // The open node is pushed to `nodes` when closed, at this index.
        self.endpoint = Some(self.nodes.len());
        Ok(())
    }

    /// Ends a node at `found` (the next keyword line, or end of file).
    fn close(
        &mut self,
        open: Option<Open>,
        found: &str,
        lineno: usize,
    ) -> Result<(), PipeLoadError> {
        match open {
            None => Ok(()),
            Some(o) if !o.has_sql => {
                let msg = format!("expected 'SQL >' in NODE '{}', found {found}", o.node.name);
                Err(self.err(lineno, msg))
            }
            Some(o) => {
                self.nodes.push(o.node);
                Ok(())
            }
        }
    }

    /// Reads the indented block starting at index `start`; returns the
    /// dedented text, the 1-based line of its first line and the index after.
    fn block(&self, start: usize) -> (String, usize, usize) {
        let mut end = start;
        while end < self.lines.len() {
            let l = self.lines[end];
            if !(l.trim().is_empty() || is_indented(l)) {
                break;
            }
            end += 1;
        }
        let next = end;
        let mut first = start;
        while first < end && self.lines[first].trim().is_empty() {
            first += 1;
        }
        while end > first && self.lines[end - 1].trim().is_empty() {
            end -= 1;
        }
        let body = &self.lines[first..end];
        let indent = body
            .iter()
            .filter(|l| !l.trim().is_empty())
            .map(|l| l.len() - l.trim_start_matches([' ', '\t']).len())
            .min()
            .unwrap_or(0);
        let text: Vec<&str> = body
            .iter()
            .map(|l| {
                if l.trim().is_empty() {
                    ""
                } else {
                    &l[indent..]
                }
            })
            .collect();
        (text.join("\n"), first + 1, next)
    }
}

/// Drops Tinybird's `%` marker line at the top of an SQL block: every SQL
/// block is a template here, so the marker carries no meaning.
fn strip_percent(sql: &str, line: usize) -> (String, usize) {
    match sql.split_once('\n') {
        Some((first, rest)) if first.trim() == "%" => {
            let skipped = rest.len() - rest.trim_start_matches('\n').len();
            (rest[skipped..].to_string(), line + 1 + skipped)
        }
        None if sql.trim() == "%" => (String::new(), line),
        _ => (sql.to_string(), line),
    }
}

#[cfg(test)]
mod tests;
