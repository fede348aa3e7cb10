//! `error()` and `custom_error()`: a branch that fails the request with a
//! 4xx when the template renders it.

use super::expr::Expr;
use super::template::TNode;

fn status_of(e: Option<Expr>, func: &str) -> Result<u16, String> {
    match e {
        None => Ok(400),
        Some(Expr::Int(n)) if (400..500).contains(&n) => Ok(n as u16),
        _ => Err(format!("{func}() status code must be a 4xx number")),
    }
}

/// `error('message', 400)` or `error('message', code=404)`.
pub(crate) fn error_call(args: Vec<Expr>, kwargs: Vec<(String, Expr)>) -> Result<TNode, String> {
    let mut args = args.into_iter();
    let Some(Expr::Str(message)) = args.next() else {
        return Err("error() needs a message string as its first argument".into());
    };
    let mut code = args.next();
    for (k, v) in kwargs {
        if k != "code" || code.is_some() {
            return Err(format!("error() takes (message, code); unexpected '{k}='"));
        }
        code = Some(v);
    }
    if args.next().is_some() {
        return Err("error() takes (message, code)".into());
    }
    Ok(TNode::Error {
        message,
        status: status_of(code, "error")?,
    })
}

/// `custom_error({'error': 'message', 'code': 400})`.
pub(crate) fn custom_error(args: Vec<Expr>, kwargs: Vec<(String, Expr)>) -> Result<TNode, String> {
    let usage = "custom_error() takes one dict: {'error': 'message', 'code': 400}";
    let (Some(Expr::Dict(pairs)), 1, true) = (args.first().cloned(), args.len(), kwargs.is_empty())
    else {
        return Err(usage.into());
    };
    let (mut message, mut code) = (None, None);
    for (k, v) in pairs {
        match (k, v) {
            (Expr::Str(k), Expr::Str(m)) if k == "error" => message = Some(m),
            (Expr::Str(k), v) if k == "code" => code = Some(v),
            _ => return Err(usage.into()),
        }
    }
    let message = message.ok_or(usage)?;
    Ok(TNode::Error {
        message,
        status: status_of(code, "custom_error")?,
    })
}
