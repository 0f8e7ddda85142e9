//! The SCIM filters AWS accepts: one `attr eq "value"`, or two of them joined by `and`.

/// One `attr eq "value"` comparison; `attr` is lower-cased (SCIM attribute names ignore case).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Comparison {
    pub attr: String,
    pub value: String,
}

/// Parses `a eq "x"` or `a eq "x" and b eq "y"`; anything else (other operators, `or`, `not`,
/// parentheses, unquoted values) is `None`.
pub(crate) fn parse(filter: &str) -> Option<Vec<Comparison>> {
    let mut rest = filter.trim();
    let mut comparisons = Vec::new();
    loop {
        let (comparison, after) = parse_comparison(rest)?;
        comparisons.push(comparison);
        rest = after.trim_start();
        if rest.is_empty() {
            break;
        }
        let (word, after) = split_word(rest);
        if !word.eq_ignore_ascii_case("and") || comparisons.len() == 2 {
            return None;
        }
        rest = after.trim_start();
    }
    Some(comparisons)
}

fn split_word(s: &str) -> (&str, &str) {
    let end = s.find(char::is_whitespace).unwrap_or(s.len());
    s.split_at(end)
}

fn parse_comparison(s: &str) -> Option<(Comparison, &str)> {
    let (attr, rest) = split_word(s.trim_start());
    let valid_attr = !attr.is_empty()
        && attr.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | ':' | '_' | '-' | '$'));
    if !valid_attr {
        return None;
    }
    let (op, rest) = split_word(rest.trim_start());
    if !op.eq_ignore_ascii_case("eq") {
        return None;
    }
    let (value, rest) = parse_quoted(rest.trim_start())?;
    Some((Comparison { attr: attr.to_ascii_lowercase(), value }, rest))
}

/// A double-quoted JSON string at the start of `s`, and what follows it.
fn parse_quoted(s: &str) -> Option<(String, &str)> {
    if !s.starts_with('"') {
        return None;
    }
    let mut escaped = false;
    for (i, c) in s.char_indices().skip(1) {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' => {
                let value: String = serde_json::from_str(&s[..=i]).ok()?;
                return Some((value, &s[i + 1..]));
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmp(attr: &str, value: &str) -> Comparison {
        Comparison { attr: attr.into(), value: value.into() }
    }

    #[test]
    fn filters() {
        let cases = [
            (r#"userName eq "ada""#, Some(vec![cmp("username", "ada")])),
            (r#"  userName  EQ  "a \"b\" \\ c"  "#, Some(vec![cmp("username", r#"a "b" \ c"#)])),
            (r#"displayName eq "A and B""#, Some(vec![cmp("displayname", "A and B")])),
            (r#"id eq "g1" and members eq "u1""#, Some(vec![cmp("id", "g1"), cmp("members", "u1")])),
            (r#"groups.value eq """#, Some(vec![cmp("groups.value", "")])),
            (r#"userName co "ada""#, None),
            (r#"userName eq ada"#, None),
            (r#"userName eq "ada" or userName eq "bob""#, None),
            (r#"a eq "1" and b eq "2" and c eq "3""#, None),
            (r#"not (userName eq "ada")"#, None),
            (r#"userName eq "ada"#, None),
            ("", None),
        ];
        for (filter, expected) in cases {
            assert_eq!(parse(filter), expected, "{filter}");
        }
    }
}
