//! The ordered chain and how its verdicts combine.

use crate::subject::{Subject, host_of};
use crate::verdict::{Action, Decision, Verdict};
use crate::{Facts, Policy};
use serde_json::Value;
use sluice_apub::Rc;

/// One configured policy.
#[derive(Debug)]
pub struct Link {
    /// Its name (unique in the chain): what decisions and approvals refer to.
    pub name: String,
    /// Ids of the local communities it is limited to (empty: everything).
    pub scope: Vec<String>,
    /// The rule.
    pub policy: Box<dyn Policy>,
}

impl Link {
    fn applies(&self, s: &Subject<'_>) -> bool {
        self.scope.is_empty() || self.scope.iter().any(|c| s.concerns(c))
    }
}

/// The policies, in order. The empty chain accepts everything.
#[derive(Debug, Default)]
pub struct Chain {
    pub(crate) links: Vec<Link>,
}

/// How the chain ends for an activity.
#[derive(Debug, Clone, PartialEq)]
pub enum End {
    /// Apply it (as rewritten, when it was).
    Accept,
    /// Do not store it.
    Reject {
        /// Its code.
        rc: Rc,
        /// Why, naming the policy.
        reason: String,
    },
    /// Keep it for review.
    Hold {
        /// The policy that held it (an approval skips it).
        policy: String,
        /// Why.
        reason: String,
    },
}

/// What the chain decided about one activity.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// How it ends.
    pub end: End,
    /// Whether a local community may relay it.
    pub relay: bool,
    /// The activity as rewritten, when a policy rewrote it.
    pub rewritten: Option<Value>,
    /// Every verdict other than accept, in chain order (recorded in `policy_decision`).
    pub decisions: Vec<Decision>,
}

impl Outcome {
    /// The outcome of a chain that had nothing to say.
    pub fn accepted() -> Outcome {
        Outcome {
            end: End::Accept,
            relay: true,
            rewritten: None,
            decisions: Vec::new(),
        }
    }
}

/// One line of a dry run (`sluice policy test`).
#[derive(Debug, Clone, PartialEq)]
pub struct Traced {
    /// The policy's name.
    pub name: String,
    /// Its kind.
    pub kind: &'static str,
    /// What it said; `None` when it was not asked (out of its communities, skipped, or
    /// after the chain ended).
    pub verdict: Option<Verdict>,
    /// Why it was not asked.
    pub note: &'static str,
}

/// How far [`Chain::run`] goes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Pass {
    /// Up to the first policy that is not repeatable.
    Screen,
    /// Every link.
    Full,
}

impl Chain {
    /// A chain of `links`.
    pub fn new(links: Vec<Link>) -> Chain {
        Chain { links }
    }

    /// The policies in order.
    pub fn links(&self) -> &[Link] {
        &self.links
    }

    /// Whether there is no policy at all (the pipeline then skips the chain).
    pub fn is_empty(&self) -> bool {
        self.links.is_empty()
    }

    /// Runs `raw` through the chain. `skip` names policies an admin overruled for this
    /// activity (a held activity approved).
    pub fn evaluate(&self, raw: &Value, facts: &Facts, skip: &[String]) -> Outcome {
        self.run(raw, facts, skip, Pass::Full, &mut |_, _, _| {})
    }

    /// The chain's first links, up to the first policy that is not
    /// [`repeatable`](crate::Policy::repeatable): what can end an activity before anything
    /// is fetched for it. The full pass ([`Chain::evaluate`]) asks every link again, so a
    /// policy with state (a plugin's counters) is asked once per activity, not twice.
    pub fn screen(&self, raw: &Value, facts: &Facts, skip: &[String]) -> Outcome {
        self.run(raw, facts, skip, Pass::Screen, &mut |_, _, _| {})
    }

    /// Runs `raw` through the chain and reports what each policy said.
    pub fn trace(&self, raw: &Value, facts: &Facts) -> (Outcome, Vec<Traced>) {
        let mut lines = Vec::new();
        let outcome = self.run(raw, facts, &[], Pass::Full, &mut |link, verdict, note| {
            lines.push(Traced {
                name: link.name.clone(),
                kind: link.policy.kind(),
                verdict: verdict.cloned(),
                note,
            })
        });
        (outcome, lines)
    }

    fn run(
        &self,
        raw: &Value,
        facts: &Facts,
        skip: &[String],
        pass: Pass,
        seen: &mut dyn FnMut(&Link, Option<&Verdict>, &'static str),
    ) -> Outcome {
        let mut out = Outcome::accepted();
        let mut current: Option<Value> = None;
        let mut links = self.links.iter();
        'rewritten: loop {
            let subject = Subject::new(current.as_ref().unwrap_or(raw));
            for link in links.by_ref() {
                if pass == Pass::Screen && !link.policy.repeatable() {
                    break 'rewritten;
                }
                if skip.contains(&link.name) {
                    seen(link, None, "approved by an admin");
                    continue;
                }
                if !link.applies(&subject) {
                    seen(link, None, "not for its communities");
                    continue;
                }
                let verdict = link.policy.decide(&subject, facts);
                seen(link, Some(&verdict), "");
                let action = verdict.action();
                let decision = |rc, reason: &str| Decision {
                    policy: link.name.clone(),
                    action,
                    rc,
                    reason: reason.to_string(),
                };
                match verdict {
                    Verdict::Accept => {}
                    Verdict::Reject { rc, reason } => {
                        out.decisions.push(decision(Some(rc), &reason));
                        out.end = End::Reject {
                            rc,
                            reason: format!("policy {}: {reason}", link.name),
                        };
                        break 'rewritten;
                    }
                    Verdict::Hold { reason } => {
                        out.decisions.push(decision(Some(Rc::PolicyHeld), &reason));
                        out.end = End::Hold {
                            policy: link.name.clone(),
                            reason,
                        };
                        break 'rewritten;
                    }
                    Verdict::NoRelay { reason } => {
                        out.decisions.push(decision(None, &reason));
                        out.relay = false;
                    }
                    Verdict::Rewrite { activity, reason } => {
                        out.decisions.push(decision(None, &reason));
                        drop(subject);
                        current = Some(activity);
                        continue 'rewritten;
                    }
                }
            }
            break;
        }
        for link in links {
            seen(link, None, "not reached");
        }
        out.rewritten = current;
        out
    }

    /// A rejection of everything `actor` sends, decided without its activity: the first
    /// unscoped policy that refuses the actor or its instance. Returns the policy's name
    /// and why.
    pub fn precheck(&self, actor: &str) -> Option<(&str, String)> {
        if self.links.is_empty() {
            return None;
        }
        let host = host_of(actor)?;
        self.links
            .iter()
            .filter(|l| l.scope.is_empty())
            .find_map(|l| {
                l.policy
                    .precheck(actor, &host)
                    .map(|why| (l.name.as_str(), format!("policy {}: {why}", l.name)))
            })
    }
}

impl Action {
    /// Every action, for metrics that list them.
    pub const ALL: [Action; 5] = [
        Action::Accept,
        Action::Reject,
        Action::Rewrite,
        Action::NoRelay,
        Action::Hold,
    ];
}
