//! Ids of our own actors and endpoints.
//!
//! Every id sluice mints comes from here, so the layout is defined once:
//! `/c/NAME` communities, `/u/NAME` persons, `/` the instance actor (as Lemmy does), `/inbox`
//! the shared inbox. In dev mode ids use `http://` so peers on 127.0.0.1 can fetch them.

use url::Url;

/// Builds ids under our domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalUrls {
    base: Url,
    domain: String,
}

/// The configured domain cannot be part of a URL.
#[derive(Debug, thiserror::Error)]
#[error("domain {0:?} is not a valid host name (with optional :port)")]
pub struct BadDomain(pub String);

impl LocalUrls {
    /// `domain` is host[:port]; `plain_http` is dev mode.
    pub fn new(domain: &str, plain_http: bool) -> Result<Self, BadDomain> {
        let scheme = if plain_http { "http" } else { "https" };
        let base =
            Url::parse(&format!("{scheme}://{domain}/")).map_err(|_| BadDomain(domain.into()))?;
        if base.host_str().is_none()
            || base.path() != "/"
            || base.query().is_some()
            || !base.username().is_empty()
        {
            return Err(BadDomain(domain.into()));
        }
        Ok(LocalUrls {
            base,
            domain: domain.to_lowercase(),
        })
    }

    /// host[:port], lower case.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    fn at(&self, path: &str) -> String {
        format!("{}{}", self.base, path.trim_start_matches('/'))
    }

    /// True when `id` is on our domain.
    pub fn is_local(&self, id: &Url) -> bool {
        id.scheme() == self.base.scheme() && authority(id) == self.domain
    }

    /// The instance actor (`Application`), as Lemmy places it.
    pub fn instance_actor(&self) -> String {
        self.base.to_string()
    }
    /// The shared inbox.
    pub fn shared_inbox(&self) -> String {
        self.at("inbox")
    }
    /// A community.
    pub fn community(&self, name: &str) -> String {
        self.at(&format!("c/{name}"))
    }
    /// A person.
    pub fn person(&self, name: &str) -> String {
        self.at(&format!("u/{name}"))
    }
    /// `<actor>/<what>` (inbox, outbox, followers, moderators, featured).
    pub fn sub(actor_id: &str, what: &str) -> String {
        format!("{}/{what}", actor_id.trim_end_matches('/'))
    }
    /// The key id of an actor.
    pub fn key_id(actor_id: &str) -> String {
        format!("{actor_id}#main-key")
    }
    /// The nodeinfo document.
    pub fn nodeinfo(&self) -> String {
        self.at("nodeinfo/2.1")
    }
    /// The URL of a request path (with its query, if any) on our domain.
    pub fn of_path(&self, path_and_query: &str) -> String {
        self.at(path_and_query)
    }
    /// A new activity id of `kind` (lower-case type name) with a random suffix.
    pub fn activity(&self, kind: &str, unique: &str) -> String {
        self.at(&format!("activities/{kind}/{unique}"))
    }
}

/// host[:port] of a URL, lower case; the port only when it is not the scheme's default.
pub fn authority(u: &Url) -> String {
    match (u.host_str(), u.port()) {
        (Some(h), Some(p)) => format!("{}:{p}", h.to_lowercase()),
        (Some(h), None) => h.to_lowercase(),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_follow_the_lemmy_layout() {
        let u = LocalUrls::new("example.org", false).unwrap();
        assert_eq!(u.community("rust"), "https://example.org/c/rust");
        assert_eq!(u.instance_actor(), "https://example.org/");
        assert_eq!(
            LocalUrls::sub(&u.community("rust"), "inbox"),
            "https://example.org/c/rust/inbox"
        );
        let dev = LocalUrls::new("127.0.0.1:8080", true).unwrap();
        assert_eq!(dev.person("a"), "http://127.0.0.1:8080/u/a");
        assert!(dev.is_local(&Url::parse("http://127.0.0.1:8080/c/x").unwrap()));
        assert!(!dev.is_local(&Url::parse("http://127.0.0.1:8081/c/x").unwrap()));
        assert!(LocalUrls::new("bad domain/x", false).is_err());
    }
}
