//! Verdicts: what a script returns (built by `accept()`, `reject(..)`, `hold(..)`,
//! `rewrite(..)`) and what the chain receives, checked on the way out.

use crate::view::Activity;
use rhai::Dynamic;
use serde_json::Value;
use sluice_apub::rc::Rc;

/// Longest reason kept (characters); longer ones are cut.
pub const MAX_REASON_CHARS: usize = 1_000;

/// A plugin's decision on one activity.
#[derive(Debug, Clone, PartialEq)]
pub enum PluginVerdict {
    /// Let it go on to the next link.
    Accept,
    /// Refuse it, with a stable code and a reason for the admin.
    Reject {
        /// The code recorded (`PluginRejected` unless the script named another).
        rc: Rc,
        /// Why, in the script's words.
        reason: String,
    },
    /// Go on with this activity instead (same id, type, actor and object identity).
    Rewrite(Value),
    /// Keep it for an admin's review.
    Hold {
        /// Why, in the script's words.
        reason: String,
    },
}

/// The value the script-side functions return. Kept raw (the rc as written, the rewrite as a
/// script value) so that mistakes are found in one place, [`ScriptVerdict::check`], and
/// counted as the script's, not raised inside it.
#[derive(Debug, Clone)]
pub(crate) enum ScriptVerdict {
    Accept,
    Reject { rc: String, reason: String },
    Rewrite(Dynamic),
    Hold { reason: String },
}

impl ScriptVerdict {
    pub(crate) fn reject(rc: &str, reason: &str) -> ScriptVerdict {
        ScriptVerdict::Reject {
            rc: rc.to_owned(),
            reason: cut(reason),
        }
    }

    pub(crate) fn hold(reason: &str) -> ScriptVerdict {
        ScriptVerdict::Hold {
            reason: cut(reason),
        }
    }

    /// The verdict the chain gets, or why the script's answer is not one.
    pub(crate) fn check(self, activity: &Activity) -> Result<PluginVerdict, String> {
        Ok(match self {
            ScriptVerdict::Accept => PluginVerdict::Accept,
            ScriptVerdict::Hold { reason } => PluginVerdict::Hold { reason },
            ScriptVerdict::Reject { rc, reason } => PluginVerdict::Reject {
                rc: Rc::ALL
                    .iter()
                    .copied()
                    .find(|c| c.code() == rc)
                    .ok_or_else(|| format!("`{rc}` is not an rc (docs/errors.md)"))?,
                reason,
            },
            ScriptVerdict::Rewrite(new) => {
                let new: Value = rhai::serde::from_dynamic(&new)
                    .map_err(|e| format!("the rewrite is not JSON: {e}"))?;
                same_identity(&activity.json()?, &new, "")?;
                PluginVerdict::Rewrite(new)
            }
        })
    }
}

/// The members a rewrite may not change: they say what the activity is and who speaks.
const IDENTITY: [&str; 4] = ["id", "type", "actor", "attributedTo"];

/// Checks that `new` is an object with the identity members of `old`, at the top, in its
/// `object` and down its `object`s (an announced activity's object): a rewrite changes what
/// is said, never who says it or about what.
fn same_identity(old: &Value, new: &Value, at: &str) -> Result<(), String> {
    if !new.is_object() {
        let what = at.strip_suffix('.').unwrap_or("the activity");
        return Err(format!("a rewrite must keep `{what}` an object"));
    }
    for key in IDENTITY {
        if old.get(key) != new.get(key) {
            return Err(format!("a rewrite may not change `{at}{key}`"));
        }
    }
    match (old.get("object"), new.get("object")) {
        (Some(o @ Value::Object(_)), Some(n)) => same_identity(o, n, &format!("{at}object.")),
        (o, n) if o != n => Err(format!("a rewrite may not change `{at}object`")),
        _ => Ok(()),
    }
}

fn cut(reason: &str) -> String {
    reason.chars().take(MAX_REASON_CHARS).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rewrite(old: &Value, new: Value) -> Result<PluginVerdict, String> {
        let old = Activity::new(old).unwrap();
        ScriptVerdict::Rewrite(rhai::serde::to_dynamic(new).unwrap()).check(&old)
    }

    #[test]
    fn a_rewrite_keeps_who_says_what_about_what() {
        let old = json!({"id": "https://a.example/1", "type": "Create", "actor": "https://a.example/u/x",
                         "object": {"id": "https://a.example/p/1", "type": "Page", "content": "spam",
                                    "attributedTo": "https://a.example/u/x"}});
        let mut ok = old.clone();
        ok["object"]["content"] = json!("");
        ok["object"]["sensitive"] = json!(true);
        assert_eq!(rewrite(&old, ok.clone()), Ok(PluginVerdict::Rewrite(ok)));
        for (path, value) in [
            ("/actor", json!("https://b.example/u/y")),
            ("/object/attributedTo", json!("https://b.example/u/y")),
            ("/object/id", json!("https://a.example/p/2")),
            ("/object", json!("https://a.example/p/1")),
            ("/type", json!("Delete")),
        ] {
            let mut bad = old.clone();
            *bad.pointer_mut(path).unwrap() = value;
            assert!(rewrite(&old, bad).is_err(), "{path} changed");
        }
        assert!(rewrite(&old, json!([1])).is_err());
        assert!(rewrite(&old, json!({})).is_err());
        let by_id =
            json!({"id": "1", "type": "Like", "actor": "a", "object": "https://a.example/p/1"});
        let mut other = by_id.clone();
        other["object"] = json!("https://a.example/p/2");
        assert!(rewrite(&by_id, other).is_err());
        assert!(rewrite(&by_id, by_id.clone()).is_ok());
    }

    #[test]
    fn a_reject_names_a_known_rc() {
        let v = ScriptVerdict::reject("PluginRejected", &"x".repeat(5000));
        let any = Activity::new(&json!({})).unwrap();
        match v.check(&any) {
            Ok(PluginVerdict::Reject { rc, reason }) => {
                assert_eq!(rc, Rc::PluginRejected);
                assert_eq!(reason.len(), MAX_REASON_CHARS);
            }
            other => panic!("{other:?}"),
        }
        assert!(
            ScriptVerdict::reject("NoSuchCode", "x")
                .check(&any)
                .is_err()
        );
    }
}
