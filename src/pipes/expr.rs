//! Parser of the Python-ish expression language into a generic AST. What
//! the names and calls *mean* is decided later (see `builtins`), so this
//! file only knows syntax.
//!
//! Precedence, loosest first: `or`, `and`, `not`, comparisons
//! (`== != < <= > >= in`, `not in`; not chained), primaries (literals,
//! names, calls with positional and keyword arguments, lists, tuples,
//! dicts, parentheses).

use super::lex::Tok;

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Expr {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    None,
    Name(String),
    /// A list `[..]` or a tuple `(a, b)`.
    List(Vec<Expr>),
    Dict(Vec<(Expr, Expr)>),
    Call {
        func: String,
        args: Vec<Expr>,
        kwargs: Vec<(String, Expr)>,
    },
    Not(Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Cmp(CmpOp, Box<Expr>, Box<Expr>),
    In {
        item: Box<Expr>,
        set: Box<Expr>,
        negated: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// Parses a whole token list as one expression.
pub(crate) fn parse_expr(toks: &[Tok]) -> Result<Expr, String> {
    if toks.is_empty() {
        return Err("expected an expression, found nothing".to_string());
    }
    let mut p = Parser { toks, pos: 0 };
    let e = p.or()?;
    match p.peek() {
        None => Ok(e),
        Some(t) => Err(format!("unexpected {} after the expression", describe(t))),
    }
}

fn describe(t: &Tok) -> String {
    match t {
        Tok::Name(n) => format!("'{n}'"),
        Tok::Str(s) => format!("string '{s}'"),
        Tok::Int(n) => format!("number {n}"),
        Tok::Float(f) => format!("number {f}"),
        Tok::Punct(p) => format!("'{p}'"),
    }
}

struct Parser<'a> {
    toks: &'a [Tok],
    pos: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn is_word(&self, w: &str) -> bool {
        matches!(self.peek(), Some(Tok::Name(n)) if n == w)
    }

    fn eat_punct(&mut self, p: &str) -> bool {
        if matches!(self.peek(), Some(Tok::Punct(q)) if *q == p) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect_punct(&mut self, p: &str) -> Result<(), String> {
        if self.eat_punct(p) {
            return Ok(());
        }
        match self.peek() {
            Some(t) => Err(format!("expected '{p}', found {}", describe(t))),
            None => Err(format!("expected '{p}', found the end of the expression")),
        }
    }

    fn or(&mut self) -> Result<Expr, String> {
        let mut e = self.and()?;
        while self.is_word("or") {
            self.pos += 1;
            e = Expr::Or(Box::new(e), Box::new(self.and()?));
        }
        Ok(e)
    }

    fn and(&mut self) -> Result<Expr, String> {
        let mut e = self.not()?;
        while self.is_word("and") {
            self.pos += 1;
            e = Expr::And(Box::new(e), Box::new(self.not()?));
        }
        Ok(e)
    }

    fn not(&mut self) -> Result<Expr, String> {
        if self.is_word("not") {
            self.pos += 1;
            return Ok(Expr::Not(Box::new(self.not()?)));
        }
        self.comparison()
    }

    fn comparison(&mut self) -> Result<Expr, String> {
        let left = self.primary()?;
        let op = match self.peek() {
            Some(Tok::Punct("==")) => CmpOp::Eq,
            Some(Tok::Punct("!=")) => CmpOp::Ne,
            Some(Tok::Punct("<")) => CmpOp::Lt,
            Some(Tok::Punct("<=")) => CmpOp::Le,
            Some(Tok::Punct(">")) => CmpOp::Gt,
            Some(Tok::Punct(">=")) => CmpOp::Ge,
            Some(Tok::Name(n)) if n == "in" || n == "not" => {
                let negated = n == "not";
                self.pos += 1;
                if negated && !self.is_word("in") {
                    return Err("expected 'in' after 'not'".to_string());
                }
                if negated {
                    self.pos += 1;
                }
                let set = self.primary()?;
                return Ok(Expr::In {
                    item: Box::new(left),
                    set: Box::new(set),
                    negated,
                });
            }
            _ => return Ok(left),
        };
        self.pos += 1;
        let right = self.primary()?;
        Ok(Expr::Cmp(op, Box::new(left), Box::new(right)))
    }

    fn primary(&mut self) -> Result<Expr, String> {
        let Some(tok) = self.peek().cloned() else {
            return Err("expected a value, found the end of the expression".to_string());
        };
        self.pos += 1;
        match tok {
            Tok::Str(s) => Ok(Expr::Str(s)),
            Tok::Int(n) => Ok(Expr::Int(n)),
            Tok::Float(f) => Ok(Expr::Float(f)),
            Tok::Punct("-") => match self.peek().cloned() {
                Some(Tok::Int(n)) => {
                    self.pos += 1;
                    Ok(Expr::Int(-n))
                }
                Some(Tok::Float(f)) => {
                    self.pos += 1;
                    Ok(Expr::Float(-f))
                }
                _ => Err("'-' must be followed by a number".to_string()),
            },
            Tok::Punct("[") => Ok(Expr::List(self.items("]")?)),
            Tok::Punct("(") => {
                let mut items = self.items(")")?;
                let was_tuple = items.len() != 1
                    || matches!(self.toks.get(self.pos - 2), Some(Tok::Punct(",")));
                match (was_tuple, items.pop()) {
                    (false, Some(single)) => Ok(single),
                    (_, last) => Ok(Expr::List(items.into_iter().chain(last).collect())),
                }
            }
            Tok::Punct("{") => self.dict(),
            Tok::Name(n) => match n.as_str() {
                "True" => Ok(Expr::Bool(true)),
                "False" => Ok(Expr::Bool(false)),
                "None" => Ok(Expr::None),
                "and" | "or" | "not" | "in" => Err(format!("expected a value, found '{n}'")),
                _ if self.eat_punct("(") => self.call(n),
                _ => Ok(Expr::Name(n)),
            },
            other => Err(format!("expected a value, found {}", describe(&other))),
        }
    }

    /// Comma-separated expressions up to `close`; a trailing comma is fine.
    fn items(&mut self, close: &str) -> Result<Vec<Expr>, String> {
        let mut items = Vec::new();
        while !self.eat_punct(close) {
            items.push(self.or()?);
            if !self.eat_punct(",") {
                self.expect_punct(close)?;
                break;
            }
        }
        Ok(items)
    }

    fn dict(&mut self) -> Result<Expr, String> {
        let mut pairs = Vec::new();
        while !self.eat_punct("}") {
            let k = self.or()?;
            self.expect_punct(":")?;
            pairs.push((k, self.or()?));
            if !self.eat_punct(",") {
                self.expect_punct("}")?;
                break;
            }
        }
        Ok(Expr::Dict(pairs))
    }

    fn call(&mut self, func: String) -> Result<Expr, String> {
        let (mut args, mut kwargs) = (Vec::new(), Vec::<(String, Expr)>::new());
        while !self.eat_punct(")") {
            let kw = match (self.peek(), self.toks.get(self.pos + 1)) {
                (Some(Tok::Name(k)), Some(Tok::Punct("="))) => Some(k.clone()),
                _ => None,
            };
            if let Some(k) = kw {
                self.pos += 2;
                if kwargs.iter().any(|(seen, _)| *seen == k) {
                    return Err(format!("keyword argument '{k}' given twice in {func}()"));
                }
                kwargs.push((k, self.or()?));
            } else if !kwargs.is_empty() {
                return Err(format!(
                    "positional argument after keyword arguments in {func}()"
                ));
            } else {
                args.push(self.or()?);
            }
            if !self.eat_punct(",") {
                self.expect_punct(")")?;
                break;
            }
        }
        Ok(Expr::Call { func, args, kwargs })
    }
}

#[cfg(test)]
mod tests;
