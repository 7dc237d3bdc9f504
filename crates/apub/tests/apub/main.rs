//! The vocabulary, signatures and stable codes against the committed fixtures, the docs and
//! the fuzzer's finds (`cargo test -p sluice-apub --test apub MODULE::`).

mod errors_doc;
mod fuzz_regressions;
mod vocab_fixtures;
