//! The policy chain's precheck: rules that refuse an actor or its instance outright
//! (`sluice_policy::Chain::precheck`) are answered here, from memory, before the signature
//! is checked or anything is stored: 403 `PolicyRejected`. Everything else the chain
//! decides in the pipeline, where the activity is parsed and its references known.

use sluice_apub::Rc;
use sluice_policy::{Action, Live};
use sluice_refusal::Refusal;

/// Refuses `actor` when an unscoped policy rejects it or its instance.
pub(crate) fn precheck(chain: &Live, actor: &str) -> Result<(), Refusal> {
    let chain = chain.current();
    match chain.precheck(actor) {
        None => Ok(()),
        Some((policy, why)) => {
            sluice_metrics::global()
                .policy_decisions_total
                .with_label_values(&[policy, Action::Reject.as_str()])
                .inc();
            Err(Refusal::new(Rc::PolicyRejected, why))
        }
    }
}
