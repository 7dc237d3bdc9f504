//! Why a plugin said nothing: failures are sorted into a few kinds, counted by plugin and
//! kind, and never turn into a rejection.

use rhai::EvalAltResult;

/// The kinds of failure, as the `kind` label of `sluice_plugin_failures_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureKind {
    /// An edit of the script did not compile (the previous version stays).
    Compile,
    /// The operation limit was reached.
    Operations,
    /// The wall-clock timeout was reached.
    Timeout,
    /// A size limit (string, array, map) or the variable limit was reached.
    Memory,
    /// The call-depth limit was reached.
    Depth,
    /// The script raised an error (a missing function, a type mismatch, `throw`, a refused
    /// `import`).
    Runtime,
    /// The script's answer is not a verdict, names no rc, or rewrites identity.
    Verdict,
    /// The evaluation panicked (a host API implementation, or the engine).
    Panic,
    /// The caller asked for a plugin the set does not hold.
    NotLoaded,
}

impl FailureKind {
    /// Every kind, in the order of [`FailureKind::index`].
    pub const ALL: [FailureKind; 9] = [
        FailureKind::Compile,
        FailureKind::Operations,
        FailureKind::Timeout,
        FailureKind::Memory,
        FailureKind::Depth,
        FailureKind::Runtime,
        FailureKind::Verdict,
        FailureKind::Panic,
        FailureKind::NotLoaded,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::Compile => "compile",
            FailureKind::Operations => "operations",
            FailureKind::Timeout => "timeout",
            FailureKind::Memory => "memory",
            FailureKind::Depth => "depth",
            FailureKind::Runtime => "runtime",
            FailureKind::Verdict => "verdict",
            FailureKind::Panic => "panic",
            FailureKind::NotLoaded => "not_loaded",
        }
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }

    /// The kind of an evaluation error (errors raised inside script functions are unwrapped).
    pub(crate) fn of(error: &EvalAltResult) -> FailureKind {
        match error.unwrap_inner() {
            EvalAltResult::ErrorTooManyOperations(..) => FailureKind::Operations,
            EvalAltResult::ErrorTerminated(..) => FailureKind::Timeout,
            EvalAltResult::ErrorDataTooLarge(..) | EvalAltResult::ErrorTooManyVariables(..) => {
                FailureKind::Memory
            }
            EvalAltResult::ErrorStackOverflow(..) => FailureKind::Depth,
            _ => FailureKind::Runtime,
        }
    }
}

impl std::fmt::Display for FailureKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failed evaluation: its kind and what went wrong, for the log and dry runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// What kind of failure.
    pub kind: FailureKind,
    /// The engine's or the check's message.
    pub message: String,
}
