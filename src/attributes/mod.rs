//! Typed attributes of postings: the schema a collection declares, the values a write
//! carries, and (inside the crate) their columnar encoding and the filters over them.
//!
//! A collection's schema is a list of named, typed attributes ([`AttributeDef`]); an
//! attribute's id is its position in the list, which never changes: attributes may be
//! added to a schema, never removed, renamed or retyped. Every posting carries a value
//! of each attribute or none (null).
//!
//! ```
//! use drift::{AttributeDef, AttributeType, Attributes, Posting};
//! let schema = [AttributeDef::new("section", AttributeType::String), AttributeDef::new("size", AttributeType::U64)];
//! let values = Attributes::new().set("section", "net").set("size", 4_096u64);
//! let posting = Posting::new(7u64, &[0.5, 0.5]).with_attributes(&values);
//! assert_eq!(posting.attributes.unwrap().get("size"), Some(&drift::AttributeValue::U64(4_096)));
//! # let _ = schema;
//! ```
//!
//! Invariants: names follow the filter grammar's `name` rule and are not keywords;
//! values stored for an attribute always have its type (a write converts integers
//! losslessly or is refused); floats are finite.

pub(crate) mod predicate;
pub(crate) mod section;
pub(crate) mod summary;

use std::fmt;

use crate::error::{Error, Result};

/// Most attributes a collection's schema may hold.
pub const MAX_ATTRIBUTES: usize = 256;
/// Longest attribute name, in bytes.
pub const MAX_NAME_LEN: usize = 128;
/// Longest string value or tag, in bytes.
pub const MAX_STRING_LEN: usize = 4096;
/// Most tags one posting's `tags` value may hold.
pub const MAX_TAGS: usize = 1024;

/// The type of an attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AttributeType {
    /// Unsigned 64-bit integer.
    U64,
    /// Signed 64-bit integer.
    I64,
    /// 64-bit float (finite).
    F64,
    /// `true` or `false`.
    Bool,
    /// A string (dictionary-encoded in each row group).
    String,
    /// A set of strings (`contains` tests membership).
    Tags,
    /// Microseconds since the Unix epoch (filters also take RFC 3339 text).
    Timestamp,
}

impl AttributeType {
    /// The code stored on disk (manifest schema entries, attribute columns).
    pub(crate) fn code(self) -> u8 {
        match self {
            AttributeType::U64 => 1,
            AttributeType::I64 => 2,
            AttributeType::F64 => 3,
            AttributeType::Bool => 4,
            AttributeType::String => 5,
            AttributeType::Tags => 6,
            AttributeType::Timestamp => 7,
        }
    }

    pub(crate) fn from_code(code: u8) -> Option<AttributeType> {
        Some(match code {
            1 => AttributeType::U64,
            2 => AttributeType::I64,
            3 => AttributeType::F64,
            4 => AttributeType::Bool,
            5 => AttributeType::String,
            6 => AttributeType::Tags,
            7 => AttributeType::Timestamp,
            _ => return None,
        })
    }

    /// The name used in errors, the CLI and the bindings (`u64`, `string`, ...).
    pub fn name(self) -> &'static str {
        match self {
            AttributeType::U64 => "u64",
            AttributeType::I64 => "i64",
            AttributeType::F64 => "f64",
            AttributeType::Bool => "bool",
            AttributeType::String => "string",
            AttributeType::Tags => "tags",
            AttributeType::Timestamp => "timestamp",
        }
    }

    /// Parses a type name (`u64`, `i64`, `f64`, `bool`, `string`, `tags`, `timestamp`).
    ///
    /// ```
    /// assert_eq!(drift::AttributeType::parse("tags").unwrap(), drift::AttributeType::Tags);
    /// assert!(drift::AttributeType::parse("int").is_err());
    /// ```
    pub fn parse(name: &str) -> Result<AttributeType> {
        [
            AttributeType::U64,
            AttributeType::I64,
            AttributeType::F64,
            AttributeType::Bool,
            AttributeType::String,
            AttributeType::Tags,
            AttributeType::Timestamp,
        ]
        .into_iter()
        .find(|t| t.name().eq_ignore_ascii_case(name))
        .ok_or_else(|| Error::invalid(format!("unknown attribute type {name:?} (u64, i64, f64, bool, string, tags or timestamp)")))
    }

    /// Whether values are fixed-width numbers (u64, i64, f64, timestamp).
    pub(crate) fn is_numeric(self) -> bool {
        matches!(self, AttributeType::U64 | AttributeType::I64 | AttributeType::F64 | AttributeType::Timestamp)
    }
}

impl fmt::Display for AttributeType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One attribute of a collection's schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttributeDef {
    /// Its name (a filter names it).
    pub name: String,
    /// Its type.
    pub kind: AttributeType,
}

impl AttributeDef {
    /// `name` of type `kind`.
    pub fn new(name: impl Into<String>, kind: AttributeType) -> Self {
        AttributeDef { name: name.into(), kind }
    }

    /// Parses `name:type` (the CLI's and the bindings' text form), e.g. `size:u64`.
    ///
    /// ```
    /// let def = drift::AttributeDef::parse("section:string").unwrap();
    /// assert_eq!((def.name.as_str(), def.kind), ("section", drift::AttributeType::String));
    /// ```
    pub fn parse(text: &str) -> Result<AttributeDef> {
        let (name, kind) = text
            .split_once(':')
            .ok_or_else(|| Error::invalid(format!("attribute {text:?} is not `name:type` (e.g. `size:u64`)")))?;
        let def = AttributeDef::new(name.trim(), AttributeType::parse(kind.trim())?);
        check_name(&def.name)?;
        Ok(def)
    }
}

impl AttributeDef {
    /// Parses a schema's text form: `name:type` entries separated by `,` (the form the
    /// C ABI, Go and Java pass), e.g. `section:string, size:u64, tags:tags`. Empty text
    /// is an empty schema.
    ///
    /// ```
    /// let schema = drift::AttributeDef::parse_list("section:string, size:u64").unwrap();
    /// assert_eq!(schema.len(), 2);
    /// ```
    pub fn parse_list(text: &str) -> Result<Vec<AttributeDef>> {
        let schema: Vec<AttributeDef> =
            text.split(',').map(str::trim).filter(|t| !t.is_empty()).map(AttributeDef::parse).collect::<Result<_>>()?;
        check_schema(&schema)?;
        Ok(schema)
    }
}

/// Refuses a name a filter could not write (see the filter grammar).
pub(crate) fn check_name(name: &str) -> Result<()> {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if !first_ok || !rest_ok || name.len() > MAX_NAME_LEN {
        return Err(Error::invalid(format!(
            "attribute name {name:?} must start with a letter or `_`, hold only letters, digits, `_`, `.` and `-`, and be at most {MAX_NAME_LEN} bytes"
        )));
    }
    if crate::filter::is_keyword(name) || name.eq_ignore_ascii_case("true") || name.eq_ignore_ascii_case("false") {
        return Err(Error::invalid(format!("attribute name {name:?} is a filter keyword")));
    }
    Ok(())
}

/// Checks a whole schema: valid, distinct names, at most [`MAX_ATTRIBUTES`].
pub(crate) fn check_schema(schema: &[AttributeDef]) -> Result<()> {
    if schema.len() > MAX_ATTRIBUTES {
        return Err(Error::invalid(format!("a schema holds at most {MAX_ATTRIBUTES} attributes, got {}", schema.len())));
    }
    for (i, def) in schema.iter().enumerate() {
        check_name(&def.name)?;
        if schema[..i].iter().any(|d| d.name == def.name) {
            return Err(Error::invalid(format!("attribute {:?} is declared twice", def.name)));
        }
    }
    Ok(())
}

/// A value of an attribute.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum AttributeValue {
    /// For a `u64` attribute (also accepted by `i64`, `f64` and `timestamp` ones when it fits).
    U64(u64),
    /// For an `i64` attribute (also accepted by `u64`, `f64` and `timestamp` ones when it fits).
    I64(i64),
    /// For an `f64` attribute (finite).
    F64(f64),
    /// For a `bool` attribute.
    Bool(bool),
    /// For a `string` attribute.
    String(String),
    /// For a `tags` attribute (order and repeats do not matter).
    Tags(Vec<String>),
    /// For a `timestamp` attribute: microseconds since the Unix epoch.
    Timestamp(i64),
}

impl From<u64> for AttributeValue {
    fn from(v: u64) -> Self {
        AttributeValue::U64(v)
    }
}
impl From<u32> for AttributeValue {
    fn from(v: u32) -> Self {
        AttributeValue::U64(u64::from(v))
    }
}
impl From<i64> for AttributeValue {
    fn from(v: i64) -> Self {
        AttributeValue::I64(v)
    }
}
impl From<i32> for AttributeValue {
    fn from(v: i32) -> Self {
        AttributeValue::I64(i64::from(v))
    }
}
impl From<f64> for AttributeValue {
    fn from(v: f64) -> Self {
        AttributeValue::F64(v)
    }
}
impl From<bool> for AttributeValue {
    fn from(v: bool) -> Self {
        AttributeValue::Bool(v)
    }
}
impl From<&str> for AttributeValue {
    fn from(v: &str) -> Self {
        AttributeValue::String(v.to_owned())
    }
}
impl From<String> for AttributeValue {
    fn from(v: String) -> Self {
        AttributeValue::String(v)
    }
}
impl From<Vec<String>> for AttributeValue {
    fn from(v: Vec<String>) -> Self {
        AttributeValue::Tags(v)
    }
}
impl From<&[&str]> for AttributeValue {
    fn from(v: &[&str]) -> Self {
        AttributeValue::Tags(v.iter().map(|s| (*s).to_owned()).collect())
    }
}
impl<const N: usize> From<[&str; N]> for AttributeValue {
    fn from(v: [&str; N]) -> Self {
        AttributeValue::Tags(v.iter().map(|s| (*s).to_owned()).collect())
    }
}

impl AttributeValue {
    /// The value as stored for an attribute of type `kind`: integers converted when the
    /// conversion is exact, tags sorted and deduplicated; `None` if it does not fit.
    pub(crate) fn coerce(&self, kind: AttributeType) -> Option<AttributeValue> {
        use AttributeValue as V;
        let int = match self {
            V::U64(n) => Some(i128::from(*n)),
            V::I64(n) | V::Timestamp(n) => Some(i128::from(*n)),
            _ => None,
        };
        Some(match (kind, self) {
            (AttributeType::U64, _) => V::U64(u64::try_from(int?).ok()?),
            (AttributeType::I64, V::U64(_) | V::I64(_)) => V::I64(i64::try_from(int?).ok()?),
            (AttributeType::Timestamp, V::U64(_) | V::I64(_) | V::Timestamp(_)) => V::Timestamp(i64::try_from(int?).ok()?),
            (AttributeType::F64, V::F64(x)) if x.is_finite() => V::F64(*x),
            (AttributeType::F64, V::U64(_) | V::I64(_)) => {
                let n = int?;
                let x = n as f64;
                // Only integers a double holds exactly.
                if x as i128 != n {
                    return None;
                }
                V::F64(x)
            }
            (AttributeType::Bool, V::Bool(b)) => V::Bool(*b),
            (AttributeType::String, V::String(s)) if s.len() <= MAX_STRING_LEN => V::String(s.clone()),
            (AttributeType::Tags, V::Tags(tags)) if tags.len() <= MAX_TAGS && tags.iter().all(|t| t.len() <= MAX_STRING_LEN) => {
                let mut tags = tags.clone();
                tags.sort();
                tags.dedup();
                V::Tags(tags)
            }
            _ => return None,
        })
    }

    /// The type this value has when stored as is.
    pub fn kind(&self) -> AttributeType {
        match self {
            AttributeValue::U64(_) => AttributeType::U64,
            AttributeValue::I64(_) => AttributeType::I64,
            AttributeValue::F64(_) => AttributeType::F64,
            AttributeValue::Bool(_) => AttributeType::Bool,
            AttributeValue::String(_) => AttributeType::String,
            AttributeValue::Tags(_) => AttributeType::Tags,
            AttributeValue::Timestamp(_) => AttributeType::Timestamp,
        }
    }

    /// Parses the text form of a value of type `kind` (what the CLI reads from a TSV
    /// cell; tags are separated by `,`). An empty cell is null (`None`).
    ///
    /// ```
    /// use drift::{AttributeType, AttributeValue};
    /// assert_eq!(AttributeValue::parse_text("a, b", AttributeType::Tags).unwrap(),
    ///            Some(AttributeValue::Tags(vec!["a".into(), "b".into()])));
    /// assert_eq!(AttributeValue::parse_text("", AttributeType::U64).unwrap(), None);
    /// ```
    pub fn parse_text(text: &str, kind: AttributeType) -> Result<Option<AttributeValue>> {
        let t = text.trim();
        if t.is_empty() {
            return Ok(None);
        }
        let bad = || Error::invalid(format!("{t:?} is not a {kind} value"));
        let value = match kind {
            AttributeType::U64 => AttributeValue::U64(t.parse().map_err(|_| bad())?),
            AttributeType::I64 => AttributeValue::I64(t.parse().map_err(|_| bad())?),
            AttributeType::F64 => AttributeValue::F64(t.parse::<f64>().ok().filter(|x| x.is_finite()).ok_or_else(bad)?),
            AttributeType::Bool => match t.to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" => AttributeValue::Bool(true),
                "false" | "0" | "no" => AttributeValue::Bool(false),
                _ => return Err(bad()),
            },
            AttributeType::String => AttributeValue::String(t.to_owned()),
            AttributeType::Tags => AttributeValue::Tags(t.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect()),
            AttributeType::Timestamp => match t.parse::<i64>() {
                Ok(n) => AttributeValue::Timestamp(n),
                Err(_) => AttributeValue::Timestamp(parse_rfc3339(t).ok_or_else(bad)?),
            },
        };
        Ok(Some(value))
    }
}

/// Parses `YYYY-MM-DD`, `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)` into microseconds
/// since the Unix epoch.
pub(crate) fn parse_rfc3339(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    let num = |from: usize, len: usize| -> Option<i64> {
        let s = text.get(from..from + len)?;
        if !s.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        s.parse().ok()
    };
    let (year, month, day) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    if b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') || !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    let days = days_from_civil(year, month, day);
    if b.len() == 10 {
        return days.checked_mul(86_400_000_000);
    }
    if !matches!(b.get(10), Some(b'T' | b't' | b' ')) || b.get(13) != Some(&b':') || b.get(16) != Some(&b':') {
        return None;
    }
    let (hour, minute, second) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let mut at = 19;
    let mut micros = 0i64;
    if b.get(at) == Some(&b'.') {
        at += 1;
        let start = at;
        while b.get(at).is_some_and(u8::is_ascii_digit) {
            at += 1;
        }
        let digits = &text[start..at];
        if digits.is_empty() {
            return None;
        }
        let six: String = digits.chars().chain(std::iter::repeat('0')).take(6).collect();
        micros = six.parse().ok()?;
    }
    let offset_seconds = match &text[at..] {
        "Z" | "z" => 0,
        tz if tz.len() == 6 && matches!(tz.as_bytes()[0], b'+' | b'-') && tz.as_bytes()[3] == b':' => {
            let h = num(at + 1, 2)?;
            let m = num(at + 4, 2)?;
            let sign = if tz.as_bytes()[0] == b'-' { -1 } else { 1 };
            sign * (h * 3600 + m * 60)
        }
        _ => return None,
    };
    let seconds = days.checked_mul(86_400)? + hour * 3600 + minute * 60 + second - offset_seconds;
    seconds.checked_mul(1_000_000)?.checked_add(micros)
}

/// Days from 1970-01-01 to the given proleptic Gregorian date (Howard Hinnant's
/// algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The attribute values of one posting, by name, built with [`Attributes::set`].
///
/// ```
/// let a = drift::Attributes::new().set("lang", "en").set("tags", ["x11", "net"]).set("size", 12u64);
/// assert_eq!(a.len(), 3);
/// assert!(a.get("missing").is_none());
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Attributes {
    values: Vec<(String, AttributeValue)>,
}

impl Attributes {
    /// No values (every attribute null).
    pub fn new() -> Self {
        Attributes::default()
    }

    /// The same values with `name` set to `value` (replacing an earlier value).
    pub fn set(mut self, name: impl Into<String>, value: impl Into<AttributeValue>) -> Self {
        self.insert(name, value);
        self
    }

    /// Sets `name` to `value` (replacing an earlier value).
    pub fn insert(&mut self, name: impl Into<String>, value: impl Into<AttributeValue>) {
        let (name, value) = (name.into(), value.into());
        match self.values.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = value,
            None => self.values.push((name, value)),
        }
    }

    /// The value of `name`, if set.
    pub fn get(&self, name: &str) -> Option<&AttributeValue> {
        self.values.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    /// Values set.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether no value is set.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The values, in the order they were first set.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &AttributeValue)> {
        self.values.iter().map(|(n, v)| (n.as_str(), v))
    }
}

impl Attributes {
    /// Parses one posting's values in text form against `schema`: `name=value` entries
    /// separated by tabs (the form the C ABI, Go and Java pass), each value in the form
    /// [`AttributeValue::parse_text`] reads (tags separated by `,`; an empty value is
    /// null). Unknown names and values that do not parse are refused, naming the entry.
    ///
    /// ```
    /// use drift::{AttributeDef, AttributeValue, Attributes};
    /// let schema = AttributeDef::parse_list("lang:string, size:u64, tags:tags").unwrap();
    /// let a = Attributes::parse_text("lang=en\tsize=12\ttags=x,y", &schema).unwrap();
    /// assert_eq!(a.get("size"), Some(&AttributeValue::U64(12)));
    /// assert!(Attributes::parse_text("colour=red", &schema).is_err());
    /// ```
    pub fn parse_text(text: &str, schema: &[AttributeDef]) -> Result<Attributes> {
        let mut out = Attributes::new();
        for (i, entry) in text.split('\t').enumerate().filter(|(_, e)| !e.trim().is_empty()) {
            let (name, value) = entry
                .split_once('=')
                .ok_or_else(|| Error::invalid(format!("attribute entry {} ({entry:?}) is not `name=value`", i + 1)))?;
            let name = name.trim();
            let def = schema.iter().find(|d| d.name == name).ok_or_else(|| {
                let known: Vec<&str> = schema.iter().map(|d| d.name.as_str()).collect();
                Error::invalid(format!("unknown attribute {name:?} (the schema has: {})", if known.is_empty() { "no attributes".into() } else { known.join(", ") }))
            })?;
            if let Some(v) = AttributeValue::parse_text(value, def.kind).map_err(|e| Error::invalid(format!("attribute {name:?}: {e}")))? {
                out.insert(name, v);
            }
        }
        Ok(out)
    }
}

/// One row's values as stored: (attribute id, value of the attribute's type), sorted
/// by id, nulls absent.
pub(crate) type RowValues = Vec<(u16, AttributeValue)>;

/// Converts a write's [`Attributes`] to stored row values under `schema`; refuses an
/// unknown name or a value that does not fit its attribute's type.
pub(crate) fn row_values(schema: &[AttributeDef], attributes: &Attributes, posting: usize) -> Result<RowValues> {
    let mut row = RowValues::with_capacity(attributes.len());
    for (name, value) in attributes.iter() {
        let Some(id) = schema.iter().position(|d| d.name == name) else {
            let known: Vec<&str> = schema.iter().map(|d| d.name.as_str()).collect();
            return Err(Error::invalid(format!(
                "posting {posting}: unknown attribute {name:?} (the collection's schema has: {})",
                if known.is_empty() { "no attributes".to_owned() } else { known.join(", ") }
            )));
        };
        let kind = schema[id].kind;
        let stored = value.coerce(kind).ok_or_else(|| {
            Error::invalid(format!("posting {posting}: attribute {name:?} is {kind}; the value {value:?} does not fit it"))
        })?;
        row.push((id as u16, stored));
    }
    row.sort_by_key(|(id, _)| *id);
    Ok(row)
}

/// Stored row values as [`Attributes`], named by `schema` (an id the schema does not
/// know, which a valid database never holds, is left out).
pub(crate) fn named(schema: &[AttributeDef], row: RowValues) -> Attributes {
    Attributes { values: row.into_iter().filter_map(|(id, v)| Some((schema.get(id as usize)?.name.clone(), v))).collect() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_dates_and_times_convert_to_microseconds() {
        assert_eq!(parse_rfc3339("1970-01-01"), Some(0));
        assert_eq!(parse_rfc3339("1970-01-02T00:00:00Z"), Some(86_400_000_000));
        assert_eq!(parse_rfc3339("2000-03-01T12:30:15.5+01:00"), Some(951_910_215_500_000));
        assert_eq!(parse_rfc3339("1969-12-31T23:59:59Z"), Some(-1_000_000));
        for bad in ["2000-13-01", "2000-01-01T25:00:00Z", "2000-01-01T00:00:00", "yesterday", "2000-1-1"] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn values_convert_only_when_exact() {
        use AttributeValue as V;
        assert_eq!(V::I64(5).coerce(AttributeType::U64), Some(V::U64(5)));
        assert_eq!(V::I64(-5).coerce(AttributeType::U64), None);
        assert_eq!(V::U64(u64::MAX).coerce(AttributeType::I64), None);
        assert_eq!(V::U64(3).coerce(AttributeType::F64), Some(V::F64(3.0)));
        assert_eq!(V::U64((1 << 53) + 1).coerce(AttributeType::F64), None);
        assert_eq!(V::F64(f64::NAN).coerce(AttributeType::F64), None);
        assert_eq!(V::String("x".into()).coerce(AttributeType::Tags), None);
        assert_eq!(V::from(["b", "a", "b"]).coerce(AttributeType::Tags), Some(V::Tags(vec!["a".into(), "b".into()])));
    }

    #[test]
    fn schemas_refuse_bad_and_repeated_names() {
        let ok = [AttributeDef::new("a", AttributeType::U64), AttributeDef::new("b.c-d_1", AttributeType::Tags)];
        check_schema(&ok).unwrap();
        for bad in ["", "1a", "a b", "and", "NULL", "true"] {
            assert!(check_schema(&[AttributeDef::new(bad, AttributeType::U64)]).is_err(), "{bad:?}");
        }
        let twice = [AttributeDef::new("a", AttributeType::U64), AttributeDef::new("a", AttributeType::I64)];
        assert!(check_schema(&twice).unwrap_err().to_string().contains("twice"));
    }

    #[test]
    fn a_write_names_the_unknown_attribute_and_the_misfit_value() {
        let schema = [AttributeDef::new("size", AttributeType::U64)];
        let e = row_values(&schema, &Attributes::new().set("sise", 1u64), 3).unwrap_err().to_string();
        assert!(e.contains("posting 3") && e.contains("\"sise\"") && e.contains("size"), "{e}");
        let e = row_values(&schema, &Attributes::new().set("size", "big"), 0).unwrap_err().to_string();
        assert!(e.contains("is u64"), "{e}");
    }
}
