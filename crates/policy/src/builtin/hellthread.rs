//! Content addressed to, or mentioning, many people at once (Akkoma's HellthreadPolicy):
//! the shape of mention spam.

use super::{OnMatch, Options};
use crate::subject::Subject;
use crate::verdict::Verdict;
use crate::{Facts, Policy};
use serde::Deserialize;
use sluice_apub::Rc;

/// The largest threshold: counting stops there, so a list of a million recipients costs
/// what one of this many does.
const MAX_THRESHOLD: usize = 500;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    threshold: usize,
    #[serde(default = "reject")]
    action: OnMatch,
}

fn reject() -> OnMatch {
    OnMatch::Reject
}

/// More than `threshold` distinct recipients.
#[derive(Debug)]
pub struct Hellthread {
    threshold: usize,
    action: OnMatch,
}

impl Hellthread {
    pub(crate) fn build(options: Options) -> Result<Hellthread, String> {
        let c: Config = options.parse()?;
        if !(1..=MAX_THRESHOLD).contains(&c.threshold) {
            return Err(format!("threshold must be from 1 to {MAX_THRESHOLD}"));
        }
        Ok(Hellthread {
            threshold: c.threshold,
            action: c.action,
        })
    }
}

impl Policy for Hellthread {
    fn kind(&self) -> &'static str {
        "hellthread"
    }

    fn decide(&self, s: &Subject<'_>, _: &Facts) -> Verdict {
        let n = s.recipients(self.threshold);
        if n <= self.threshold {
            return Verdict::Accept;
        }
        self.action.verdict(
            Rc::PolicyHellthread,
            format!("more than {} recipients", self.threshold),
        )
    }

    fn describe(&self) -> String {
        format!("{:?} above {} recipients", self.action, self.threshold).to_lowercase()
    }
}
