//! SCIM answers: lists, users, groups, AWS error bodies. No input may panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| {
    let _ = scimsync_scim::decode_for_fuzz(bytes);
});
