//! The CEL-free subset of the Telemetry API's access-log
//! `filter.expression` Weir evaluates: comparisons of request and response
//! attributes against literals, joined by `&&`, `||`, `!` and parentheses.
//!
//! Grammar (whitespace between tokens is free):
//!
//! ```text
//! expr    := and ( "||" and )*
//! and     := unary ( "&&" unary )*
//! unary   := "!" unary | "(" expr ")" | compare
//! compare := int_attr op INT | str_attr ( "==" | "!=" ) STRING
//! op      := "==" | "!=" | "<" | "<=" | ">" | ">="
//! int_attr := response.code | response.grpc_status | response.duration
//!             (milliseconds) | response.size | request.size
//! str_attr := request.method | request.host | request.path
//!             | request.url_path | request.headers["name"]
//!             | request.headers['name'] | response.flags
//! STRING  := "…" | '…'  (no escapes)
//! ```
//!
//! Anything else (functions, `in`, arithmetic, other attributes) is refused
//! with the position and what was expected, so the resource is reported
//! rather than logging the wrong requests.

use crate::request::Headers;
use std::fmt;

/// An integer attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntAttr {
    ResponseCode,
    GrpcStatus,
    /// Milliseconds.
    Duration,
    ResponseSize,
    RequestSize,
}

/// A string attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StrAttr {
    Method,
    Host,
    /// The path with its query.
    Path,
    /// The path without its query.
    UrlPath,
    /// A request header (name lower-cased).
    Header(String),
    /// Envoy's response flags text (`-`, `UH`, `NR,FI`…).
    Flags,
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// A parsed filter expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogFilter {
    Int(IntAttr, Op, i64),
    Str(StrAttr, Op, String),
    Not(Box<LogFilter>),
    And(Box<LogFilter>, Box<LogFilter>),
    Or(Box<LogFilter>, Box<LogFilter>),
}

/// What a filter reads of one finished request.
#[derive(Clone, Copy)]
pub struct LogAttributes<'a> {
    pub method: &'a str,
    pub host: &'a str,
    pub path: &'a str,
    pub headers: &'a dyn Headers,
    pub response_code: u16,
    pub grpc_status: Option<u8>,
    pub duration_ms: u64,
    pub request_size: u64,
    pub response_size: u64,
    /// As Envoy prints them.
    pub flags: &'a str,
}

impl fmt::Debug for LogAttributes<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LogAttributes")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("response_code", &self.response_code)
            .finish_non_exhaustive()
    }
}

/// Why an expression is outside the subset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterError {
    /// Byte offset in the expression.
    pub at: usize,
    pub message: String,
}

impl fmt::Display for FilterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "at offset {}: {} (Weir evaluates comparisons of response.code, \
             response.grpc_status, response.duration, response.size, request.size, \
             request.method, request.host, request.path, request.url_path, \
             request.headers[\"name\"], response.flags with literals, joined by \
             &&, ||, ! and parentheses)",
            self.at, self.message
        )
    }
}

impl LogFilter {
    /// Parses `expression`.
    ///
    /// # Errors
    /// Anything outside the subset, with its position.
    pub fn parse(expression: &str) -> Result<LogFilter, FilterError> {
        let mut p = Parser {
            s: expression,
            at: 0,
        };
        let e = p.or()?;
        p.skip_ws();
        if p.at < p.s.len() {
            return Err(p.error("unexpected text after the expression"));
        }
        Ok(e)
    }

    /// Whether the request is logged. Allocation-free.
    pub fn matches(&self, a: &LogAttributes<'_>) -> bool {
        match self {
            LogFilter::Not(e) => !e.matches(a),
            LogFilter::And(x, y) => x.matches(a) && y.matches(a),
            LogFilter::Or(x, y) => x.matches(a) || y.matches(a),
            LogFilter::Int(attr, op, want) => {
                let v: i64 = match attr {
                    IntAttr::ResponseCode => i64::from(a.response_code),
                    // No gRPC status: no value, the comparison is false (CEL errors).
                    IntAttr::GrpcStatus => match a.grpc_status {
                        Some(g) => i64::from(g),
                        None => return false,
                    },
                    IntAttr::Duration => i64::try_from(a.duration_ms).unwrap_or(i64::MAX),
                    IntAttr::ResponseSize => i64::try_from(a.response_size).unwrap_or(i64::MAX),
                    IntAttr::RequestSize => i64::try_from(a.request_size).unwrap_or(i64::MAX),
                };
                compare(v.cmp(want), *op)
            }
            LogFilter::Str(attr, op, want) => {
                let v = match attr {
                    StrAttr::Method => a.method,
                    StrAttr::Host => a.host,
                    StrAttr::Path => a.path,
                    StrAttr::UrlPath => a.path.split('?').next().unwrap_or(""),
                    StrAttr::Flags => a.flags,
                    // A missing header: no value, the comparison is false.
                    StrAttr::Header(name) => match a.headers.get(name) {
                        Some(v) => v,
                        None => return false,
                    },
                };
                compare(v.cmp(want.as_str()), *op)
            }
        }
    }
}

fn compare(ord: std::cmp::Ordering, op: Op) -> bool {
    use std::cmp::Ordering::*;
    match op {
        Op::Eq => ord == Equal,
        Op::Ne => ord != Equal,
        Op::Lt => ord == Less,
        Op::Le => ord != Greater,
        Op::Gt => ord == Greater,
        Op::Ge => ord != Less,
    }
}

struct Parser<'s> {
    s: &'s str,
    at: usize,
}

impl Parser<'_> {
    fn error(&self, message: &str) -> FilterError {
        FilterError {
            at: self.at,
            message: message.to_string(),
        }
    }

    fn rest(&self) -> &str {
        &self.s[self.at..]
    }

    fn skip_ws(&mut self) {
        let trimmed = self.rest().trim_start();
        self.at = self.s.len() - trimmed.len();
    }

    fn eat(&mut self, token: &str) -> bool {
        self.skip_ws();
        if self.rest().starts_with(token) {
            self.at += token.len();
            true
        } else {
            false
        }
    }

    fn or(&mut self) -> Result<LogFilter, FilterError> {
        let mut left = self.and()?;
        while self.eat("||") {
            let right = self.and()?;
            left = LogFilter::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<LogFilter, FilterError> {
        let mut left = self.unary()?;
        while self.eat("&&") {
            let right = self.unary()?;
            left = LogFilter::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<LogFilter, FilterError> {
        if self.eat("!") {
            if self.rest().starts_with('=') {
                return Err(self.error("expected an expression after !"));
            }
            return Ok(LogFilter::Not(Box::new(self.unary()?)));
        }
        if self.eat("(") {
            let e = self.or()?;
            if !self.eat(")") {
                return Err(self.error("expected )"));
            }
            return Ok(e);
        }
        self.compare()
    }

    fn ident(&mut self) -> &str {
        self.skip_ws();
        let start = self.at;
        let len = self
            .rest()
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
            .unwrap_or(self.rest().len());
        self.at += len;
        &self.s[start..start + len]
    }

    fn string(&mut self) -> Result<String, FilterError> {
        self.skip_ws();
        let quote = match self.rest().chars().next() {
            Some(q @ ('"' | '\'')) => q,
            _ => return Err(self.error("expected a quoted string")),
        };
        let body = &self.rest()[1..];
        let Some(end) = body.find(quote) else {
            return Err(self.error("unterminated string"));
        };
        let value = &body[..end];
        if value.contains('\\') {
            return Err(self.error("escapes in strings are not supported"));
        }
        let value = value.to_string();
        self.at += end + 2;
        Ok(value)
    }

    fn op(&mut self) -> Result<Op, FilterError> {
        for (token, op) in [
            ("==", Op::Eq),
            ("!=", Op::Ne),
            ("<=", Op::Le),
            (">=", Op::Ge),
            ("<", Op::Lt),
            (">", Op::Gt),
        ] {
            if self.eat(token) {
                return Ok(op);
            }
        }
        Err(self.error("expected ==, !=, <, <=, > or >="))
    }

    fn compare(&mut self) -> Result<LogFilter, FilterError> {
        let start = self.at;
        let name = self.ident().to_string();
        let int = match name.as_str() {
            "response.code" => Some(IntAttr::ResponseCode),
            "response.grpc_status" => Some(IntAttr::GrpcStatus),
            "response.duration" => Some(IntAttr::Duration),
            "response.size" => Some(IntAttr::ResponseSize),
            "request.size" => Some(IntAttr::RequestSize),
            _ => None,
        };
        if let Some(attr) = int {
            let op = self.op()?;
            self.skip_ws();
            let digits = self
                .rest()
                .find(|c: char| !(c.is_ascii_digit() || c == '-'))
                .unwrap_or(self.rest().len());
            let value: i64 = self.rest()[..digits]
                .parse()
                .map_err(|_| self.error("expected an integer"))?;
            self.at += digits;
            return Ok(LogFilter::Int(attr, op, value));
        }
        let attr = match name.as_str() {
            "request.method" => StrAttr::Method,
            "request.host" => StrAttr::Host,
            "request.path" => StrAttr::Path,
            "request.url_path" => StrAttr::UrlPath,
            "response.flags" => StrAttr::Flags,
            "request.headers" => {
                if !self.eat("[") {
                    return Err(self.error("expected [\"header-name\"]"));
                }
                let header = self.string()?.to_ascii_lowercase();
                if !self.eat("]") {
                    return Err(self.error("expected ]"));
                }
                StrAttr::Header(header)
            }
            "" => {
                return Err(FilterError {
                    at: start,
                    message: "expected an attribute".into(),
                })
            }
            other => {
                return Err(FilterError {
                    at: start,
                    message: format!("attribute {other:?} is not supported"),
                })
            }
        };
        let op = self.op()?;
        if !matches!(op, Op::Eq | Op::Ne) {
            return Err(self.error("strings compare with == or != only"));
        }
        let value = self.string()?;
        Ok(LogFilter::Str(attr, op, value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::HeaderList;

    fn attrs<'a>(code: u16, method: &'a str, headers: &'a HeaderList<'a>) -> LogAttributes<'a> {
        LogAttributes {
            method,
            host: "reviews",
            path: "/api/v1?x=1",
            headers,
            response_code: code,
            grpc_status: None,
            duration_ms: 120,
            request_size: 10,
            response_size: 2000,
            flags: "-",
        }
    }

    #[test]
    fn expressions_evaluate_as_cel_would() {
        let h = HeaderList(&[("x-user", "jason")]);
        // (expression, code, method, logged)
        let rows = [
            ("response.code >= 400", 404, "GET", true),
            ("response.code >= 400", 200, "GET", false),
            (
                "response.code>=500||request.method=='POST'",
                200,
                "POST",
                true,
            ),
            (
                "response.code >= 500 && request.method == \"POST\"",
                503,
                "GET",
                false,
            ),
            ("!(response.code == 200)", 201, "GET", true),
            ("request.headers['x-user'] == 'jason'", 200, "GET", true),
            ("request.headers[\"X-User\"] != 'jason'", 200, "GET", false),
            ("request.headers['absent'] == 'x'", 200, "GET", false),
            ("request.url_path == '/api/v1'", 200, "GET", true),
            (
                "response.duration > 100 && response.size < 4096",
                200,
                "GET",
                true,
            ),
            ("response.flags != '-'", 200, "GET", false),
            ("response.grpc_status == 0", 200, "GET", false),
        ];
        for (expr, code, method, want) in rows {
            let f = LogFilter::parse(expr).unwrap_or_else(|e| panic!("{expr}: {e}"));
            assert_eq!(f.matches(&attrs(code, method, &h)), want, "{expr}");
        }
    }

    #[test]
    fn expressions_outside_the_subset_are_refused_with_the_place() {
        let rows = [
            ("response.code >= ", 17, "integer"),
            ("size(request.path) > 3", 0, "not supported"),
            ("request.method == GET", 18, "quoted string"),
            ("request.method < 'GET'", 16, "== or !="),
            ("response.code == 200 extra", 21, "after the expression"),
            ("connection.mtls == 'true'", 0, "not supported"),
            ("(response.code == 200", 21, "expected )"),
            ("", 0, "expected an attribute"),
        ];
        for (expr, at, what) in rows {
            let e = LogFilter::parse(expr).expect_err(expr);
            assert_eq!(e.at, at, "{expr}: {e}");
            assert!(e.to_string().contains(what), "{expr}: {e}");
        }
    }
}
