//! No input makes a decoder of Graph or SCIM answers, or the SCIM filter builder, panic. The same
//! entry points are the cargo-fuzz targets in fuzz/ (run there for hours; here for seconds in CI).

use proptest::prelude::*;

/// JSON-ish text: the shapes the decoders look for, with the keys they read, nested and cut.
fn jsonish() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("null".to_string()),
        Just("true".to_string()),
        Just("12".to_string()),
        Just("-1e999".to_string()),
        "\"[a-z@#.:/ ]{0,12}\"".prop_map(|s| s),
        Just("\"\\ud800\"".to_string()),
    ];
    let keys = prop_oneof![
        Just("value"),
        Just("id"),
        Just("userPrincipalName"),
        Just("accountEnabled"),
        Just("@odata.nextLink"),
        Just("@odata.deltaLink"),
        Just("@removed"),
        Just("members@delta"),
        Just("@odata.type"),
        Just("Resources"),
        Just("nextCursor"),
        Just("totalResults"),
        Just("userName"),
        Just("emails"),
        Just("name"),
        Just("active"),
        Just("members"),
        Just("displayName"),
        Just("externalId"),
        Just("error"),
        Just("code"),
        Just("detail"),
        Just("status"),
        Just("manager"),
        Just("employeeOrgData"),
        Just("businessPhones"),
    ];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(|items| format!("[{}]", items.join(","))),
            prop::collection::vec((keys.clone(), inner), 0..6).prop_map(|fields| {
                let body: Vec<String> = fields.into_iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
                format!("{{{}}}", body.join(","))
            }),
        ]
    })
}

fn decode_all(bytes: &[u8]) {
    let _ = scimsync_scim::decode_for_fuzz(bytes);
    let _ = scimsync_entra::graph::decode_for_fuzz(bytes);
    let _ = scimsync_entra::directory::decode_users_for_fuzz(bytes);
    let _ = scimsync_entra::delta::decode_page_for_fuzz(bytes);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn decoders_never_panic_on_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        decode_all(&bytes);
    }

    #[test]
    fn decoders_never_panic_on_json_like_text(text in jsonish(), cut in any::<prop::sample::Index>()) {
        decode_all(text.as_bytes());
        // The same text cut anywhere, as a truncated body is.
        let at = cut.index(text.len() + 1);
        decode_all(&text.as_bytes()[..at]);
    }

    #[test]
    fn the_filter_builder_quotes_every_value(attr in "[A-Za-z.]{1,20}", value in any::<String>()) {
        let filter = scimsync_scim::eq_filter_for_fuzz(&attr, &value);
        let quoted = filter.strip_prefix(&format!("{attr} eq ")).expect("attr eq ...");
        // The quoted part is one JSON string that reads back as the value: no way out of the quotes.
        let back: String = serde_json::from_str(quoted).expect("a JSON string");
        prop_assert_eq!(back, value);
    }
}
