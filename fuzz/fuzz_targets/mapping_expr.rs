//! Entra mapping expressions: parsing (and evaluating what parses) never panics.
#![no_main]

use scimsync_core::expr::{Expr, Value};

libfuzzer_sys::fuzz_target!(|text: &str| {
    if let Ok(expr) = Expr::parse(text) {
        let _ = expr.eval(&|_| Value::List(vec!["x".into(), String::new()]));
    }
});
