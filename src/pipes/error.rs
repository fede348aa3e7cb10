//! Errors of the pipes engine: one for loading a `.pipe` file (a bug in the
//! file, reported with file and line), one for compiling a request (a bad
//! request value, or an `error()` branch the template took).

/// A problem in a `.pipe` file, found when it is loaded. `line` is 1-based;
/// 0 means the problem is with the file as a whole (e.g. its name).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.render())]
pub struct PipeLoadError {
    pub file: String,
    pub line: usize,
    pub message: String,
}

impl PipeLoadError {
    pub fn new(file: impl Into<String>, line: usize, message: impl Into<String>) -> Self {
        PipeLoadError {
            file: file.into(),
            line,
            message: message.into(),
        }
    }

    fn render(&self) -> String {
        if self.line == 0 {
            format!("{}: {}", self.file, self.message)
        } else {
            format!("{}:{}: {}", self.file, self.line, self.message)
        }
    }
}

/// A problem with one request to a pipe. Both variants are the client's
/// fault (4xx); `status()` says which code to answer with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PipeError {
    /// A parameter value that does not parse or violates its declaration, or
    /// a missing `required=True` parameter (`received` is then `""` and the
    /// message says "got nothing").
    #[error("{message}")]
    BadParam {
        param: String,
        expected: String,
        received: String,
        message: String,
    },
    /// The template rendered `error(...)` or `custom_error(...)`.
    #[error("{message}")]
    Custom { message: String, status: u16 },
}

impl PipeError {
    /// The HTTP status to answer with.
    pub fn status(&self) -> u16 {
        match self {
            PipeError::BadParam { .. } => 400,
            PipeError::Custom { status, .. } => *status,
        }
    }

    /// Builds a `BadParam` whose message is one sentence:
    /// `parameter 'p' must be <expected>, got '<received>'`.
    pub(crate) fn bad_param(param: &str, expected: &str, received: &str) -> Self {
        let shown = echo(received);
        PipeError::BadParam {
            param: param.to_string(),
            expected: expected.to_string(),
            received: shown.clone(),
            message: format!("parameter '{param}' must be {expected}, got '{shown}'"),
        }
    }

    pub(crate) fn missing_param(param: &str, expected: &str) -> Self {
        PipeError::BadParam {
            param: param.to_string(),
            expected: expected.to_string(),
            received: String::new(),
            message: format!("parameter '{param}' is required and must be {expected}, got nothing"),
        }
    }
}

/// Longest echo of a received value in an error message, in characters.
const ECHO_CHARS: usize = 100;

/// Shortens a received value for an error message and makes control
/// characters (NUL, newlines) visible, so a hostile value cannot bloat or
/// garble the error answer or the logs.
pub(crate) fn echo(received: &str) -> String {
    let mut out = String::new();
    for (i, c) in received.chars().enumerate() {
        if i == ECHO_CHARS {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn load_error_display_names_file_and_line() {
        let e = PipeLoadError::new("a.pipe", 12, "expected 'SQL >'");
        assert_eq!(e.to_string(), "a.pipe:12: expected 'SQL >'");
        let e = PipeLoadError::new("a b.pipe", 0, "bad name");
        assert_eq!(e.to_string(), "a b.pipe: bad name");
    }

    #[test]
    fn bad_param_message_is_one_sentence() {
        let e = PipeError::bad_param("limit", "an Int32 between 0 and 10000", "-5");
        assert_eq!(
            e.to_string(),
            "parameter 'limit' must be an Int32 between 0 and 10000, got '-5'"
        );
        assert_eq!(e.status(), 400);
        let e = PipeError::missing_param("d", "a Date (YYYY-MM-DD)");
        assert_eq!(
            e.to_string(),
            "parameter 'd' is required and must be a Date (YYYY-MM-DD), got nothing"
        );
    }

    #[test]
    fn echo_truncates_and_escapes() {
        let long = "x".repeat(500);
        let shown = echo(&long);
        assert_eq!(shown.chars().count(), ECHO_CHARS + 1);
        assert!(shown.ends_with('…'));
        assert_eq!(echo("a\0b\nc"), "a\\u{0}b\\nc");
        assert_eq!(echo("ünï'\";"), "ünï'\";");
    }
}
