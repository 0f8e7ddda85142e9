//! Entra's attribute-mapping expressions: a parser and an evaluator, pure.
//!
//! The syntax is Entra's: `Join(" ", [givenName], [surname])`. Attribute references are in square
//! brackets, string literals in double quotes (`\"` and `\\` escape), whole numbers are bare
//! (`Left([surname], 3)`), an argument may be left empty (`Switch([x], , "a", "b")`), and two values
//! compare with `=` or `<>` (`IIF([country]="US", "USA", [country])`). Function names ignore case.
//!
//! Values are strings, as in Entra: booleans are `"True"` and `"False"`; a multi-valued attribute
//! (`[businessPhones]`) is a list, and where one value is needed its first value is taken.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A value while an expression is evaluated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Null,
    Text(String),
    List(Vec<String>),
}

impl Value {
    /// The one value this stands for: a list gives its first non-empty value; empty text is no value.
    pub fn single(&self) -> Option<&str> {
        match self {
            Value::Null => None,
            Value::Text(s) => Some(s.as_str()).filter(|s| !s.is_empty()),
            Value::List(items) => items.iter().map(String::as_str).find(|s| !s.is_empty()),
        }
    }

    pub fn is_present(&self) -> bool {
        self.single().is_some_and(|s| !s.trim().is_empty())
    }

    fn text(s: impl Into<String>) -> Value {
        let s = s.into();
        if s.is_empty() { Value::Null } else { Value::Text(s) }
    }

    fn boolean(b: bool) -> Value {
        Value::Text(if b { "True" } else { "False" }.into())
    }

    fn truthy(&self) -> bool {
        self.single().is_some_and(|s| s.trim().eq_ignore_ascii_case("true"))
    }

    fn values(&self) -> Vec<&str> {
        match self {
            Value::Null => vec![],
            Value::Text(s) => vec![s.as_str()],
            Value::List(items) => items.iter().map(String::as_str).collect(),
        }
    }

    fn map(&self, f: impl Fn(&str) -> String) -> Value {
        match self.single() {
            Some(s) => Value::text(f(s)),
            None => Value::Null,
        }
    }
}

/// Where something is in the expression text: 1-based line and column (in characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pos {
    pub line: usize,
    pub column: usize,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}, column {}", self.line, self.column)
    }
}

/// Why an expression does not parse, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{pos}: {message}")]
pub struct ParseError {
    pub pos: Pos,
    pub message: String,
}

/// The functions an expression may call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    Append,
    Coalesce,
    IIF,
    IsPresent,
    Join,
    Left,
    Mid,
    NormalizeDiacritics,
    Replace,
    SingleAppRoleAssignment,
    Switch,
    ToLower,
    ToUpper,
    Trim,
}

impl Function {
    pub const ALL: [Function; 14] = [
        Function::Append,
        Function::Coalesce,
        Function::IIF,
        Function::IsPresent,
        Function::Join,
        Function::Left,
        Function::Mid,
        Function::NormalizeDiacritics,
        Function::Replace,
        Function::SingleAppRoleAssignment,
        Function::Switch,
        Function::ToLower,
        Function::ToUpper,
        Function::Trim,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Function::Append => "Append",
            Function::Coalesce => "Coalesce",
            Function::IIF => "IIF",
            Function::IsPresent => "IsPresent",
            Function::Join => "Join",
            Function::Left => "Left",
            Function::Mid => "Mid",
            Function::NormalizeDiacritics => "NormalizeDiacritics",
            Function::Replace => "Replace",
            Function::SingleAppRoleAssignment => "SingleAppRoleAssignment",
            Function::Switch => "Switch",
            Function::ToLower => "ToLower",
            Function::ToUpper => "ToUpper",
            Function::Trim => "Trim",
        }
    }

    /// Least and most arguments (`usize::MAX`: any number).
    fn arity(self) -> (usize, usize) {
        match self {
            Function::Append => (2, 2),
            Function::Coalesce => (1, usize::MAX),
            Function::IIF => (3, 3),
            Function::IsPresent => (1, 1),
            Function::Join => (2, usize::MAX),
            Function::Left => (2, 2),
            Function::Mid => (3, 3),
            Function::NormalizeDiacritics => (1, 1),
            Function::Replace => (5, 7),
            Function::SingleAppRoleAssignment => (1, 1),
            Function::Switch => (2, usize::MAX),
            Function::ToLower | Function::ToUpper => (1, 2),
            Function::Trim => (1, 1),
        }
    }

    fn find(name: &str) -> Option<Function> {
        Function::ALL.into_iter().find(|f| f.name().eq_ignore_ascii_case(name))
    }
}

/// A parsed expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    /// An empty argument: no value.
    Empty,
    Text(String),
    Number(i64),
    Attr {
        name: String,
        pos: Pos,
    },
    Call {
        function: Function,
        args: Vec<Expr>,
        pos: Pos,
    },
    Compare {
        left: Box<Expr>,
        right: Box<Expr>,
        equal: bool,
    },
    /// Replace's regexPattern, compiled once.
    Regex(Pattern),
}

/// A compiled regular expression, equal to another with the same pattern.
#[derive(Debug, Clone)]
pub struct Pattern(regex::Regex);

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_str() == other.0.as_str()
    }
}

impl Eq for Pattern {}

impl Expr {
    /// Parses one expression. A bare word (`jobTitle`) is taken as the attribute of that name.
    pub fn parse(text: &str) -> Result<Expr, ParseError> {
        let mut p = Parser::new(text);
        p.skip_ws();
        if let Some(word) = p.bare_attribute() {
            return Ok(word);
        }
        let expr = p.expr()?;
        p.skip_ws();
        if let Some(c) = p.peek() {
            return Err(p.error_here(format!("expected the end of the expression, found {}", show(c))));
        }
        Ok(expr)
    }

    /// Every attribute the expression reads, with where it is named.
    pub fn attributes(&self) -> Vec<(&str, Pos)> {
        let mut out = Vec::new();
        self.collect_attributes(&mut out);
        out
    }

    fn collect_attributes<'a>(&'a self, out: &mut Vec<(&'a str, Pos)>) {
        match self {
            Expr::Attr { name, pos } => out.push((name, *pos)),
            Expr::Call { args, .. } => args.iter().for_each(|a| a.collect_attributes(out)),
            Expr::Compare { left, right, .. } => {
                left.collect_attributes(out);
                right.collect_attributes(out);
            }
            Expr::Empty | Expr::Text(_) | Expr::Number(_) | Expr::Regex(_) => {}
        }
    }

    /// Evaluates with `attr` giving the value of a source attribute by name.
    pub fn eval(&self, attr: &dyn Fn(&str) -> Value) -> Value {
        match self {
            Expr::Empty => Value::Null,
            Expr::Text(s) => Value::text(s.clone()),
            Expr::Number(n) => Value::Text(n.to_string()),
            Expr::Regex(p) => Value::text(p.0.as_str()),
            Expr::Attr { name, .. } => attr(name),
            Expr::Compare { left, right, equal } => {
                let l = left.eval(attr);
                let r = right.eval(attr);
                Value::boolean((l.single().unwrap_or("") == r.single().unwrap_or("")) == *equal)
            }
            Expr::Call { function, args, .. } => call(*function, args, attr),
        }
    }
}

fn number(expr: &Expr, attr: &dyn Fn(&str) -> Value) -> Option<i64> {
    match expr {
        Expr::Number(n) => Some(*n),
        other => other.eval(attr).single().and_then(|s| s.trim().parse().ok()),
    }
}

fn call(function: Function, args: &[Expr], attr: &dyn Fn(&str) -> Value) -> Value {
    let arg = |i: usize| args.get(i).map_or(Value::Null, |a| a.eval(attr));
    match function {
        Function::Append => {
            let joined = format!("{}{}", arg(0).single().unwrap_or(""), arg(1).single().unwrap_or(""));
            Value::text(joined)
        }
        Function::Coalesce => {
            args.iter().map(|a| a.eval(attr)).find(Value::is_present).unwrap_or(Value::Null)
        }
        Function::IIF => {
            if arg(0).truthy() {
                arg(1)
            } else {
                arg(2)
            }
        }
        Function::IsPresent => Value::boolean(arg(0).is_present()),
        Function::Join => {
            let separator = arg(0).single().unwrap_or("").to_string();
            let parts: Vec<String> = args[1..]
                .iter()
                .flat_map(|a| a.eval(attr).values().into_iter().map(str::to_string).collect::<Vec<_>>())
                .filter(|s| !s.trim().is_empty())
                .collect();
            Value::text(parts.join(&separator))
        }
        Function::Left => {
            let n = number(&args[1], attr).unwrap_or(0).max(0) as usize;
            arg(0).map(|s| s.chars().take(n).collect())
        }
        Function::Mid => {
            let start = number(&args[1], attr).unwrap_or(1).max(1) as usize;
            let len = number(&args[2], attr).unwrap_or(0).max(0) as usize;
            arg(0).map(|s| s.chars().skip(start - 1).take(len).collect())
        }
        Function::NormalizeDiacritics => arg(0).map(normalize_diacritics),
        Function::Replace => {
            let old = arg(1);
            // replacementAttributeName (6th) wins over replacementValue (5th) when it has a value.
            let new = match arg(5).single() {
                Some(v) => v.to_string(),
                None => arg(4).single().unwrap_or("").to_string(),
            };
            match (old.single(), args.get(2)) {
                (Some(old), _) => arg(0).map(|s| s.replace(old, &new)),
                (None, Some(Expr::Regex(Pattern(re)))) => match arg(3).single() {
                    // Only the named group's text is replaced.
                    Some(group) => arg(0).map(|s| {
                        let mut out = s.to_string();
                        let spans: Vec<_> =
                            re.captures_iter(s).filter_map(|c| c.name(group)).map(|m| m.range()).collect();
                        for range in spans.into_iter().rev() {
                            out.replace_range(range, &new);
                        }
                        out
                    }),
                    None => arg(0).map(|s| re.replace_all(s, regex::NoExpand(&new)).into_owned()),
                },
                _ => arg(0),
            }
        }
        Function::SingleAppRoleAssignment => {
            let mut roles: Vec<String> =
                arg(0).values().into_iter().filter(|s| !s.is_empty()).map(str::to_string).collect();
            roles.sort();
            roles.into_iter().next().map_or(Value::Null, Value::Text)
        }
        Function::Switch => {
            let source = arg(0);
            let key = source.single().unwrap_or("");
            args[2..]
                .chunks(2)
                .find(|pair| pair[0].eval(attr).single().unwrap_or("") == key)
                .map_or_else(|| arg(1), |pair| pair[1].eval(attr))
        }
        Function::ToLower => arg(0).map(str::to_lowercase),
        Function::ToUpper => arg(0).map(str::to_uppercase),
        Function::Trim => arg(0).map(|s| s.trim().to_string()),
    }
}

/// Letters with diacritics become their base letters (`é` → `e`, `ß` → `ss`, `Ø` → `O`), as Entra's
/// NormalizeDiacritics does for Latin letters. Other characters stay.
pub fn normalize_diacritics(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match base_letter(c) {
            Some(base) => out.push_str(base),
            None => out.push(c),
        }
    }
    out
}

fn base_letter(c: char) -> Option<&'static str> {
    const TABLE: &[(&str, &str)] = &[
        ("ÀÁÂÃÄÅĀĂĄǍ", "A"),
        ("àáâãäåāăąǎ", "a"),
        ("ÇĆĈĊČ", "C"),
        ("çćĉċč", "c"),
        ("ĎĐ", "D"),
        ("ďđ", "d"),
        ("ÈÉÊËĒĔĖĘĚ", "E"),
        ("èéêëēĕėęě", "e"),
        ("ĜĞĠĢ", "G"),
        ("ĝğġģ", "g"),
        ("ĤĦ", "H"),
        ("ĥħ", "h"),
        ("ÌÍÎÏĨĪĬĮİǏ", "I"),
        ("ìíîïĩīĭįıǐ", "i"),
        ("Ĵ", "J"),
        ("ĵ", "j"),
        ("Ķ", "K"),
        ("ķ", "k"),
        ("ĹĻĽĿŁ", "L"),
        ("ĺļľŀł", "l"),
        ("ÑŃŅŇ", "N"),
        ("ñńņňŉ", "n"),
        ("ÒÓÔÕÖØŌŎŐǑ", "O"),
        ("òóôõöøōŏőǒ", "o"),
        ("ŔŖŘ", "R"),
        ("ŕŗř", "r"),
        ("ŚŜŞŠȘ", "S"),
        ("śŝşšș", "s"),
        ("ŢŤŦȚ", "T"),
        ("ţťŧț", "t"),
        ("ÙÚÛÜŨŪŬŮŰŲǓ", "U"),
        ("ùúûüũūŭůűųǔ", "u"),
        ("Ŵ", "W"),
        ("ŵ", "w"),
        ("ÝŸŶ", "Y"),
        ("ýÿŷ", "y"),
        ("ŹŻŽ", "Z"),
        ("źżž", "z"),
        ("Æ", "AE"),
        ("æ", "ae"),
        ("Œ", "OE"),
        ("œ", "oe"),
        ("ß", "ss"),
        ("Þ", "Th"),
        ("þ", "th"),
        ("Ð", "D"),
        ("ð", "d"),
    ];
    TABLE.iter().find(|(from, _)| from.contains(c)).map(|(_, to)| *to)
}

fn show(c: char) -> String {
    match c {
        '\n' => "a line break".into(),
        c => format!("`{c}`"),
    }
}

struct Parser {
    chars: Vec<char>,
    at: usize,
    depth: usize,
}

/// Nesting deeper than this is refused rather than risking the stack.
const MAX_DEPTH: usize = 64;

impl Parser {
    fn new(text: &str) -> Parser {
        Parser { chars: text.chars().collect(), at: 0, depth: 0 }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.at).copied()
    }

    fn pos_of(&self, at: usize) -> Pos {
        let before = &self.chars[..at.min(self.chars.len())];
        let line = before.iter().filter(|&&c| c == '\n').count() + 1;
        let column = before.iter().rev().take_while(|&&c| c != '\n').count() + 1;
        Pos { line, column }
    }

    fn error_at(&self, at: usize, message: impl Into<String>) -> ParseError {
        ParseError { pos: self.pos_of(at), message: message.into() }
    }

    fn error_here(&self, message: impl Into<String>) -> ParseError {
        self.error_at(self.at, message)
    }

    fn found(&self) -> String {
        self.peek().map_or_else(|| "the end of the expression".into(), show)
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.at += 1;
        }
    }

    /// A whole expression that is one bare word: the attribute of that name.
    fn bare_attribute(&mut self) -> Option<Expr> {
        let start = self.at;
        let rest: String = self.chars[start..].iter().collect();
        let word = rest.trim_end();
        let is_name = !word.is_empty()
            && word.chars().next().is_some_and(|c| c.is_alphabetic() || c == '_')
            && word.chars().all(|c| c.is_alphanumeric() || c == '_' || c == '.');
        if is_name && Function::find(word).is_none() {
            Some(Expr::Attr { name: word.to_string(), pos: self.pos_of(start) })
        } else {
            None
        }
    }

    fn expr(&mut self) -> Result<Expr, ParseError> {
        let left = self.primary()?;
        self.skip_ws();
        let equal = match self.peek() {
            Some('=') => {
                self.at += 1;
                true
            }
            Some('<') if self.chars.get(self.at + 1) == Some(&'>') => {
                self.at += 2;
                false
            }
            _ => return Ok(left),
        };
        self.skip_ws();
        let right = self.primary()?;
        Ok(Expr::Compare { left: Box::new(left), right: Box::new(right), equal })
    }

    fn primary(&mut self) -> Result<Expr, ParseError> {
        self.skip_ws();
        let start = self.at;
        match self.peek() {
            Some('[') => {
                self.at += 1;
                let mut name = String::new();
                loop {
                    match self.peek() {
                        Some(']') => break,
                        Some('\n') | None => {
                            return Err(self.error_here(format!(
                                "expected `]` to close the attribute name opened at {}, found {}",
                                self.pos_of(start),
                                self.found()
                            )));
                        }
                        Some(c) => {
                            name.push(c);
                            self.at += 1;
                        }
                    }
                }
                self.at += 1;
                let name = name.trim().to_string();
                if name.is_empty() {
                    return Err(self.error_at(start, "expected an attribute name between `[` and `]`"));
                }
                Ok(Expr::Attr { name, pos: self.pos_of(start) })
            }
            Some('"') => {
                self.at += 1;
                let mut text = String::new();
                loop {
                    match self.peek() {
                        Some('"') => break,
                        Some('\\') if matches!(self.chars.get(self.at + 1), Some('"' | '\\')) => {
                            text.push(self.chars[self.at + 1]);
                            self.at += 2;
                        }
                        None => {
                            return Err(self.error_here(format!(
                                "expected `\"` to close the string opened at {}, found the end of the expression",
                                self.pos_of(start)
                            )));
                        }
                        Some(c) => {
                            text.push(c);
                            self.at += 1;
                        }
                    }
                }
                self.at += 1;
                Ok(Expr::Text(text))
            }
            Some(c) if c.is_ascii_digit() || c == '-' => {
                self.at += 1;
                while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                    self.at += 1;
                }
                let digits: String = self.chars[start..self.at].iter().collect();
                digits
                    .parse()
                    .map(Expr::Number)
                    .map_err(|_| self.error_at(start, format!("expected a whole number, found `{digits}`")))
            }
            Some(c) if c.is_alphabetic() => {
                while self.peek().is_some_and(|c| c.is_alphanumeric() || c == '_') {
                    self.at += 1;
                }
                let name: String = self.chars[start..self.at].iter().collect();
                let function = Function::find(&name).ok_or_else(|| {
                    self.error_at(
                        start,
                        format!(
                            "unknown function `{name}`; expected one of {} (attributes go in square brackets: [{name}])",
                            Function::ALL.map(Function::name).join(", ")
                        ),
                    )
                })?;
                self.skip_ws();
                if self.peek() != Some('(') {
                    return Err(self.error_here(format!("expected `(` after {}, found {}", function.name(), self.found())));
                }
                self.at += 1;
                self.depth += 1;
                if self.depth > MAX_DEPTH {
                    return Err(self.error_at(start, format!("functions nest deeper than {MAX_DEPTH} levels")));
                }
                let args = self.arguments()?;
                self.depth -= 1;
                let (least, most) = function.arity();
                // `F()` is a call with no arguments, not one empty argument.
                let args = if args == [Expr::Empty] { vec![] } else { args };
                if args.len() < least || args.len() > most {
                    let wanted = match (least, most) {
                        (l, m) if l == m => format!("{l}"),
                        (l, usize::MAX) => format!("at least {l}"),
                        (l, m) => format!("{l} to {m}"),
                    };
                    return Err(self.error_at(
                        start,
                        format!("{} expects {wanted} arguments, found {}", function.name(), args.len()),
                    ));
                }
                let args = self.check_call(function, args, start)?;
                Ok(Expr::Call { function, args, pos: self.pos_of(start) })
            }
            _ => Err(self.error_here(format!(
                "expected an attribute in square brackets, a string in double quotes, a number or a function, found {}",
                self.found()
            ))),
        }
    }

    /// Arguments up to and including the closing `)`; an argument may be empty.
    fn arguments(&mut self) -> Result<Vec<Expr>, ParseError> {
        let mut args = Vec::new();
        loop {
            self.skip_ws();
            match self.peek() {
                Some(',') | Some(')') => args.push(Expr::Empty),
                _ => args.push(self.expr()?),
            }
            self.skip_ws();
            match self.peek() {
                Some(',') => self.at += 1,
                Some(')') => {
                    self.at += 1;
                    return Ok(args);
                }
                _ => return Err(self.error_here(format!("expected `,` or `)`, found {}", self.found()))),
            }
        }
    }

    fn check_call(
        &self,
        function: Function,
        mut args: Vec<Expr>,
        start: usize,
    ) -> Result<Vec<Expr>, ParseError> {
        match function {
            Function::Switch if !args.len().is_multiple_of(2) => Err(self.error_at(
                start,
                "Switch expects a source, a default value, then pairs of key and value; a value is missing",
            )),
            Function::Replace => {
                if args.get(6).is_some_and(|a| *a != Expr::Empty) {
                    return Err(self.error_at(start, "Replace with a template is not supported"));
                }
                match (&args[1], &args[2]) {
                    (Expr::Empty, Expr::Empty) => Err(self.error_at(
                        start,
                        "Replace expects an oldValue (its second argument) or a regexPattern (its third)",
                    )),
                    (Expr::Empty, Expr::Text(pattern)) => {
                        let re = regex::Regex::new(pattern).map_err(|e| {
                            self.error_at(
                                start,
                                format!("Replace's regexPattern is not a valid pattern: {e}"),
                            )
                        })?;
                        args[2] = Expr::Regex(Pattern(re));
                        Ok(args)
                    }
                    (Expr::Empty, _) => {
                        Err(self.error_at(start, "Replace's regexPattern must be a string in double quotes"))
                    }
                    (_, Expr::Empty) => Ok(args),
                    _ => Err(self.error_at(start, "Replace takes an oldValue or a regexPattern, not both")),
                }
            }
            _ => Ok(args),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;

    fn source() -> BTreeMap<&'static str, Value> {
        let t = |s: &str| Value::Text(s.into());
        BTreeMap::from([
            ("givenName", t("Zoë")),
            ("surname", t("Ångström")),
            ("displayName", t("Zoë Ångström")),
            ("mail", t("zoe@contoso.example")),
            ("jobTitle", t("  Engineer ")),
            ("country", t("US")),
            ("accountEnabled", t("True")),
            ("businessPhones", Value::List(vec!["+1 555 0100".into(), "+1 555 0101".into()])),
            ("appRoleAssignments", Value::List(vec!["User".into(), "Admin".into()])),
            ("empty", Value::Null),
        ])
    }

    fn eval(text: &str) -> Result<Option<String>, String> {
        let source = source();
        let lookup = |name: &str| {
            source.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map_or(Value::Null, |(_, v)| v.clone())
        };
        let expr = Expr::parse(text).map_err(|e| e.to_string())?;
        Ok(expr.eval(&lookup).single().map(str::to_string))
    }

    #[test]
    fn expressions_evaluate() {
        let cases: &[(&str, Option<&str>)] = &[
            ("[givenName]", Some("Zoë")),
            ("givenName", Some("Zoë")),
            ("[GIVENNAME]", Some("Zoë")),
            ("\"constant\"", Some("constant")),
            ("\"say \\\"hi\\\"\"", Some("say \"hi\"")),
            ("\"\"", None),
            ("[empty]", None),
            ("[unknown]", None),
            ("Join(\" \", [givenName], [surname])", Some("Zoë Ångström")),
            ("Join(\".\", [givenName], [empty], [surname])", Some("Zoë.Ångström")),
            ("Join(\", \", [businessPhones])", Some("+1 555 0100, +1 555 0101")),
            ("Join(\" \", [empty])", None),
            ("Coalesce([empty], [mail])", Some("zoe@contoso.example")),
            ("Coalesce([empty], \"\", \"fallback\")", Some("fallback")),
            ("Coalesce([empty])", None),
            ("Coalesce([businessPhones], [mail])", Some("+1 555 0100")),
            (
                "Switch([country], \"Other\", \"US\", \"United States\", \"DE\", \"Germany\")",
                Some("United States"),
            ),
            ("Switch([givenName], \"Other\", \"US\", \"United States\")", Some("Other")),
            ("Switch([empty], , \"x\", \"y\")", None),
            ("Switch([accountEnabled], , \"True\", \"False\", \"False\", \"True\")", Some("False")),
            ("IIF([country]=\"US\", \"USA\", [country])", Some("USA")),
            ("IIF([country] = \"DE\", \"Germany\", [country])", Some("US")),
            ("IIF([country]<>\"DE\", \"not DE\", \"DE\")", Some("not DE")),
            ("IIF(IsPresent([mail]), [mail], [givenName])", Some("zoe@contoso.example")),
            ("IIF(IsPresent([empty]), [mail], [givenName])", Some("Zoë")),
            ("IsPresent([empty])", Some("False")),
            ("IsPresent([mail])", Some("True")),
            ("ToLower([givenName])", Some("zoë")),
            ("ToUpper([givenName], \"en-US\")", Some("ZOË")),
            (
                "Replace([mail], \"@contoso.example\", , , \"@fabrikam.example\", , )",
                Some("zoe@fabrikam.example"),
            ),
            ("Replace([mail], \"contoso\", , , , [country], )", Some("zoe@US.example")),
            ("Replace([mail], \"q\", , , \"y\")", Some("zoe@contoso.example")),
            ("Replace([mail], , \"[aeiou]\", , \"_\", , )", Some("z__@c_nt_s_._x_mpl_")),
            (
                "Replace([mail], , \"(?<user>[^@]+)@\", \"user\", \"someone\", , )",
                Some("someone@contoso.example"),
            ),
            ("Left([surname], 3)", Some("Ång")),
            ("Left([surname], 99)", Some("Ångström")),
            ("Left([surname], 0)", None),
            ("Mid([mail], 5, 7)", Some("contoso")),
            ("Mid([mail], 100, 2)", None),
            ("Trim([jobTitle])", Some("Engineer")),
            ("Append([givenName], \"-ext\")", Some("Zoë-ext")),
            ("Append([empty], \"-ext\")", Some("-ext")),
            ("NormalizeDiacritics([displayName])", Some("Zoe Angstrom")),
            ("NormalizeDiacritics(\"Ærøskøbing Straße\")", Some("AEroskobing Strasse")),
            ("SingleAppRoleAssignment([appRoleAssignments])", Some("Admin")),
            ("SingleAppRoleAssignment([empty])", None),
            (
                "ToLower(Join(\".\", NormalizeDiacritics([givenName]), NormalizeDiacritics([surname])))",
                Some("zoe.angstrom"),
            ),
            ("join(\" \", [givenName], [surname])", Some("Zoë Ångström")),
            ("  Trim( [jobTitle] )\n", Some("Engineer")),
        ];
        for (text, want) in cases {
            assert_eq!(eval(text), Ok(want.map(str::to_string)), "{text}");
        }
    }

    #[test]
    fn parse_errors_name_line_column_and_what_was_expected() {
        let cases: &[(&str, &str)] = &[
            (
                "Join(\" \", [givenName]",
                "line 1, column 22: expected `,` or `)`, found the end of the expression",
            ),
            ("Join(\" \" [givenName])", "line 1, column 10: expected `,` or `)`, found `[`"),
            ("Concat([a], [b])", "line 1, column 1: unknown function `Concat`"),
            ("Join(\" \",\n  [givenName],\n  Foo([x]))", "line 3, column 3: unknown function `Foo`"),
            (
                "[givenName",
                "line 1, column 11: expected `]` to close the attribute name opened at line 1, column 1",
            ),
            ("\"open", "line 1, column 6: expected `\"` to close the string opened at line 1, column 1"),
            ("[]", "line 1, column 1: expected an attribute name"),
            ("", "line 1, column 1: expected an attribute in square brackets"),
            ("Trim([a]) x", "line 1, column 11: expected the end of the expression, found `x`"),
            ("Trim", "line 1, column 5: expected `(` after Trim"),
            ("Trim()", "line 1, column 1: Trim expects 1 arguments, found 0"),
            ("IIF([a], [b])", "line 1, column 1: IIF expects 3 arguments, found 2"),
            ("Join(\" \")", "line 1, column 1: Join expects at least 2 arguments, found 1"),
            ("ToLower([a], \"en\", \"x\")", "line 1, column 1: ToLower expects 1 to 2 arguments, found 3"),
            (
                "Switch([a], \"d\", \"k\")",
                "line 1, column 1: Switch expects a source, a default value, then pairs",
            ),
            (
                "Replace([a], , \"[0-9\", , \"\", , )",
                "line 1, column 1: Replace's regexPattern is not a valid pattern",
            ),
            (
                "Replace([a], \"a\", \"[0-9]\", , \"\", , )",
                "line 1, column 1: Replace takes an oldValue or a regexPattern, not both",
            ),
            (
                "Replace([a], , , , \"x\", , \"{x}\")",
                "line 1, column 1: Replace with a template is not supported",
            ),
            ("Replace([a], , , , \"x\", , )", "line 1, column 1: Replace expects an oldValue"),
            (
                "Join(\" \", [a], ]",
                "line 1, column 16: expected an attribute in square brackets, a string in double quotes, a number or a function, found `]`",
            ),
            ("[a] = ", "line 1, column 7: expected an attribute in square brackets"),
            ("Left([a], 99999999999999999999)", "line 1, column 11: expected a whole number"),
        ];
        for (text, want) in cases {
            let err = Expr::parse(text).expect_err(text).to_string();
            assert!(err.starts_with(want), "{text:?}:\n  got  {err}\n  want {want}");
        }
    }

    #[test]
    fn attributes_are_listed_with_positions() {
        let expr = Expr::parse("Join(\" \",\n [givenName], [surname])").unwrap();
        let attrs: Vec<(&str, Pos)> = expr.attributes();
        assert_eq!(
            attrs,
            vec![("givenName", Pos { line: 2, column: 2 }), ("surname", Pos { line: 2, column: 15 })]
        );
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let text = format!("{}[a]{}", "Trim(".repeat(500), ")".repeat(500));
        assert!(Expr::parse(&text).unwrap_err().message.contains("deeper"));
    }

    proptest! {
        #[test]
        fn the_parser_never_panics(text in ".{0,200}") {
            let _ = Expr::parse(&text);
        }

        #[test]
        fn the_parser_never_panics_on_expression_like_input(
            text in r#"[A-Za-z\[\]\(\)",= <>\\0-9\n-]{0,120}"#
        ) {
            if let Ok(expr) = Expr::parse(&text) {
                let _ = expr.eval(&|_| Value::List(vec!["x".into(), String::new()]));
            }
        }
    }
}
