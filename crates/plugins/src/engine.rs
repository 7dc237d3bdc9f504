//! The sandboxed Rhai engine: its limits, what it leaves out, and the functions scripts get.
//!
//! What a script can reach is exactly what is registered here. Rhai's standard packages have
//! no file, network, process or environment access; `import` is refused twice (no module
//! resolver, and a limit of zero modules), `eval` is disabled (no code built at run time),
//! `sleep` (which would block the thread outside every limit) is replaced by an error,
//! `print`/`debug` go to the log at debug level, a few per evaluation.
//!
//! The engine is shared by every thread that evaluates; what differs per evaluation (the
//! host API, the deadline) sits in a thread-local [`Call`] set around the evaluation, since
//! an evaluation runs start to end on one thread and Rhai's hooks take no per-call context.

use crate::config::Limits;
use crate::host::HostApi;
use crate::verdict::ScriptVerdict;
use crate::view::{domain_matches, host_of, urls_in};
use rhai::module_resolvers::DummyModuleResolver;
use rhai::{AST, ASTNode, Array, Dynamic, Engine, EvalAltResult, Expr, Stmt};
use std::cell::RefCell;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What a registered function answers: a value, or an error the script sees.
type Answer<T> = Result<T, Box<EvalAltResult>>;

const NO_SLEEP: &str = "sleep is not available to plugins";

/// Lines a script may log per evaluation.
const MAX_PRINTS: u32 = 8;

/// How often (in operations) the deadline is looked at: a clock read costs more than an
/// operation.
const CLOCK_EVERY: u64 = 256;

/// The per-evaluation context the registered functions and hooks read.
struct Call {
    host: Arc<dyn HostApi>,
    deadline: Instant,
    plugin: Arc<str>,
    prints: u32,
}

thread_local! {
    static CALL: RefCell<Option<Call>> = const { RefCell::new(None) };
}

/// Sets the context for the evaluation `f` runs, and clears it after (panic or not).
pub(crate) fn with_call<T>(
    host: Arc<dyn HostApi>,
    plugin: Arc<str>,
    timeout: Duration,
    f: impl FnOnce() -> T,
) -> T {
    struct Clear;
    impl Drop for Clear {
        fn drop(&mut self) {
            CALL.with(|c| c.borrow_mut().take());
        }
    }
    CALL.with(|c| {
        *c.borrow_mut() = Some(Call {
            host,
            deadline: Instant::now() + timeout,
            plugin,
            prints: 0,
        })
    });
    let _clear = Clear;
    f()
}

/// The host API of the running evaluation. Outside one (never, in practice) the script gets
/// an error rather than a guess.
fn host() -> Answer<Arc<dyn HostApi>> {
    CALL.with(|c| c.borrow().as_ref().map(|c| c.host.clone()))
        .ok_or_else(|| "no host API outside an evaluation".into())
}

fn past_deadline() -> bool {
    CALL.with(|c| {
        c.borrow()
            .as_ref()
            .is_some_and(|c| Instant::now() >= c.deadline)
    })
}

fn log_line(line: &str) {
    CALL.with(|c| {
        if let Some(call) = c.borrow_mut().as_mut()
            && call.prints < MAX_PRINTS
        {
            call.prints += 1;
            tracing::debug!(plugin = %call.plugin, "{line}");
        }
    });
}

/// An engine with `limits` (zeros are raised to one: zero means "unlimited" to Rhai).
pub(crate) fn build(limits: &Limits) -> Engine {
    let mut e = Engine::new();
    e.set_module_resolver(DummyModuleResolver::new())
        .set_max_modules(0)
        .disable_symbol("eval")
        .set_max_operations(limits.max_operations.max(1))
        .set_max_string_size(limits.max_string_bytes.max(1))
        .set_max_array_size(limits.max_array_len.max(1))
        .set_max_map_size(limits.max_map_len.max(1))
        .set_max_variables(limits.max_variables.max(1))
        .set_max_call_levels(limits.max_call_depth.max(1))
        .set_max_expr_depths(limits.max_expr_depth.max(1), limits.max_expr_depth.max(1))
        .set_max_functions(256)
        .on_print(log_line)
        .on_debug(|line, _, _| log_line(line))
        .on_progress(|ops| {
            (ops % CLOCK_EVERY == 0 && past_deadline()).then(|| Dynamic::from("timeout"))
        });
    // Rhai's core package has `sleep`, which blocks the thread where no limit is counted:
    // these take its place (the engine's own functions come before its packages').
    e.register_fn("sleep", |_: i64| -> Answer<()> { Err(NO_SLEEP.into()) })
        .register_fn("sleep", |_: f64| -> Answer<()> { Err(NO_SLEEP.into()) });
    register_verdicts(&mut e);
    register_host_api(&mut e);
    register_helpers(&mut e);
    e
}

fn register_verdicts(e: &mut Engine) {
    e.register_type_with_name::<ScriptVerdict>("Verdict")
        .register_fn("accept", || ScriptVerdict::Accept)
        .register_fn("reject", |reason: &str| {
            ScriptVerdict::reject("PluginRejected", reason)
        })
        .register_fn("reject", ScriptVerdict::reject)
        .register_fn("hold", ScriptVerdict::hold)
        .register_fn("rewrite", |activity: Dynamic| {
            ScriptVerdict::Rewrite(activity)
        });
}

fn register_host_api(e: &mut Engine) {
    e.register_fn("actor_age_days", |actor: &str| -> Answer<Dynamic> {
        Ok(host()?
            .actor_age_days(actor)
            .map_or(Dynamic::UNIT, Dynamic::from_int))
    })
    .register_fn("instance_age_days", |host_name: &str| -> Answer<Dynamic> {
        Ok(host()?
            .instance_age_days(host_name)
            .map_or(Dynamic::UNIT, Dynamic::from_int))
    })
    .register_fn("instance_policy", |host_name: &str| -> Answer<String> {
        Ok(host()?.instance_policy(host_name))
    })
    .register_fn("count", |key: &str, window_secs: i64| -> Answer<i64> {
        let window = Duration::from_secs(window_secs.max(1).unsigned_abs());
        Ok(i64::try_from(host()?.count(key, window)).unwrap_or(i64::MAX))
    });
}

fn register_helpers(e: &mut Engine) {
    e.register_fn("host_of", |url: &str| host_of(url))
        .register_fn("domain_matches", domain_matches)
        .register_fn("urls_in", |text: &str| -> Array {
            urls_in(text).into_iter().map(Dynamic::from).collect()
        });
}

/// Refuses a script that assigns through an index (`m[k] = v`, `m[k] += v`, `a.b[i].c = v`).
/// Rhai checks the size of a map grown by `m.k = v`, `m.set(k, v)`, `+=` or `mixin`, but
/// not of one grown by `m[k] = v`, whose new keys would escape `max_map_len`; arrays and
/// strings cannot grow that way, so the rule costs scripts only a spelling.
pub(crate) fn refuse_index_assignment(ast: &AST) -> Result<(), String> {
    fn through_index(target: &Expr) -> bool {
        match target {
            Expr::Index(..) => true,
            Expr::Dot(x, ..) => through_index(&x.lhs) || through_index(&x.rhs),
            _ => false,
        }
    }
    let mut found = None;
    ast.walk(&mut |path: &[ASTNode]| match path.last() {
        Some(ASTNode::Stmt(Stmt::Assignment(x))) if through_index(&x.1.lhs) => {
            found = Some(x.0.position());
            false
        }
        _ => true,
    });
    match found {
        None => Ok(()),
        Some(at) => Err(format!(
            "assignment through an index ({at}): write `map.set(key, value)` or `map.key = value`"
        )),
    }
}

/// Compiles a script for `e`, with the rules above. A script without a statement is
/// refused: it would accept everything, and it is what a reader sees of a file being
/// rewritten in place (truncated, then written).
pub(crate) fn compile(e: &Engine, source: &str) -> Result<AST, String> {
    let ast = e.compile(source).map_err(|err| err.to_string())?;
    if ast.statements().is_empty() {
        return Err("the script has no statement".into());
    }
    refuse_index_assignment(&ast)?;
    Ok(ast)
}
