//! A [`Filter`] checked against a collection's schema ([`Predicate`]), and its
//! evaluation: over a whole attribute section at once (a row mask), over a section's
//! summaries (can any row match?), and over one row's values (the model tests use).
//!
//! Semantics: a comparison (`==`, `!=`, `<`, ..., `in`, `contains`) is false for a row
//! where the attribute is null; `is null` / `is not null` test exactly that; `not`
//! negates (so `not x == 1` holds for a null `x`, `x != 1` does not). Integers and
//! floats compare by value whatever the attribute's numeric type; strings compare by
//! their UTF-8 bytes.
//!
//! Invariant: resolution refuses, before any work, an unknown attribute, a value of the
//! wrong type and an operator the type has no meaning for, naming the byte offset of
//! the comparison when the filter came as text.

use std::cmp::Ordering;

use super::section::{Body, Column, Section};
use super::summary::{self, GroupSummary};
use super::{AttributeDef, AttributeType};
#[cfg(test)]
use super::{AttributeValue, RowValues};
use crate::error::{Error, Result};
use crate::filter::{Filter, Op, Value};

/// A numeric literal.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Number {
    Int(i128),
    Float(f64),
}

#[derive(Debug, Clone, PartialEq)]
enum Node {
    Number { attribute: u16, kind: AttributeType, op: Op, value: Number },
    NumberIn { attribute: u16, kind: AttributeType, values: Vec<Number> },
    Bool { attribute: u16, value: bool },
    /// `hash`: the value's summary hash (`summary::hash`).
    Str { attribute: u16, op: Op, value: String, hash: u64 },
    StrIn { attribute: u16, values: Vec<String>, hashes: Vec<u64> },
    Contains { attribute: u16, tag: String, hash: u64 },
    IsNull { attribute: u16, negated: bool },
    And(Vec<Node>),
    Or(Vec<Node>),
    Not(Box<Node>),
}

/// A filter resolved against a schema, ready to evaluate.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Predicate {
    root: Node,
}

impl Predicate {
    /// Resolves `filter` against `schema`; `positions` (from `Filter::parse_located`)
    /// give each comparison's byte offset for the error.
    pub fn resolve(filter: &Filter, schema: &[AttributeDef], positions: Option<&[usize]>) -> Result<Predicate> {
        let mut leaf = 0;
        let root = resolve(filter, schema, positions, &mut leaf)?;
        Ok(Predicate { root })
    }

    /// Sets bit `r` of `mask` (⌈rows / 64⌉ words, resized here) for every row `r` of
    /// `section` that matches; returns how many do.
    pub fn mask(&self, section: &Section<'_>, rows: usize, mask: &mut Vec<u64>) -> usize {
        mask.clear();
        mask.resize(rows.div_ceil(64), 0);
        eval(&self.root, section, rows, mask);
        mask.iter().map(|w| w.count_ones() as usize).sum()
    }

    /// Whether some row of a group may match, judged from its in-memory summary
    /// alone (the cheapest test: no page of the group is read).
    #[inline]
    pub fn may_match_summary(&self, summary: &GroupSummary) -> bool {
        may_match_summary(&self.root, summary)
    }

    /// Whether one row with `values` matches (the model the tests compare with).
    #[cfg(test)]
    pub fn matches(&self, values: &RowValues) -> bool {
        matches(&self.root, values)
    }
}

fn resolve(filter: &Filter, schema: &[AttributeDef], positions: Option<&[usize]>, leaf: &mut usize) -> Result<Node> {
    let combine = |parts: &[Filter], leaf: &mut usize| -> Result<Vec<Node>> {
        parts.iter().map(|p| resolve(p, schema, positions, leaf)).collect()
    };
    match filter {
        Filter::And(parts) => return Ok(Node::And(combine(parts, leaf)?)),
        Filter::Or(parts) => return Ok(Node::Or(combine(parts, leaf)?)),
        Filter::Not(inner) => return Ok(Node::Not(Box::new(resolve(inner, schema, positions, leaf)?))),
        _ => {}
    }
    let at = positions.and_then(|p| p.get(*leaf).copied());
    *leaf += 1;
    let error = |reason: String| -> Error {
        match at {
            Some(at) => Error::invalid(format!("filter error at byte {at}: {reason}")),
            None => Error::invalid(format!("filter error in `{filter}`: {reason}")),
        }
    };
    let name = match filter {
        Filter::Compare { name, .. } | Filter::In { name, .. } | Filter::Contains { name, .. } | Filter::IsNull { name, .. } => name,
        _ => unreachable!("combinators returned above"),
    };
    let Some(id) = schema.iter().position(|d| &d.name == name) else {
        let known: Vec<&str> = schema.iter().map(|d| d.name.as_str()).collect();
        return Err(error(format!(
            "unknown attribute `{name}` (the collection's schema has: {})",
            if known.is_empty() { "no attributes".to_owned() } else { known.join(", ") }
        )));
    };
    let attribute = id as u16;
    let kind = schema[id].kind;
    let number = |v: &Value| -> Result<Number> {
        match (kind, v) {
            (_, Value::Int(n)) => Ok(Number::Int(*n)),
            (_, Value::Float(x)) => Ok(Number::Float(*x)),
            (AttributeType::Timestamp, Value::Str(s)) => super::parse_rfc3339(s)
                .map(|t| Number::Int(i128::from(t)))
                .ok_or_else(|| error(format!("`{name}` is a timestamp; {s:?} is not RFC 3339 (e.g. 2026-12-05T10:00:00Z)"))),
            _ => Err(error(format!("`{name}` is {kind}; the value {} is not a number", value_text(v)))),
        }
    };
    let string = |v: &Value| -> Result<String> {
        match v {
            Value::Str(s) => Ok(s.clone()),
            _ => Err(error(format!("`{name}` is {kind}; the value {} is not a string", value_text(v)))),
        }
    };
    Ok(match (filter, kind) {
        (Filter::IsNull { negated, .. }, _) => Node::IsNull { attribute, negated: *negated },
        (Filter::Compare { op, value, .. }, k) if k.is_numeric() => Node::Number { attribute, kind, op: *op, value: number(value)? },
        (Filter::In { values, .. }, k) if k.is_numeric() => {
            Node::NumberIn { attribute, kind, values: values.iter().map(number).collect::<Result<_>>()? }
        }
        (Filter::Compare { op, value, .. }, AttributeType::Bool) => {
            let Value::Bool(b) = value else {
                return Err(error(format!("`{name}` is bool; the value {} is not true or false", value_text(value))));
            };
            match op {
                Op::Eq => Node::Bool { attribute, value: *b },
                Op::Ne => Node::Bool { attribute, value: !*b },
                _ => return Err(error(format!("`{name}` is bool; only == and != compare it"))),
            }
        }
        (Filter::In { values, .. }, AttributeType::Bool) => {
            let mut nodes = Vec::new();
            for v in values {
                let Value::Bool(b) = v else { return Err(error(format!("`{name}` is bool; the value {} is not true or false", value_text(v)))) };
                nodes.push(Node::Bool { attribute, value: *b });
            }
            Node::Or(nodes)
        }
        (Filter::Compare { op, value, .. }, AttributeType::String) => {
            let value = string(value)?;
            Node::Str { attribute, op: *op, hash: summary::hash(value.as_bytes()), value }
        }
        (Filter::In { values, .. }, AttributeType::String) => {
            let mut values: Vec<String> = values.iter().map(string).collect::<Result<_>>()?;
            values.sort();
            values.dedup();
            let hashes = values.iter().map(|v| summary::hash(v.as_bytes())).collect();
            Node::StrIn { attribute, values, hashes }
        }
        (Filter::Contains { value, .. }, AttributeType::Tags) => {
            let tag = string(value)?;
            Node::Contains { attribute, hash: summary::hash(tag.as_bytes()), tag }
        }
        (Filter::Contains { .. }, _) => return Err(error(format!("`{name}` is {kind}; `contains` tests tags attributes only"))),
        (_, AttributeType::Tags) => return Err(error(format!("`{name}` is tags; test it with `contains` (or `is null`)"))),
        _ => return Err(error(format!("`{name}` is {kind}; this comparison does not apply to it"))),
    })
}

fn value_text(v: &Value) -> String {
    Filter::Compare { name: "x".into(), op: Op::Eq, value: v.clone() }.to_string().trim_start_matches("x == ").to_owned()
}

/// Orders a stored numeric value (bits of `kind`) against a literal.
#[inline]
fn compare(kind: AttributeType, bits: u64, value: Number) -> Ordering {
    match (kind, value) {
        (AttributeType::F64, v) => {
            let x = f64::from_bits(bits);
            let y = match v {
                Number::Int(n) => n as f64,
                Number::Float(f) => f,
            };
            x.total_cmp(&y)
        }
        (_, Number::Float(f)) => {
            let x = if kind == AttributeType::U64 { bits as f64 } else { bits as i64 as f64 };
            x.total_cmp(&f)
        }
        (_, Number::Int(n)) => {
            let x = if kind == AttributeType::U64 { i128::from(bits) } else { i128::from(bits as i64) };
            x.cmp(&n)
        }
    }
}

#[cfg(test)]
#[inline]
fn holds(op: Op, ord: Ordering) -> bool {
    match op {
        Op::Eq => ord.is_eq(),
        Op::Ne => ord.is_ne(),
        Op::Lt => ord.is_lt(),
        Op::Le => ord.is_le(),
        Op::Gt => ord.is_gt(),
        Op::Ge => ord.is_ge(),
    }
}

/// The dictionary codes `code` must fall in (`lo..hi`) for `code op value` to hold,
/// or `None` for `!=` (every code but one, given as `lo`).
fn code_range(dict: &super::section::Dictionary<'_>, op: Op, value: &str) -> (usize, usize) {
    let found = dict.find(value);
    let (at, exact) = match found {
        Ok(i) => (i, true),
        Err(i) => (i, false),
    };
    match op {
        Op::Eq if exact => (at, at + 1),
        Op::Eq => (0, 0),
        Op::Lt => (0, at),
        Op::Le => (0, if exact { at + 1 } else { at }),
        Op::Gt => (if exact { at + 1 } else { at }, dict.len),
        Op::Ge => (at, dict.len),
        Op::Ne => (0, dict.len),
    }
}

/// The presence bits of rows `64w .. 64w + 64` of `column` (all set without nulls).
#[inline]
fn presence_word(column: &Column<'_>, w: usize) -> u64 {
    if column.null_count == 0 {
        return !0;
    }
    let bytes = column.presence();
    let mut word = [0u8; 8];
    if let Some(b) = bytes.get(w * 8..) {
        let n = b.len().min(8);
        word[..n].copy_from_slice(&b[..n]);
    }
    u64::from_le_bytes(word)
}

/// Sets the bit of every present row whose stored 8-byte value passes `test`.
#[inline]
fn set_fixed(mask: &mut [u64], column: &Column<'_>, test: impl Fn(u64) -> bool) {
    let Body::Fixed(values) = column.body else { return };
    for (w, chunk) in values.chunks(64 * 8).enumerate() {
        let mut word = 0u64;
        for (j, v) in chunk.chunks_exact(8).enumerate() {
            word |= u64::from(test(u64::from_le_bytes(v.try_into().expect("8 bytes")))) << j;
        }
        mask[w] |= word & presence_word(column, w);
    }
}

/// Sets the bit of every present row whose dictionary code passes `test`.
#[inline]
fn set_codes(mask: &mut [u64], column: &Column<'_>, test: impl Fn(u32) -> bool) {
    let Body::Str { codes, .. } = column.body else { return };
    for (w, chunk) in codes.chunks(64 * 4).enumerate() {
        let mut word = 0u64;
        for (j, c) in chunk.chunks_exact(4).enumerate() {
            word |= u64::from(test(u32::from_le_bytes(c.try_into().expect("4 bytes")))) << j;
        }
        mask[w] |= word & presence_word(column, w);
    }
}

/// Sets the bit of every present row for which `test` holds (the general, slower
/// path: bools and tags).
fn set_where(mask: &mut [u64], column: &Column<'_>, rows: usize, mut test: impl FnMut(usize) -> bool) {
    for r in 0..rows {
        if column.present(r) && test(r) {
            mask[r / 64] |= 1 << (r % 64);
        }
    }
}

/// `value` op `literal` for every present row of a numeric column, with the literal
/// converted once to the column's domain.
fn set_numbers(mask: &mut [u64], column: &Column<'_>, kind: AttributeType, op: Op, value: Number) {
    fn with_op(mask: &mut [u64], column: &Column<'_>, op: Op, order: impl Fn(u64) -> Ordering) {
        match op {
            Op::Eq => set_fixed(mask, column, |b| order(b).is_eq()),
            Op::Ne => set_fixed(mask, column, |b| order(b).is_ne()),
            Op::Lt => set_fixed(mask, column, |b| order(b).is_lt()),
            Op::Le => set_fixed(mask, column, |b| order(b).is_le()),
            Op::Gt => set_fixed(mask, column, |b| order(b).is_gt()),
            Op::Ge => set_fixed(mask, column, |b| order(b).is_ge()),
        }
    }
    match (kind, value) {
        (AttributeType::U64, Number::Int(n)) => match u64::try_from(n) {
            Ok(n) => with_op(mask, column, op, |b| b.cmp(&n)),
            Err(_) => with_op(mask, column, op, |_| if n < 0 { Ordering::Greater } else { Ordering::Less }),
        },
        (AttributeType::I64 | AttributeType::Timestamp, Number::Int(n)) => match i64::try_from(n) {
            Ok(n) => with_op(mask, column, op, |b| (b as i64).cmp(&n)),
            Err(_) => with_op(mask, column, op, |_| if n < 0 { Ordering::Greater } else { Ordering::Less }),
        },
        _ => with_op(mask, column, op, |b| compare(kind, b, value)),
    }
}

fn eval(node: &Node, section: &Section<'_>, rows: usize, mask: &mut [u64]) {
    let column = |attribute: u16| section.column(attribute);
    match node {
        Node::And(parts) | Node::Or(parts) => {
            let is_and = matches!(node, Node::And(_));
            let mut part = vec![0u64; mask.len()];
            for (i, p) in parts.iter().enumerate() {
                if i == 0 {
                    eval(p, section, rows, mask);
                    continue;
                }
                part.iter_mut().for_each(|w| *w = 0);
                eval(p, section, rows, &mut part);
                for (m, w) in mask.iter_mut().zip(&part) {
                    *m = if is_and { *m & w } else { *m | w };
                }
            }
        }
        Node::Not(inner) => {
            eval(inner, section, rows, mask);
            for w in mask.iter_mut() {
                *w = !*w;
            }
            clear_tail(mask, rows);
        }
        Node::IsNull { attribute, negated } => match column(*attribute) {
            None => {
                if !negated {
                    mask.iter_mut().for_each(|w| *w = !0);
                    clear_tail(mask, rows);
                }
            }
            Some(c) => {
                for r in 0..rows {
                    if c.present(r) == *negated {
                        mask[r / 64] |= 1 << (r % 64);
                    }
                }
            }
        },
        Node::Number { attribute, kind, op, value } => {
            if let Some(c) = column(*attribute) {
                set_numbers(mask, &c, *kind, *op, *value);
            }
        }
        Node::NumberIn { attribute, kind, values } => {
            if let Some(c) = column(*attribute) {
                set_fixed(mask, &c, |b| values.iter().any(|v| compare(*kind, b, *v).is_eq()));
            }
        }
        Node::Bool { attribute, value } => {
            if let Some(c) = column(*attribute)
                && let Body::Bool(b) = c.body
            {
                set_where(mask, &c, rows, |r| b.get(r).is_some_and(|&x| (x != 0) == *value));
            }
        }
        Node::Str { attribute, op, value, .. } => {
            if let Some(c) = column(*attribute)
                && let Body::Str { dict, .. } = c.body
            {
                if *op == Op::Ne {
                    let skip = dict.find(value).map_or(u32::MAX, |i| i as u32);
                    set_codes(mask, &c, |code| code != skip);
                } else {
                    let (lo, hi) = code_range(&dict, *op, value);
                    if lo + 1 == hi {
                        let only = lo as u32;
                        set_codes(mask, &c, |code| code == only);
                    } else if lo < hi {
                        let (lo, hi) = (lo as u32, hi as u32);
                        set_codes(mask, &c, |code| code.wrapping_sub(lo) < hi - lo);
                    }
                }
            }
        }
        Node::StrIn { attribute, values, .. } => {
            if let Some(c) = column(*attribute)
                && let Body::Str { dict, .. } = c.body
            {
                // The set as a bitmap over the group's dictionary codes (on the stack
                // for dictionaries of up to 1,024 strings).
                let (mut stack, mut heap) = ([0u64; 16], Vec::new());
                let words = dict.len.div_ceil(64);
                let set: &mut [u64] = if words <= stack.len() {
                    &mut stack[..words]
                } else {
                    heap.resize(words, 0);
                    &mut heap
                };
                let mut found = 0;
                let mut only = 0u32;
                for code in values.iter().filter_map(|v| dict.find(v).ok()) {
                    set[code / 64] |= 1 << (code % 64);
                    found += 1;
                    only = code as u32;
                }
                if found == 1 {
                    set_codes(mask, &c, |code| code == only);
                } else if found > 1 {
                    let set = &*set;
                    set_codes(mask, &c, |code| set.get(code as usize / 64).is_some_and(|w| w >> (code % 64) & 1 == 1));
                }
            }
        }
        Node::Contains { attribute, tag, .. } => {
            if let Some(c) = column(*attribute)
                && let Body::Tags { dict, .. } = c.body
                && let Ok(code) = dict.find(tag)
            {
                let code = code as u32;
                set_where(mask, &c, rows, |r| c.tag_codes(r).any(|t| t == code));
            }
        }
    }
}

fn clear_tail(mask: &mut [u64], rows: usize) {
    if !rows.is_multiple_of(64)
        && let Some(last) = mask.last_mut()
    {
        *last &= (1u64 << (rows % 64)) - 1;
    }
}

fn may_match_summary(node: &Node, summary: &GroupSummary) -> bool {
    let rows = summary.rows;
    let column = |attribute: u16| summary.column(attribute).filter(|c| (c.null_count as usize) < rows);
    match node {
        Node::And(parts) => parts.iter().all(|p| may_match_summary(p, summary)),
        Node::Or(parts) => parts.iter().any(|p| may_match_summary(p, summary)),
        Node::Not(_) => true,
        Node::IsNull { attribute, negated } => match summary.column(*attribute) {
            None => !negated,
            Some(c) if *negated => (c.null_count as usize) < rows,
            Some(c) => c.null_count > 0,
        },
        Node::Number { attribute, kind, op, value } => column(*attribute).is_some_and(|c| {
            let (lo, hi) = (compare(*kind, c.min, *value), compare(*kind, c.max, *value));
            match op {
                Op::Eq => lo.is_le() && hi.is_ge(),
                Op::Ne => !(lo.is_eq() && hi.is_eq()),
                Op::Lt => lo.is_lt(),
                Op::Le => lo.is_le(),
                Op::Gt => hi.is_gt(),
                Op::Ge => hi.is_ge(),
            }
        }),
        Node::NumberIn { attribute, kind, values } => column(*attribute)
            .is_some_and(|c| values.iter().any(|v| compare(*kind, c.min, *v).is_le() && compare(*kind, c.max, *v).is_ge())),
        Node::Bool { attribute, value } => column(*attribute).is_some_and(|c| if *value { c.max == 1 } else { c.min == 0 }),
        // Only equality is answered by the Bloom filter; a range may hold anywhere.
        Node::Str { attribute, op: Op::Eq, hash, .. } => column(*attribute).is_some_and(|c| c.may_hold(*hash)),
        Node::Str { attribute, op: Op::Ne, hash, .. } => column(*attribute).is_some_and(|c| !(c.dictionary_len == 1 && c.may_hold(*hash))),
        Node::Str { attribute, .. } => column(*attribute).is_some(),
        Node::StrIn { attribute, hashes, .. } => column(*attribute).is_some_and(|c| hashes.iter().any(|h| c.may_hold(*h))),
        Node::Contains { attribute, hash, .. } => column(*attribute).is_some_and(|c| c.may_hold(*hash)),
    }
}

#[cfg(test)]
fn stored_bits(v: &AttributeValue) -> Option<u64> {
    Some(match v {
        AttributeValue::U64(n) => *n,
        AttributeValue::I64(n) | AttributeValue::Timestamp(n) => *n as u64,
        AttributeValue::F64(x) => x.to_bits(),
        _ => return None,
    })
}

#[cfg(test)]
fn matches(node: &Node, values: &RowValues) -> bool {
    let get = |attribute: u16| values.iter().find(|(id, _)| *id == attribute).map(|(_, v)| v);
    match node {
        Node::And(parts) => parts.iter().all(|p| matches(p, values)),
        Node::Or(parts) => parts.iter().any(|p| matches(p, values)),
        Node::Not(inner) => !matches(inner, values),
        Node::IsNull { attribute, negated } => get(*attribute).is_some() == *negated,
        Node::Number { attribute, kind, op, value } => {
            get(*attribute).and_then(stored_bits).is_some_and(|b| holds(*op, compare(*kind, b, *value)))
        }
        Node::NumberIn { attribute, kind, values: set } => {
            get(*attribute).and_then(stored_bits).is_some_and(|b| set.iter().any(|v| compare(*kind, b, *v).is_eq()))
        }
        Node::Bool { attribute, value } => matches!(get(*attribute), Some(AttributeValue::Bool(b)) if b == value),
        Node::Str { attribute, op, value, .. } => {
            matches!(get(*attribute), Some(AttributeValue::String(s)) if holds(*op, s.as_bytes().cmp(value.as_bytes())))
        }
        Node::StrIn { attribute, values: set, .. } => matches!(get(*attribute), Some(AttributeValue::String(s)) if set.contains(s)),
        Node::Contains { attribute, tag, .. } => matches!(get(*attribute), Some(AttributeValue::Tags(t)) if t.contains(tag)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attributes::section;
    use AttributeValue as V;

    fn schema() -> Vec<AttributeDef> {
        vec![
            AttributeDef::new("size", AttributeType::U64),
            AttributeDef::new("delta", AttributeType::I64),
            AttributeDef::new("score", AttributeType::F64),
            AttributeDef::new("free", AttributeType::Bool),
            AttributeDef::new("section", AttributeType::String),
            AttributeDef::new("tags", AttributeType::Tags),
            AttributeDef::new("at", AttributeType::Timestamp),
            AttributeDef::new("added_later", AttributeType::U64),
        ]
    }

    /// A deterministic pseudo-random row: every attribute null one time in four.
    fn row(seed: u64) -> RowValues {
        let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let words = ["admin", "net", "web", "x11", "zz"];
        let mut out = RowValues::new();
        for id in 0..7u16 {
            if next() % 4 == 0 {
                continue;
            }
            let v = match id {
                0 => V::U64(next() % 10),
                1 => V::I64((next() % 10) as i64 - 5),
                2 => V::F64((next() % 20) as f64 / 4.0 - 2.0),
                3 => V::Bool(next() % 2 == 0),
                4 => V::String(words[(next() % 5) as usize].into()),
                5 => {
                    let mut t: Vec<String> = (0..next() % 3).map(|_| words[(next() % 5) as usize].to_owned()).collect();
                    t.sort();
                    t.dedup();
                    V::Tags(t)
                }
                _ => V::Timestamp((next() % 5) as i64 * 86_400_000_000),
            };
            out.push((id, v));
        }
        out
    }

    const FILTERS: &[&str] = &[
        "size == 3",
        "size != 3",
        "size < 4",
        "size <= 4.5",
        "size > -1",
        "size >= 9",
        "size in (1, 2, 8)",
        "delta < 0",
        "delta >= -2 and delta != 1",
        "score > 0.25",
        "score == 1",
        "score in (0.5, -2)",
        "free == true",
        "free != true",
        "free in (false)",
        "section == 'net'",
        "section != 'net'",
        "section < 'net'",
        "section <= 'net'",
        "section > 'nzz'",
        "section >= 'web'",
        "section in ('web', 'x11', 'nope')",
        "section == 'nope'",
        "tags contains 'x11'",
        "tags contains 'nope'",
        "tags is null",
        "size is not null",
        "added_later is null",
        "added_later is not null",
        "added_later == 1",
        "at >= '1970-01-03'",
        "at < 172800000000",
        "not size == 3",
        "not (section == 'net' or tags contains 'web')",
        "(size < 5 or free == false) and not section in ('admin') and score is not null",
    ];

    #[test]
    fn every_operator_and_type_matches_the_row_model() {
        let schema = schema();
        for &rows in &[1usize, 63, 64, 65, 300] {
            let values: Vec<RowValues> = (0..rows as u64).map(|i| row(i + 1000 * rows as u64)).collect();
            let bytes = section::encode(&values);
            let section = Section::parse(&bytes, rows).unwrap();
            let mut mask = Vec::new();
            for text in FILTERS {
                let p = Predicate::resolve(&Filter::parse(text).unwrap(), &schema, None).unwrap();
                let count = p.mask(&section, rows, &mut mask);
                let mut expected = 0;
                for (r, v) in values.iter().enumerate() {
                    let want = p.matches(v);
                    expected += usize::from(want);
                    assert_eq!(mask[r / 64] >> (r % 64) & 1 == 1, want, "{text}, {rows} rows, row {r}: {v:?}");
                }
                assert_eq!(count, expected, "{text}");
                let summary = GroupSummary::of(&section, rows);
                assert!(p.may_match_summary(&summary) || count == 0, "{text}: the in-memory summary ruled out {count} matches");
            }
        }
    }

    #[test]
    fn summaries_rule_out_groups_that_cannot_match() {
        let schema = schema();
        let values: Vec<RowValues> = (0..50).map(|i| vec![(0, V::U64(10 + i)), (4, V::String("net".into()))]).collect();
        let bytes = section::encode(&values);
        let section = Section::parse(&bytes, 50).unwrap();
        for (text, may) in [
            ("size < 10", false),
            ("size <= 10", true),
            ("size > 59", false),
            ("size in (5, 70)", false),
            ("section == 'web'", false),
            ("section != 'net'", false),
            ("section in ('web', 'net')", true),
            ("tags contains 'a'", false),
            ("tags is null", true),
            ("size is null", false),
            ("size == 1 or section == 'net'", true),
        ] {
            let p = Predicate::resolve(&Filter::parse(text).unwrap(), &schema, None).unwrap();
            assert_eq!(p.may_match_summary(&GroupSummary::of(&section, 50)), may, "{text}");
        }
    }

    #[test]
    fn bad_filters_name_the_position_and_the_reason() {
        let schema = schema();
        for (text, at, reason) in [
            ("size == 1 and sise == 2", "byte 14", "unknown attribute `sise`"),
            ("section == 3", "byte 0", "not a string"),
            ("size == 'x'", "byte 0", "not a number"),
            ("free < true", "byte 0", "only == and !="),
            ("tags == 'a'", "byte 0", "contains"),
            ("section contains 'a'", "byte 0", "tags attributes only"),
            ("(size == 1) or at > 'yesterday'", "byte 15", "RFC 3339"),
        ] {
            let (f, positions) = Filter::parse_located(text).unwrap();
            let e = Predicate::resolve(&f, &schema, Some(&positions)).unwrap_err().to_string();
            assert!(e.contains(at) && e.contains(reason), "{text}: {e}");
        }
        let e = Predicate::resolve(&Filter::attr("nope").eq(1), &schema, None).unwrap_err().to_string();
        assert!(e.contains("`nope == 1`") && e.contains("unknown attribute"), "{e}");
    }
}
