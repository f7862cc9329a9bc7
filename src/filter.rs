//! Filter expressions over a collection's attributes: one language for every surface
//! (Rust builder, text parsed here for the CLI, C, Go and Java).
//!
//! Grammar of the text form (keywords are case-insensitive; whitespace is free):
//!
//! ```text
//! filter     := or
//! or         := and ( "or" and )*
//! and        := unary ( "and" unary )*
//! unary      := "not" unary | "(" or ")" | comparison
//! comparison := name ( op literal
//!                    | "in" "(" literal ( "," literal )* ")"
//!                    | "contains" literal
//!                    | "is" [ "not" ] "null" )
//! op         := "==" | "!=" | "<" | "<=" | ">" | ">="
//! literal    := integer | float | 'string' | "string" | true | false
//! name       := [A-Za-z_][A-Za-z0-9_.-]*
//! ```
//!
//! Invariants: a parse error names the byte offset and what was expected there;
//! nesting deeper than [`MAX_DEPTH`] and text longer than [`MAX_FILTER_LEN`] are refused
//! (never a stack overflow); `Filter::parse(&f.to_string()) == f` for every filter
//! whose attribute names are names of the grammar (not keywords).
//! Checking names and types against a collection's attribute schema is the caller's
//! step, once schemas exist.
//!
//! ```
//! use drift::filter::Filter;
//! let f = Filter::parse("section == 'net' and installed_size < 500 and not tags contains 'x11'").unwrap();
//! let built = Filter::attr("section").eq("net")
//!     .and(Filter::attr("installed_size").lt(500))
//!     .and(Filter::attr("tags").contains("x11").not());
//! assert_eq!(f, built);
//! assert_eq!(Filter::parse(&f.to_string()).unwrap(), f);
//! ```

use std::fmt;

use crate::error::{Error, Result};

/// Longest filter text accepted, in bytes.
pub const MAX_FILTER_LEN: usize = 64 * 1024;
/// Deepest nesting of `not` and parentheses accepted.
pub const MAX_DEPTH: usize = 64;

/// A literal value in a filter.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Value {
    /// An integer (wide enough for every `u64` and `i64`).
    Int(i128),
    /// A floating-point number (finite).
    Float(f64),
    /// A string (also a tag, a dictionary value, or a timestamp in RFC 3339).
    Str(String),
    /// `true` or `false`.
    Bool(bool),
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(i128::from(v))
    }
}
impl From<i32> for Value {
    fn from(v: i32) -> Self {
        Value::Int(i128::from(v))
    }
}
impl From<u64> for Value {
    fn from(v: u64) -> Self {
        Value::Int(i128::from(v))
    }
}
impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::Float(v)
    }
}
impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Bool(v)
    }
}
impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Str(v.to_owned())
    }
}
impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Str(v)
    }
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

impl Op {
    fn text(self) -> &'static str {
        match self {
            Op::Eq => "==",
            Op::Ne => "!=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
        }
    }
}

/// A filter expression.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Filter {
    /// `name op value`.
    Compare {
        /// Attribute name.
        name: String,
        /// Operator.
        op: Op,
        /// Right-hand side.
        value: Value,
    },
    /// `name in (values...)`.
    In {
        /// Attribute name.
        name: String,
        /// The set (at least one value).
        values: Vec<Value>,
    },
    /// `name contains value` (tags).
    Contains {
        /// Attribute name.
        name: String,
        /// The tag.
        value: Value,
    },
    /// `name is null` (or `is not null` when `negated`).
    IsNull {
        /// Attribute name.
        name: String,
        /// `is not null`.
        negated: bool,
    },
    /// Every part holds (at least two parts).
    And(Vec<Filter>),
    /// Some part holds (at least two parts).
    Or(Vec<Filter>),
    /// The part does not hold.
    Not(Box<Filter>),
}

/// An attribute name, from which the builder makes comparisons.
#[derive(Debug, Clone)]
pub struct Attr(String);

impl Attr {
    fn compare(self, op: Op, value: impl Into<Value>) -> Filter {
        Filter::Compare { name: self.0, op, value: value.into() }
    }
    /// `name == value`.
    pub fn eq(self, value: impl Into<Value>) -> Filter {
        self.compare(Op::Eq, value)
    }
    /// `name != value`.
    pub fn ne(self, value: impl Into<Value>) -> Filter {
        self.compare(Op::Ne, value)
    }
    /// `name < value`.
    pub fn lt(self, value: impl Into<Value>) -> Filter {
        self.compare(Op::Lt, value)
    }
    /// `name <= value`.
    pub fn le(self, value: impl Into<Value>) -> Filter {
        self.compare(Op::Le, value)
    }
    /// `name > value`.
    pub fn gt(self, value: impl Into<Value>) -> Filter {
        self.compare(Op::Gt, value)
    }
    /// `name >= value`.
    pub fn ge(self, value: impl Into<Value>) -> Filter {
        self.compare(Op::Ge, value)
    }
    /// `name in (values...)`.
    pub fn is_in<V: Into<Value>>(self, values: impl IntoIterator<Item = V>) -> Filter {
        Filter::In { name: self.0, values: values.into_iter().map(Into::into).collect() }
    }
    /// `name contains value` (tags).
    pub fn contains(self, value: impl Into<Value>) -> Filter {
        Filter::Contains { name: self.0, value: value.into() }
    }
    /// `name is null`.
    pub fn is_null(self) -> Filter {
        Filter::IsNull { name: self.0, negated: false }
    }
    /// `name is not null`.
    pub fn is_not_null(self) -> Filter {
        Filter::IsNull { name: self.0, negated: true }
    }
}

impl Filter {
    /// The attribute `name`, to compare (see [`Attr`]).
    pub fn attr(name: impl Into<String>) -> Attr {
        Attr(name.into())
    }

    /// `self and other` (flattened: `a and b and c` is one `And` of three).
    pub fn and(self, other: Filter) -> Filter {
        match self {
            Filter::And(mut parts) => {
                parts.push(other);
                Filter::And(parts)
            }
            first => Filter::And(vec![first, other]),
        }
    }

    /// `self or other` (flattened like [`Filter::and`]).
    pub fn or(self, other: Filter) -> Filter {
        match self {
            Filter::Or(mut parts) => {
                parts.push(other);
                Filter::Or(parts)
            }
            first => Filter::Or(vec![first, other]),
        }
    }

    /// `not self`.
    #[allow(clippy::should_implement_trait)]
    pub fn not(self) -> Filter {
        Filter::Not(Box::new(self))
    }

    /// Parses the text form (see the module documentation).
    pub fn parse(text: &str) -> Result<Filter> {
        Filter::parse_located(text).map(|(f, _)| f)
    }

    /// Parses the text form and returns, beside the filter, the byte offset of every
    /// comparison's attribute name, in the order [`Filter::leaves`] visits them (so a
    /// schema check can name the position of a bad name or value).
    pub(crate) fn parse_located(text: &str) -> Result<(Filter, Vec<usize>)> {
        if text.len() > MAX_FILTER_LEN {
            return Err(Error::invalid(format!("filter is {} bytes long; at most {MAX_FILTER_LEN}", text.len())));
        }
        let mut p = Parser { tokens: tokenize(text)?, at: 0, len: text.len(), leaves: Vec::new() };
        let f = p.or(0)?;
        match p.peek() {
            None => Ok((f, p.leaves)),
            Some((pos, t)) => Err(syntax(*pos, format!("expected `and`, `or` or the end, found {}", t.describe()))),
        }
    }

    /// Every comparison of the filter (not an `and`, `or` or `not`), left to right.
    pub fn leaves(&self) -> Vec<&Filter> {
        let mut out = Vec::new();
        let mut stack = vec![self];
        while let Some(f) = stack.pop() {
            match f {
                Filter::And(parts) | Filter::Or(parts) => stack.extend(parts.iter().rev()),
                Filter::Not(inner) => stack.push(inner),
                leaf => out.push(leaf),
            }
        }
        out
    }
}

fn syntax(position: usize, reason: String) -> Error {
    Error::invalid(format!("filter syntax error at byte {position}: {reason}"))
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Name(String),
    Literal(Value),
    Op(Op),
    Open,
    Close,
    Comma,
}

impl Token {
    fn describe(&self) -> String {
        match self {
            Token::Name(n) => format!("`{n}`"),
            Token::Literal(v) => format!("the value {}", ValueText(v)),
            Token::Op(o) => format!("`{}`", o.text()),
            Token::Open => "`(`".into(),
            Token::Close => "`)`".into(),
            Token::Comma => "`,`".into(),
        }
    }

    fn keyword(&self, word: &str) -> bool {
        matches!(self, Token::Name(n) if n.eq_ignore_ascii_case(word))
    }
}

fn tokenize(text: &str) -> Result<Vec<(usize, Token)>> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let start = i;
        match c {
            b' ' | b'\t' | b'\n' | b'\r' => i += 1,
            b'(' => {
                out.push((start, Token::Open));
                i += 1;
            }
            b')' => {
                out.push((start, Token::Close));
                i += 1;
            }
            b',' => {
                out.push((start, Token::Comma));
                i += 1;
            }
            b'=' | b'!' | b'<' | b'>' => {
                let two = bytes.get(i + 1) == Some(&b'=');
                let op = match (c, two) {
                    (b'=', true) => Op::Eq,
                    (b'!', true) => Op::Ne,
                    (b'<', true) => Op::Le,
                    (b'>', true) => Op::Ge,
                    (b'<', false) => Op::Lt,
                    (b'>', false) => Op::Gt,
                    _ => return Err(syntax(start, format!("`{}` is not an operator (use `==` or `!=`)", c as char))),
                };
                out.push((start, Token::Op(op)));
                i += if two { 2 } else { 1 };
            }
            b'\'' | b'"' => {
                let mut s = String::new();
                i += 1;
                loop {
                    let Some(&b) = bytes.get(i) else { return Err(syntax(start, "string is not closed".into())) };
                    if b == c {
                        // A doubled quote stands for one.
                        if bytes.get(i + 1) == Some(&c) {
                            s.push(c as char);
                            i += 2;
                            continue;
                        }
                        i += 1;
                        break;
                    }
                    let ch = text[i..].chars().next().expect("inside the text");
                    s.push(ch);
                    i += ch.len_utf8();
                }
                out.push((start, Token::Literal(Value::Str(s))));
            }
            b'0'..=b'9' | b'-' | b'+' | b'.' => {
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || matches!(bytes[i], b'.' | b'-' | b'+')) {
                    i += 1;
                }
                let word = &text[start..i];
                let value = if let Ok(n) = word.parse::<i128>() {
                    if n > i128::from(u64::MAX) || n < i128::from(i64::MIN) {
                        return Err(syntax(start, format!("integer {word} is out of range")));
                    }
                    Value::Int(n)
                } else {
                    match word.parse::<f64>() {
                        Ok(x) if x.is_finite() => Value::Float(x),
                        _ => return Err(syntax(start, format!("`{word}` is not a number"))),
                    }
                };
                out.push((start, Token::Literal(value)));
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || matches!(bytes[i], b'_' | b'.' | b'-')) {
                    i += 1;
                }
                let word = &text[start..i];
                let token = if word.eq_ignore_ascii_case("true") {
                    Token::Literal(Value::Bool(true))
                } else if word.eq_ignore_ascii_case("false") {
                    Token::Literal(Value::Bool(false))
                } else {
                    Token::Name(word.to_owned())
                };
                out.push((start, token));
            }
            _ => {
                let ch = text[i..].chars().next().expect("inside the text");
                return Err(syntax(start, format!("unexpected character {ch:?}")));
            }
        }
    }
    Ok(out)
}

const KEYWORDS: &[&str] = &["and", "or", "not", "in", "contains", "is", "null"];

/// Whether `word` is a keyword of the grammar (so it cannot name an attribute).
pub(crate) fn is_keyword(word: &str) -> bool {
    KEYWORDS.iter().any(|k| word.eq_ignore_ascii_case(k))
}

struct Parser {
    tokens: Vec<(usize, Token)>,
    at: usize,
    len: usize,
    /// Byte offset of each comparison's name, in the order they were parsed.
    leaves: Vec<usize>,
}

impl Parser {
    fn peek(&self) -> Option<&(usize, Token)> {
        self.tokens.get(self.at)
    }

    fn position(&self) -> usize {
        self.peek().map_or(self.len, |(p, _)| *p)
    }

    fn found(&self) -> String {
        self.peek().map_or_else(|| "the end".to_owned(), |(_, t)| t.describe())
    }

    fn keyword(&mut self, word: &str) -> bool {
        if self.peek().is_some_and(|(_, t)| t.keyword(word)) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, token: Token, what: &str) -> Result<()> {
        if self.peek().map(|(_, t)| t) == Some(&token) {
            self.at += 1;
            Ok(())
        } else {
            Err(syntax(self.position(), format!("expected {what}, found {}", self.found())))
        }
    }

    fn or(&mut self, depth: usize) -> Result<Filter> {
        let mut parts = vec![self.and(depth)?];
        while self.keyword("or") {
            parts.push(self.and(depth)?);
        }
        Ok(if parts.len() == 1 { parts.pop().expect("one part") } else { Filter::Or(parts) })
    }

    fn and(&mut self, depth: usize) -> Result<Filter> {
        let mut parts = vec![self.unary(depth)?];
        while self.keyword("and") {
            parts.push(self.unary(depth)?);
        }
        Ok(if parts.len() == 1 { parts.pop().expect("one part") } else { Filter::And(parts) })
    }

    fn unary(&mut self, depth: usize) -> Result<Filter> {
        if depth >= MAX_DEPTH {
            return Err(syntax(self.position(), format!("nested deeper than {MAX_DEPTH}")));
        }
        if self.keyword("not") {
            return Ok(Filter::Not(Box::new(self.unary(depth + 1)?)));
        }
        if self.peek().map(|(_, t)| t) == Some(&Token::Open) {
            self.at += 1;
            let inner = self.or(depth + 1)?;
            self.expect(Token::Close, "`)`")?;
            return Ok(inner);
        }
        self.comparison()
    }

    fn comparison(&mut self) -> Result<Filter> {
        let name = match self.peek() {
            Some((at, Token::Name(n))) if !KEYWORDS.iter().any(|k| n.eq_ignore_ascii_case(k)) => {
                let (at, n) = (*at, n.clone());
                self.leaves.push(at);
                n
            }
            _ => return Err(syntax(self.position(), format!("expected an attribute name, `not` or `(`, found {}", self.found()))),
        };
        self.at += 1;
        if let Some((_, Token::Op(op))) = self.peek() {
            let op = *op;
            self.at += 1;
            return Ok(Filter::Compare { name, op, value: self.literal()? });
        }
        if self.keyword("in") {
            self.expect(Token::Open, "`(` after `in`")?;
            let mut values = vec![self.literal()?];
            while self.peek().map(|(_, t)| t) == Some(&Token::Comma) {
                self.at += 1;
                values.push(self.literal()?);
            }
            self.expect(Token::Close, "`,` or `)`")?;
            return Ok(Filter::In { name, values });
        }
        if self.keyword("contains") {
            return Ok(Filter::Contains { name, value: self.literal()? });
        }
        if self.keyword("is") {
            let negated = self.keyword("not");
            if !self.keyword("null") {
                return Err(syntax(self.position(), format!("expected `null`, found {}", self.found())));
            }
            return Ok(Filter::IsNull { name, negated });
        }
        Err(syntax(self.position(), format!("expected an operator, `in`, `contains` or `is` after `{name}`, found {}", self.found())))
    }

    fn literal(&mut self) -> Result<Value> {
        match self.peek() {
            Some((_, Token::Literal(v))) => {
                let v = v.clone();
                self.at += 1;
                Ok(v)
            }
            _ => Err(syntax(self.position(), format!("expected a value, found {}", self.found()))),
        }
    }
}

struct ValueText<'a>(&'a Value);

impl fmt::Display for ValueText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Value::Int(n) => write!(f, "{n}"),
            // `{:?}` keeps a decimal point (or exponent), so it parses back as a float.
            Value::Float(x) => write!(f, "{x:?}"),
            Value::Str(s) => write!(f, "'{}'", s.replace('\'', "''")),
            Value::Bool(b) => write!(f, "{b}"),
        }
    }
}

/// The canonical text form: parses back to the same filter.
impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let part = |f: &mut fmt::Formatter<'_>, p: &Filter| match p {
            Filter::And(_) | Filter::Or(_) => write!(f, "({p})"),
            _ => write!(f, "{p}"),
        };
        match self {
            Filter::Compare { name, op, value } => write!(f, "{name} {} {}", op.text(), ValueText(value)),
            Filter::In { name, values } => {
                write!(f, "{name} in (")?;
                for (i, v) in values.iter().enumerate() {
                    write!(f, "{}{}", if i > 0 { ", " } else { "" }, ValueText(v))?;
                }
                write!(f, ")")
            }
            Filter::Contains { name, value } => write!(f, "{name} contains {}", ValueText(value)),
            Filter::IsNull { name, negated } => write!(f, "{name} is {}null", if *negated { "not " } else { "" }),
            Filter::And(parts) | Filter::Or(parts) => {
                let joint = if matches!(self, Filter::And(_)) { " and " } else { " or " };
                for (i, p) in parts.iter().enumerate() {
                    if i > 0 {
                        f.write_str(joint)?;
                    }
                    part(f, p)?;
                }
                Ok(())
            }
            Filter::Not(inner) => {
                f.write_str("not ")?;
                part(f, inner)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precedence_is_not_then_and_then_or() {
        let f = Filter::parse("a == 1 or b == 2 and not c == 3").unwrap();
        let want = Filter::attr("a").eq(1).or(Filter::attr("b").eq(2).and(Filter::attr("c").eq(3).not()));
        assert_eq!(f, want);
        assert_eq!(Filter::parse("(a == 1 or b == 2) and c == 3").unwrap().to_string(), "(a == 1 or b == 2) and c == 3");
    }

    #[test]
    fn every_form_round_trips_through_its_text() {
        for text in [
            "section in ('net', 'web', 'it''s') and arch != \"amd64\"",
            "size >= 1.5e3 or size < -2 or flag == true",
            "tags contains 'x11' and not (built is null or built is not null)",
            "id == 18446744073709551615 and t > -9223372036854775808",
        ] {
            let f = Filter::parse(text).unwrap();
            assert_eq!(Filter::parse(&f.to_string()).unwrap(), f, "{text} -> {f}");
        }
    }

    #[test]
    fn errors_name_the_byte_and_what_was_expected() {
        let cases = [
            ("section = 'net'", "byte 8", "not an operator"),
            ("section == ", "byte 11", "expected a value"),
            ("a == 1 and", "byte 10", "attribute name"),
            ("a in (1, 2", "byte 10", "`,` or `)`"),
            ("(a == 1", "byte 7", "`)`"),
            ("a == 'open", "byte 5", "not closed"),
            ("a is nul", "byte 5", "expected `null`"),
            ("a == 1 b == 2", "byte 7", "expected `and`, `or` or the end"),
            ("a == 99999999999999999999999", "byte 5", "out of range"),
            ("a == 1 # c", "byte 7", "unexpected character"),
        ];
        for (text, at, reason) in cases {
            let e = Filter::parse(text).unwrap_err().to_string();
            assert!(e.contains(at) && e.contains(reason), "{text:?}: {e}");
        }
    }

    #[test]
    fn deep_nesting_and_huge_text_are_refused_not_overflowed() {
        let deep = format!("{}a == 1{}", "(".repeat(10_000), ")".repeat(10_000));
        assert!(Filter::parse(&deep).unwrap_err().to_string().contains("nested deeper"));
        let nots = format!("{}a == 1", "not ".repeat(10_000));
        assert!(Filter::parse(&nots).is_err());
        assert!(Filter::parse(&"a".repeat(MAX_FILTER_LEN + 1)).is_err());
    }
}
