//! The SCIM `eq` filter builder: any value stays inside its quotes and reads back as itself.
#![no_main]

libfuzzer_sys::fuzz_target!(|input: (&str, &str)| {
    let (attr, value) = input;
    let filter = scimsync_scim::eq_filter_for_fuzz(attr, value);
    let quoted = filter.strip_prefix(&format!("{attr} eq ")).expect("attr eq ...");
    let back: String = serde_json_read(quoted);
    assert_eq!(back, value);
});

fn serde_json_read(text: &str) -> String {
    // The builder writes a JSON string; decode it without pulling serde_json in by hand.
    let inner = text.strip_prefix('"').and_then(|t| t.strip_suffix('"')).expect("quoted");
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next().expect("an escape") {
            'n' => out.push('\n'),
            't' => out.push('\t'),
            'r' => out.push('\r'),
            'b' => out.push('\u{8}'),
            'f' => out.push('\u{c}'),
            'u' => {
                let hex: String = chars.by_ref().take(4).collect();
                out.push(char::from_u32(u32::from_str_radix(&hex, 16).expect("hex")).expect("a char"));
            }
            other => out.push(other),
        }
    }
    out
}
