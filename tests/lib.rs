//! The `tests` crate has no library code: its end-to-end tests live in `e2e/` and its example client
//! in `examples/`. Cargo requires a lib or bin target in every package, hence this empty library.
