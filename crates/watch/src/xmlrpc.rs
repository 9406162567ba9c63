//! A small XML-RPC codec: method calls out, method responses (values or faults) in.

use std::fmt::Write;

/// Nesting bound for decoded values.
const MAX_DEPTH: usize = 32;

/// An XML-RPC value.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Value {
    /// `<i4>`, `<int>` or `<i8>`.
    Int(i64),
    /// `<boolean>`.
    Bool(bool),
    /// `<string>` or bare text.
    Str(String),
    /// `<double>`.
    Double(f64),
    /// `<base64>`.
    Base64(Vec<u8>),
    /// `<array>`.
    Array(Vec<Value>),
    /// `<struct>`.
    Struct(Vec<(String, Value)>),
    /// `<nil/>`.
    Nil,
}

impl Value {
    /// The integer, also from a numeric string.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Self::Int(i) => Some(*i),
            Self::Bool(b) => Some(i64::from(*b)),
            Self::Str(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    /// The string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The array's items.
    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Self::Array(a) => Some(a),
            _ => None,
        }
    }
}

/// A response that is not usable.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum XmlRpcError {
    /// The XML is malformed or not a method response.
    #[error("malformed xml-rpc at byte {at}: {reason}")]
    Malformed {
        /// Offset of the problem.
        at: usize,
        /// What was expected.
        reason: &'static str,
    },
    /// The server answered with a fault.
    #[error("xml-rpc fault {code}: {message}")]
    Fault {
        /// `faultCode`.
        code: i64,
        /// `faultString`.
        message: String,
    },
}

/// Encodes a method call.
pub(crate) fn encode_call(method: &str, params: &[Value]) -> String {
    let mut s = String::from("<?xml version=\"1.0\"?><methodCall><methodName>");
    s.push_str(&escape(method));
    s.push_str("</methodName><params>");
    for p in params {
        s.push_str("<param>");
        encode_value(&mut s, p);
        s.push_str("</param>");
    }
    s.push_str("</params></methodCall>");
    s
}

fn encode_value(s: &mut String, v: &Value) {
    s.push_str("<value>");
    match v {
        Value::Int(i) => {
            let _ = write!(s, "<i8>{i}</i8>");
        }
        Value::Bool(b) => {
            let _ = write!(s, "<boolean>{}</boolean>", u8::from(*b));
        }
        Value::Str(x) => {
            let _ = write!(s, "<string>{}</string>", escape(x));
        }
        Value::Double(d) => {
            let _ = write!(s, "<double>{d}</double>");
        }
        Value::Base64(b) => {
            let _ = write!(s, "<base64>{}</base64>", data_encoding::BASE64.encode(b));
        }
        Value::Array(a) => {
            s.push_str("<array><data>");
            for x in a {
                encode_value(s, x);
            }
            s.push_str("</data></array>");
        }
        Value::Struct(m) => {
            s.push_str("<struct>");
            for (k, x) in m {
                let _ = write!(s, "<member><name>{}</name>", escape(k));
                encode_value(s, x);
                s.push_str("</member>");
            }
            s.push_str("</struct>");
        }
        Value::Nil => s.push_str("<nil/>"),
    }
    s.push_str("</value>");
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn unescape(s: &str) -> String {
    if !s.contains('&') {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let Some(end) = rest.find(';') else { break };
        let ent = &rest[1..end];
        let c = match ent {
            "lt" => Some('<'),
            "gt" => Some('>'),
            "amp" => Some('&'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => ent
                .strip_prefix("#x")
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .or_else(|| ent.strip_prefix('#').and_then(|d| d.parse().ok()))
                .and_then(char::from_u32),
        };
        match c {
            Some(c) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Decodes a method response: its single value, or the fault as an error.
pub(crate) fn decode_response(xml: &[u8]) -> Result<Value, XmlRpcError> {
    let text = std::str::from_utf8(xml).map_err(|e| XmlRpcError::Malformed {
        at: e.valid_up_to(),
        reason: "not utf-8",
    })?;
    let mut p = Parser { s: text, at: 0 };
    p.open("methodResponse")?;
    let t = p.tag()?;
    match (t.name, t.close) {
        ("params", false) => {
            p.open("param")?;
            let v = p.value(0)?;
            p.close("param")?;
            p.close("params")?;
            p.close("methodResponse")?;
            Ok(v)
        }
        ("fault", false) => {
            let v = p.value(0)?;
            let field = |k: &str| match &v {
                Value::Struct(m) => m.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()),
                _ => None,
            };
            Err(XmlRpcError::Fault {
                code: field("faultCode").and_then(|v| v.as_i64()).unwrap_or(0),
                message: field("faultString")
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default(),
            })
        }
        _ => Err(p.err("expected params or fault")),
    }
}

struct Parser<'a> {
    s: &'a str,
    at: usize,
}

struct Tag<'a> {
    name: &'a str,
    close: bool,
    empty: bool,
}

impl<'a> Parser<'a> {
    fn err(&self, reason: &'static str) -> XmlRpcError {
        XmlRpcError::Malformed {
            at: self.at,
            reason,
        }
    }

    /// The next tag, skipping text, the XML declaration and comments.
    fn tag(&mut self) -> Result<Tag<'a>, XmlRpcError> {
        loop {
            let rest = &self.s[self.at..];
            let lt = rest.find('<').ok_or_else(|| self.err("unexpected end"))?;
            self.at += lt;
            let rest = &self.s[self.at..];
            let gt = rest.find('>').ok_or_else(|| self.err("unterminated tag"))?;
            let inner = &rest[1..gt];
            self.at += gt + 1;
            if inner.starts_with('?') || inner.starts_with('!') {
                continue;
            }
            let (close, inner) = match inner.strip_prefix('/') {
                Some(i) => (true, i),
                None => (false, inner),
            };
            let (empty, inner) = match inner.strip_suffix('/') {
                Some(i) => (true, i),
                None => (false, inner),
            };
            let name = inner.split_whitespace().next().unwrap_or("");
            return Ok(Tag { name, close, empty });
        }
    }

    fn open(&mut self, name: &str) -> Result<(), XmlRpcError> {
        let t = self.tag()?;
        if t.name == name && !t.close {
            Ok(())
        } else {
            Err(self.err("unexpected tag"))
        }
    }

    fn close(&mut self, name: &str) -> Result<(), XmlRpcError> {
        let t = self.tag()?;
        if t.name == name && t.close {
            Ok(())
        } else {
            Err(self.err("unexpected closing tag"))
        }
    }

    /// Text up to the next `<`.
    fn text(&mut self) -> Result<String, XmlRpcError> {
        let rest = &self.s[self.at..];
        let lt = rest.find('<').ok_or_else(|| self.err("unexpected end"))?;
        self.at += lt;
        Ok(unescape(&rest[..lt]))
    }

    /// Parses `<value>...</value>`.
    fn value(&mut self, depth: usize) -> Result<Value, XmlRpcError> {
        if depth > MAX_DEPTH {
            return Err(self.err("nesting too deep"));
        }
        let t = self.tag()?;
        if t.name != "value" || t.close {
            return Err(self.err("expected value"));
        }
        if t.empty {
            return Ok(Value::Str(String::new()));
        }
        let text = self.text()?;
        let save = self.at;
        let t = self.tag()?;
        if t.name == "value" && t.close {
            return Ok(Value::Str(text));
        }
        if t.close {
            self.at = save;
            return Err(self.err("unexpected closing tag"));
        }
        let name = t.name;
        let v = if t.empty {
            match name {
                "string" => Value::Str(String::new()),
                "nil" => Value::Nil,
                "array" => Value::Array(Vec::new()),
                "struct" => Value::Struct(Vec::new()),
                _ => return Err(self.err("empty scalar")),
            }
        } else {
            match name {
                "array" => {
                    let mut items = Vec::new();
                    let d = self.tag()?;
                    if d.name != "data" || d.close {
                        return Err(self.err("expected data"));
                    }
                    if !d.empty {
                        loop {
                            let save = self.at;
                            let t = self.tag()?;
                            if t.name == "data" && t.close {
                                break;
                            }
                            self.at = save;
                            items.push(self.value(depth + 1)?);
                        }
                    }
                    self.close("array")?;
                    Value::Array(items)
                }
                "struct" => {
                    let mut members = Vec::new();
                    loop {
                        let t = self.tag()?;
                        if t.name == "struct" && t.close {
                            break;
                        }
                        if t.name != "member" || t.close {
                            return Err(self.err("expected member"));
                        }
                        self.open("name")?;
                        let k = self.text()?;
                        self.close("name")?;
                        let v = self.value(depth + 1)?;
                        self.close("member")?;
                        members.push((k, v));
                    }
                    Value::Struct(members)
                }
                scalar => {
                    let raw = self.text()?;
                    self.close(scalar)?;
                    let bad = || self.err("bad scalar");
                    match scalar {
                        "i4" | "i8" | "int" => Value::Int(raw.trim().parse().map_err(|_| bad())?),
                        "boolean" => Value::Bool(raw.trim() == "1"),
                        "string" => Value::Str(raw),
                        "double" => Value::Double(raw.trim().parse().map_err(|_| bad())?),
                        "base64" => {
                            let clean: String = raw.split_whitespace().collect();
                            Value::Base64(
                                data_encoding::BASE64
                                    .decode(clean.as_bytes())
                                    .map_err(|_| bad())?,
                            )
                        }
                        _ => return Err(self.err("unknown type")),
                    }
                }
            }
        };
        self.close("value")?;
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_nested_arrays_like_rtorrent_sends() {
        let xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<methodResponse>\n<params>\n<param><value><array><data>\n<value><array><data>\n<value><string>AB&amp;C</string></value>\n<value><i8>42</i8></value>\n<value><string/></value>\n<value>bare</value>\n</data></array></value>\n</data></array></value></param>\n</params>\n</methodResponse>\n";
        let v = decode_response(xml.as_bytes()).unwrap();
        assert_eq!(
            v,
            Value::Array(vec![Value::Array(vec![
                Value::Str("AB&C".into()),
                Value::Int(42),
                Value::Str(String::new()),
                Value::Str("bare".into()),
            ])])
        );
    }

    #[test]
    fn faults_and_garbage_are_errors() {
        let fault = "<methodResponse><fault><value><struct><member><name>faultCode</name><value><i4>-501</i4></value></member><member><name>faultString</name><value><string>Unsupported target type found.</string></value></member></struct></value></fault></methodResponse>";
        match decode_response(fault.as_bytes()) {
            Err(XmlRpcError::Fault { code, message }) => {
                assert_eq!(code, -501);
                assert_eq!(message, "Unsupported target type found.");
            }
            other => panic!("{other:?}"),
        }
        for bad in [
            "",
            "<methodResponse>",
            "<methodResponse><params><param><value><i8>x</i8></value></param></params></methodResponse>",
            "<html>500</html>",
            "<methodResponse><params><param><value><array><data><value>",
        ] {
            assert!(decode_response(bad.as_bytes()).is_err(), "{bad}");
        }
        let deep = format!(
            "<methodResponse><params><param>{}",
            "<value><array><data>".repeat(100)
        );
        assert!(decode_response(deep.as_bytes()).is_err());
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512)) {
            let _ = decode_response(&bytes);
        }

        #[test]
        fn mangled_responses_never_panic(cut in 0usize..400, at in 0usize..400, junk in "[<>/&;a-z0-9 ]{0,12}") {
            let good = "<methodResponse><params><param><value><array><data><value><array><data><value><string>a&amp;b</string></value><value><i8>-42</i8></value><value><base64>AAEC</base64></value><value><boolean>1</boolean></value></data></array></value></data></array></value></param></params></methodResponse>";
            let mut s = good.to_owned();
            let at = at.min(s.len());
            if s.is_char_boundary(at) {
                s.insert_str(at, &junk);
            }
            let cut = cut.min(s.len());
            let _ = decode_response(&s.as_bytes()[..cut]);
            let _ = decode_response(s.as_bytes());
        }
    }

    #[test]
    fn a_call_round_trips_through_the_value_codec() {
        let params = [
            Value::Str("a<b".into()),
            Value::Int(-7),
            Value::Base64(vec![0, 1, 2, 255]),
            Value::Array(vec![Value::Bool(true)]),
        ];
        let call = encode_call("d.multicall2", &params);
        assert!(call.contains("<methodName>d.multicall2</methodName>"));
        assert!(call.contains("<string>a&lt;b</string>"));
        let mut v = String::new();
        encode_value(&mut v, &Value::Array(params.to_vec()));
        let body = format!("<methodResponse><params><param>{v}</param></params></methodResponse>");
        assert_eq!(
            decode_response(body.as_bytes()).unwrap(),
            Value::Array(params.to_vec())
        );
    }
}
