//! The state one activity is applied in: the batch's view, what was fetched for it, and
//! the references it could not resolve yet. The pipeline's walk from claim to write reads
//! it in one direction: `resolve` (references → view rows, fetching what is missing)
//! calls `rules` (who may do what, what is kept) and `materialize` (documents → view rows);
//! `materialize` depends on neither.

use crate::fetch::FetchFailure;
use crate::outcome::{Miss, Outcome};
use crate::settings::PipelineConfig;
use crate::view::View;
use serde_json::Value;
use sluice_apub::LocalUrls;
use std::collections::HashMap;
use url::Url;

/// What the pipeline was started with.
pub(crate) struct Env {
    pub settings: PipelineConfig,
    pub urls: LocalUrls,
}

/// Documents fetched for a batch, by the URL they were fetched by.
pub(crate) type Fetched = HashMap<String, Result<Value, FetchFailure>>;

/// What an id is in the view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Known {
    Person,
    Community,
    Post,
    Comment,
    Message,
}

/// The state one activity is applied in.
pub(crate) struct Ctx<'a> {
    pub view: &'a mut View,
    pub fetched: &'a Fetched,
    pub env: &'a Env,
    /// Journal id of the row being applied (orders Undos, see `ingest_memory`).
    pub journal_id: i64,
    /// The row's activity as received (embedded in Accepts and relayed Announces).
    pub raw: &'a Value,
    misses: Vec<Miss>,
}

impl<'a> Ctx<'a> {
    pub(crate) fn new(
        view: &'a mut View,
        fetched: &'a Fetched,
        env: &'a Env,
        journal_id: i64,
        raw: &'a Value,
    ) -> Self {
        Ctx {
            view,
            fetched,
            env,
            journal_id,
            raw,
            misses: Vec::new(),
        }
    }

    pub(crate) fn miss(&mut self, m: Miss) {
        self.misses.push(m);
    }

    /// The step for what could not be resolved: everything fetchable at once, else the
    /// first other reason.
    pub(crate) fn missing(&mut self) -> Outcome {
        let fetch: Vec<Url> = self
            .misses
            .iter()
            .filter_map(|m| match m {
                Miss::Fetch(u) => Some(u.clone()),
                _ => None,
            })
            .collect();
        let step = if !fetch.is_empty() {
            Outcome::Need(fetch)
        } else {
            match self.misses.first() {
                Some(m) => m.step(),
                None => Outcome::ignored(sluice_apub::Rc::UnknownObject, "unresolved reference"),
            }
        };
        self.misses.clear();
        step
    }

    pub(crate) fn kind_of(&self, id: &str) -> Option<Known> {
        let id = self.view.canonical(id);
        let v = &self.view;
        if v.persons.contains_key(id) {
            Some(Known::Person)
        } else if v.communities.contains_key(id) {
            Some(Known::Community)
        } else if v.posts.contains_key(id) {
            Some(Known::Post)
        } else if v.comments.contains_key(id) {
            Some(Known::Comment)
        } else if v.messages.contains_key(id) {
            Some(Known::Message)
        } else {
            None
        }
    }

    /// The canonical id of `url` as a String.
    pub(crate) fn id(&self, url: &Url) -> String {
        self.view.canonical(url.as_str()).to_string()
    }
}
