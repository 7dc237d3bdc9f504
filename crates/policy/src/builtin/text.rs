//! Rules on what content says: regular expressions on its text (Akkoma's KeywordPolicy)
//! and its hashtags (HashtagPolicy).
//!
//! Patterns are compiled once per (re)load, into one set per action, with size limits:
//! matching is linear in the text (the `regex` crate has no backtracking), and no pattern
//! can make a compiled program larger than [`COMPILED_LIMIT`].

use super::{MAX_LIST, OnMatch, Options};
use crate::subject::{Subject, TextField, edit_object};
use crate::verdict::Verdict;
use crate::{Facts, Policy};
use regex::{RegexSet, RegexSetBuilder};
use serde::Deserialize;
use serde_json::Value;
use sluice_apub::Rc;
use std::collections::HashSet;

/// Patterns in one list.
pub const MAX_PATTERNS: usize = 256;
/// Characters in one pattern.
pub const MAX_PATTERN_CHARS: usize = 1000;
/// Bytes a compiled pattern set may take (and its lazy DFA's cache).
pub const COMPILED_LIMIT: usize = 2 << 20;
/// Bytes of one text field that are searched (a longer body is searched up to this).
pub const MAX_TEXT_BYTES: usize = 256 << 10;

fn compile(what: &str, patterns: &[String]) -> Result<Option<RegexSet>, String> {
    if patterns.is_empty() {
        return Ok(None);
    }
    if patterns.len() > MAX_PATTERNS {
        return Err(format!("{what}: at most {MAX_PATTERNS} patterns"));
    }
    if let Some(p) = patterns
        .iter()
        .find(|p| p.chars().count() > MAX_PATTERN_CHARS)
    {
        return Err(format!(
            "{what}: a pattern is longer than {MAX_PATTERN_CHARS} characters ({}...)",
            p.chars().take(40).collect::<String>()
        ));
    }
    RegexSetBuilder::new(patterns)
        .size_limit(COMPILED_LIMIT)
        .dfa_size_limit(COMPILED_LIMIT)
        .build()
        .map(Some)
        .map_err(|e| format!("{what}: {e}"))
}

/// The longest prefix of `s` within [`MAX_TEXT_BYTES`] that ends on a character boundary.
fn bounded(s: &str) -> &str {
    if s.len() <= MAX_TEXT_BYTES {
        return s;
    }
    let mut end = MAX_TEXT_BYTES;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

fn mark_sensitive(s: &Subject<'_>, reason: String) -> Verdict {
    let already = s
        .object()
        .and_then(|o| o.get("sensitive"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    if already {
        return Verdict::Accept;
    }
    match edit_object(s.raw(), |o| {
        o.insert("sensitive".into(), Value::Bool(true));
    }) {
        Some(activity) => Verdict::Rewrite { activity, reason },
        None => Verdict::Accept,
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeywordConfig {
    #[serde(default)]
    reject: Vec<String>,
    #[serde(default)]
    mark_sensitive: Vec<String>,
    #[serde(default)]
    hold: Vec<String>,
    #[serde(default = "all_fields")]
    fields: Vec<TextField>,
}

fn all_fields() -> Vec<TextField> {
    TextField::ALL.to_vec()
}

/// Regular expressions on the text of content.
#[derive(Debug)]
pub struct Keywords {
    reject: Option<RegexSet>,
    hold: Option<RegexSet>,
    mark_sensitive: Option<RegexSet>,
    fields: Vec<TextField>,
}

impl Keywords {
    pub(crate) fn build(options: Options) -> Result<Keywords, String> {
        let c: KeywordConfig = options.parse()?;
        Ok(Keywords {
            reject: compile("reject", &c.reject)?,
            hold: compile("hold", &c.hold)?,
            mark_sensitive: compile("mark_sensitive", &c.mark_sensitive)?,
            fields: c.fields,
        })
    }

    /// The first field one of `set`'s patterns matches, with the pattern's index.
    fn find(&self, set: &Option<RegexSet>, s: &Subject<'_>) -> Option<(TextField, usize)> {
        let set = set.as_ref()?;
        self.fields.iter().find_map(|f| {
            let text = bounded(s.text(*f)?);
            set.matches(text).iter().next().map(|i| (*f, i))
        })
    }
}

impl Policy for Keywords {
    fn kind(&self) -> &'static str {
        "keyword"
    }

    fn decide(&self, s: &Subject<'_>, _: &Facts) -> Verdict {
        let said = |set: &Option<RegexSet>, (f, i): (TextField, usize)| {
            let pattern = set
                .as_ref()
                .and_then(|set| set.patterns().get(i))
                .map(String::as_str)
                .unwrap_or("?");
            format!("{f:?} matches /{pattern}/").to_lowercase()
        };
        if let Some(hit) = self.find(&self.reject, s) {
            return Verdict::reject(Rc::PolicyKeyword, said(&self.reject, hit));
        }
        if let Some(hit) = self.find(&self.hold, s) {
            return OnMatch::Hold.verdict(Rc::PolicyKeyword, said(&self.hold, hit));
        }
        if let Some(hit) = self.find(&self.mark_sensitive, s) {
            return mark_sensitive(s, said(&self.mark_sensitive, hit));
        }
        Verdict::Accept
    }

    fn describe(&self) -> String {
        let n = |s: &Option<RegexSet>| s.as_ref().map_or(0, RegexSet::len);
        format!(
            "reject {} patterns, hold {}, mark sensitive {}; fields {:?}",
            n(&self.reject),
            n(&self.hold),
            n(&self.mark_sensitive),
            self.fields
        )
        .to_lowercase()
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HashtagConfig {
    #[serde(default)]
    reject: Vec<String>,
    #[serde(default)]
    mark_sensitive: Vec<String>,
    #[serde(default)]
    no_relay: Vec<String>,
    #[serde(default)]
    hold: Vec<String>,
}

/// Hashtags, compared without `#` and case.
#[derive(Debug)]
pub struct Hashtags {
    reject: HashSet<String>,
    hold: HashSet<String>,
    no_relay: HashSet<String>,
    mark_sensitive: HashSet<String>,
}

fn tags(what: &str, list: Vec<String>) -> Result<HashSet<String>, String> {
    if list.len() > MAX_LIST {
        return Err(format!("{what}: at most {MAX_LIST} hashtags"));
    }
    Ok(list
        .into_iter()
        .map(|t| t.trim_start_matches('#').to_lowercase())
        .collect())
}

impl Hashtags {
    pub(crate) fn build(options: Options) -> Result<Hashtags, String> {
        let c: HashtagConfig = options.parse()?;
        Ok(Hashtags {
            reject: tags("reject", c.reject)?,
            hold: tags("hold", c.hold)?,
            no_relay: tags("no_relay", c.no_relay)?,
            mark_sensitive: tags("mark_sensitive", c.mark_sensitive)?,
        })
    }
}

impl Policy for Hashtags {
    fn kind(&self) -> &'static str {
        "hashtag"
    }

    fn decide(&self, s: &Subject<'_>, _: &Facts) -> Verdict {
        let rules: [(&HashSet<String>, OnMatch); 3] = [
            (&self.reject, OnMatch::Reject),
            (&self.hold, OnMatch::Hold),
            (&self.no_relay, OnMatch::NoRelay),
        ];
        let mut sensitive = None;
        // One pass over the tags; the strongest rule any tag meets wins.
        let mut best: Option<(usize, String)> = None;
        for tag in s.hashtags() {
            let tag = tag.to_lowercase();
            for (rank, (set, _)) in rules.iter().enumerate() {
                if set.contains(&tag) && best.as_ref().is_none_or(|(r, _)| rank < *r) {
                    best = Some((rank, tag.clone()));
                }
            }
            if sensitive.is_none() && self.mark_sensitive.contains(&tag) {
                sensitive = Some(tag);
            }
        }
        if let Some((rank, tag)) = best {
            let on = rules[rank].1;
            return on.verdict(Rc::PolicyHashtag, format!("hashtag #{tag}"));
        }
        match sensitive {
            Some(tag) => mark_sensitive(s, format!("hashtag #{tag} marks it sensitive")),
            None => Verdict::Accept,
        }
    }

    fn describe(&self) -> String {
        format!(
            "reject {} hashtags, hold {}, no relay {}, mark sensitive {}",
            self.reject.len(),
            self.hold.len(),
            self.no_relay.len(),
            self.mark_sensitive.len()
        )
    }
}
