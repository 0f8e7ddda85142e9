//! Graph answers: error bodies, pages, users, delta pages. No input may panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| {
    let _ = scimsync_entra::graph::decode_for_fuzz(bytes);
    let _ = scimsync_entra::directory::decode_users_for_fuzz(bytes);
    let _ = scimsync_entra::delta::decode_page_for_fuzz(bytes);
});
