//! The pipes engine: `.pipe` files → loaded [`Pipe`]s → per request, one
//! PostgreSQL statement with bind parameters → rows → JSON/CSV/NDJSON.
//! Loading and compiling are pure (no I/O, no async); `registry` reads the
//! folder, `run` executes on PostgreSQL, `format` encodes the answer.
//!
//! ```text
//! let pipe = Pipe::load("top_customers", &std::fs::read_to_string(path)?)?;
//! let q = pipe.compile(&request_params)?; // q.sql, q.binds, q.unknown_params
//! ```
//!
//! # Template language (reference)
//!
//! Every node's SQL is a template, parsed when the pipe is loaded; every
//! mistake in it is a load error with `file:line`. Values never enter the
//! SQL text: each parameter becomes a placeholder `$n::<pg type>` and its
//! value a bind.
//!
//! | construct | meaning |
//! |---|---|
//! | `{{ Int32(limit, 100, min=1, max=1000, description="…") }}` | typed parameter, positional default; kwargs `default=`, `description=`, `required=True/False`, `example=`, `min=`/`max=` (numbers), `allowed=[…]` |
//! | `String Int8 Int16 Int32 Int64 UInt8 UInt16 UInt32 UInt64 Float32 Float64 Boolean Date DateTime DateTime64` | scalar types (binds: `text`, `int8`, `float8`, `bool`, `date`, `timestamptz`) |
//! | `{{ Array(ids, 'Int32', default='1,2') }}` | array of String/Int*/UInt*/Float* (`text[]`, `int8[]`, `float8[]`); a JSON array or `a,b,c` |
//! | `{{ x }}` | the parameter's value; `String` unless declared typed elsewhere |
//! | `{{ column(sort, 'ltv', allowed=['ltv','revenue']) }}` | one identifier from the list, emitted as `"ltv"` |
//! | `{{ columns(cols, 'a,b', allowed=['a','b','c']) }}` | several, emitted as `"a", "b"` |
//! | `{% if … %} … {% elif … %} … {% else %} … {% end %}` | conditional SQL (`{% endif %}` also closes), nestable |
//! | `defined(x)`, `not`, `and`, `or`, `( )`, `== != < <= > >=`, `in [..]`, `not in` | condition expressions; parameters compare by typed value (given, else default, else None) |
//! | `{{ error('message', 404) }}`, `{{ custom_error({'error': 'message', 'code': 400}) }}` | fail the request with that 4xx when rendered |
//! | `{# comment #}` | dropped; `{{!`, `{%!`, `{#!` write a literal `{{`, `{%`, `{#` |
//!
//! A file is Tinybird's datafile shape (`DESCRIPTION >`, `NODE <name>` blocks
//! with `SQL >`, `TYPE endpoint` on the answering node, default the last);
//! the nodes before the answering one become CTEs named after them.
//! `token`, `q` and `format` are reserved request parameters.
//!
//! The first typed use of a parameter declares it (over all nodes); later
//! uses may add a missing default/description/… but not contradict it.
//! Request values: a missing `required=True` parameter or a value that does
//! not parse or violates `min`/`max`/`allowed` → [`PipeError::BadParam`];
//! an empty string counts as not given (except for `String`).

pub mod bind;
mod builtins;
pub mod catalog;
pub mod check;
mod columns;
pub mod compile;
mod cond;
pub mod error;
mod error_funcs;
mod expr;
pub mod file;
pub mod format;
mod lex;
mod openapi;
pub mod params;
pub mod registry;
mod render;
pub mod run;
mod template;
pub mod types;
pub mod values;

#[cfg(test)]
mod proptests;

pub use bind::BindValue;
pub use compile::{CompiledQuery, Pipe, PipeNode};
pub use error::{PipeError, PipeLoadError};
pub use file::{parse_pipe_file, NodeDef, PipeFile};
pub use params::{ParamDecl, RESERVED_PARAMS};
pub use types::ParamType;
pub use values::ParamValue;
