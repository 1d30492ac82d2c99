//! Label and field selectors, parsed and matched the way kube-apiserver does.

use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
enum LabelReq {
    Exists(String),
    NotExists(String),
    Eq(String, String),
    NotEq(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Gt(String, i64),
    Lt(String, i64),
}

#[derive(Debug, Clone, PartialEq)]
enum FieldReq {
    Eq(String, String),
    NotEq(String, String),
}

/// A label selector and a field selector (both empty = everything).
#[derive(Debug, Clone, Default)]
pub(crate) struct Selectors {
    labels: Vec<LabelReq>,
    fields: Vec<FieldReq>,
}

impl Selectors {
    /// Parses `labelSelector` and `fieldSelector`. `field_ok` says which field labels the
    /// resource supports. The error is the message of a 400 BadRequest.
    pub fn parse(
        label: Option<&str>,
        field: Option<&str>,
        field_ok: impl Fn(&str) -> bool,
    ) -> Result<Selectors, String> {
        let labels = match label {
            Some(s) => parse_labels(s)?,
            None => Vec::new(),
        };
        let fields = match field {
            Some(s) => parse_fields(s, field_ok)?,
            None => Vec::new(),
        };
        Ok(Selectors { labels, fields })
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty() && self.fields.is_empty()
    }

    pub fn matches(&self, obj: &Value) -> bool {
        let labels = obj.pointer("/metadata/labels").and_then(Value::as_object);
        let label = |k: &str| labels.and_then(|m| m.get(k)).and_then(Value::as_str);
        let label_ok = self.labels.iter().all(|r| match r {
            LabelReq::Exists(k) => label(k).is_some(),
            LabelReq::NotExists(k) => label(k).is_none(),
            LabelReq::Eq(k, v) => label(k) == Some(v.as_str()),
            LabelReq::NotEq(k, v) => label(k) != Some(v.as_str()),
            LabelReq::In(k, vs) => label(k).is_some_and(|l| vs.iter().any(|v| v == l)),
            LabelReq::NotIn(k, vs) => !label(k).is_some_and(|l| vs.iter().any(|v| v == l)),
            LabelReq::Gt(k, n) => label(k)
                .and_then(|l| l.parse::<i64>().ok())
                .is_some_and(|l| l > *n),
            LabelReq::Lt(k, n) => label(k)
                .and_then(|l| l.parse::<i64>().ok())
                .is_some_and(|l| l < *n),
        });
        label_ok
            && self.fields.iter().all(|r| match r {
                FieldReq::Eq(f, v) => field_value(obj, f) == *v,
                FieldReq::NotEq(f, v) => field_value(obj, f) != *v,
            })
    }
}

/// The value of a supported field label ("" when absent, as for cluster-scoped namespaces).
fn field_value(obj: &Value, field: &str) -> String {
    let ptr = format!("/{}", field.replace('.', "/"));
    obj.pointer(&ptr)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// Splits on commas outside parentheses.
fn split_top(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut cur = String::new();
    for c in s.chars() {
        match c {
            '(' => {
                depth += 1;
                cur.push(c);
            }
            ')' => {
                depth -= 1;
                cur.push(c);
            }
            ',' if depth == 0 => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    out.push(cur);
    out
}

fn valid_key(k: &str) -> bool {
    !k.is_empty()
        && k.len() <= 317
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c))
}

fn valid_value(v: &str) -> bool {
    v.len() <= 63
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

fn parse_labels(s: &str) -> Result<Vec<LabelReq>, String> {
    if s.trim().is_empty() {
        return Ok(Vec::new());
    }
    let bad = |part: &str, why: &str| format!("unable to parse requirement: {part:?}: {why}");
    let mut out = Vec::new();
    for part in split_top(s) {
        let p = part.trim();
        if p.is_empty() {
            return Err(bad(p, "found '', expected: identifier"));
        }
        let req = if let Some(k) = p.strip_prefix('!') {
            LabelReq::NotExists(k.trim().to_string())
        } else if let Some((k, rest)) = split_set_op(p, "notin") {
            LabelReq::NotIn(k, parse_set(rest).ok_or_else(|| bad(p, "invalid set"))?)
        } else if let Some((k, rest)) = split_set_op(p, "in") {
            LabelReq::In(k, parse_set(rest).ok_or_else(|| bad(p, "invalid set"))?)
        } else if let Some((k, v)) = p.split_once("!=") {
            LabelReq::NotEq(k.trim().into(), v.trim().into())
        } else if let Some((k, v)) = p.split_once("==") {
            LabelReq::Eq(k.trim().into(), v.trim().into())
        } else if let Some((k, v)) = p.split_once('=') {
            LabelReq::Eq(k.trim().into(), v.trim().into())
        } else if let Some((k, v)) = p.split_once('>') {
            let n = v
                .trim()
                .parse()
                .map_err(|_| bad(p, "for 'gt' operator, the value must be an integer"))?;
            LabelReq::Gt(k.trim().into(), n)
        } else if let Some((k, v)) = p.split_once('<') {
            let n = v
                .trim()
                .parse()
                .map_err(|_| bad(p, "for 'lt' operator, the value must be an integer"))?;
            LabelReq::Lt(k.trim().into(), n)
        } else {
            LabelReq::Exists(p.to_string())
        };
        let (key, values): (&str, Vec<&str>) = match &req {
            LabelReq::Exists(k) | LabelReq::NotExists(k) => (k, vec![]),
            LabelReq::Eq(k, v) | LabelReq::NotEq(k, v) => (k, vec![v.as_str()]),
            LabelReq::In(k, vs) | LabelReq::NotIn(k, vs) => {
                (k, vs.iter().map(String::as_str).collect())
            }
            LabelReq::Gt(k, _) | LabelReq::Lt(k, _) => (k, vec![]),
        };
        if !valid_key(key) {
            return Err(bad(p, &format!("invalid label key {key:?}")));
        }
        if let Some(v) = values.iter().find(|v| !valid_value(v)) {
            return Err(bad(p, &format!("invalid label value: {v:?}")));
        }
        out.push(req);
    }
    Ok(out)
}

/// `key in (a,b)` → (key, "(a,b)") for op "in".
fn split_set_op<'a>(p: &'a str, op: &str) -> Option<(String, &'a str)> {
    let mut words = p.splitn(2, char::is_whitespace);
    let key = words.next()?.trim();
    let rest = words.next()?.trim_start();
    let rest = rest.strip_prefix(op)?.trim_start();
    rest.starts_with('(').then(|| (key.to_string(), rest))
}

fn parse_set(s: &str) -> Option<Vec<String>> {
    let inner = s.trim().strip_prefix('(')?.strip_suffix(')')?;
    let vs: Vec<String> = inner.split(',').map(|v| v.trim().to_string()).collect();
    (!vs.is_empty()).then_some(vs)
}

fn parse_fields(s: &str, field_ok: impl Fn(&str) -> bool) -> Result<Vec<FieldReq>, String> {
    if s.trim().is_empty() {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for part in s.split(',') {
        let p = part.trim();
        let req = if let Some((k, v)) = p.split_once("!=") {
            FieldReq::NotEq(k.trim().into(), v.trim().into())
        } else if let Some((k, v)) = p.split_once("==") {
            FieldReq::Eq(k.trim().into(), v.trim().into())
        } else if let Some((k, v)) = p.split_once('=') {
            FieldReq::Eq(k.trim().into(), v.trim().into())
        } else {
            return Err(format!("invalid selector: '{s}'; can't understand '{p}'"));
        };
        let (FieldReq::Eq(k, _) | FieldReq::NotEq(k, _)) = &req;
        if !field_ok(k) {
            return Err(format!("field label not supported: {k}"));
        }
        out.push(req);
    }
    Ok(out)
}
