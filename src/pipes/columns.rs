//! `column()` and `columns()`: identifiers chosen by a parameter, only
//! ever from the `allowed` list the template declares.

use super::builtins::{literal, Resolver};
use super::expr::Expr;
use super::params::ParamUse;
use super::template::TNode;
use super::types::ParamType;
use serde_json::Value;

impl Resolver<'_> {
    /// `column(x, 'default', allowed=[…])`: one identifier from the list;
    /// `columns(x, 'a,b', allowed=[…])`: several.
    pub(crate) fn column(
        &mut self,
        func: &str,
        args: Vec<Expr>,
        kwargs: Vec<(String, Expr)>,
    ) -> Result<TNode, String> {
        let mut args = args.into_iter();
        let name = self.param_name(func, args.next())?;
        let multi = func == "columns";
        let ty = if multi {
            ParamType::array_of("String").expect("String arrays bind")
        } else {
            ParamType::String
        };
        let default = args.next().map(literal).transpose()?;
        if args.next().is_some() {
            return Err(format!("{func}() takes (name, default, allowed=[...])"));
        }
        let mut u = ParamUse {
            name: name.clone(),
            line: self.line,
            ty: Some(ty),
            default,
            ..ParamUse::default()
        };
        self.kwargs(
            func,
            &mut u,
            kwargs,
            &["default", "allowed", "description", "required", "example"],
        )?;
        match &u.allowed {
            None => {
                return Err(format!(
                    "{func}() needs allowed=[...]: the only columns it may emit"
                ))
            }
            Some(a) if !a.iter().all(Value::is_string) => {
                return Err(format!(
                    "{func}(): allowed= must list column names as strings"
                ))
            }
            _ => {}
        }
        if u.default.is_none() {
            return Err(format!(
                "{func}() needs a default column as its second argument"
            ));
        }
        self.uses.push(u);
        Ok(TNode::Column { param: name, multi })
    }
}
