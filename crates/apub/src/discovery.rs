//! Webfinger and nodeinfo: how other servers find our actors and learn what we run.

use crate::LocalUrls;
use activitypub_federation::fetch::webfinger::{Webfinger, build_webfinger_response_with_type};
use serde_json::{Value, json};

/// The software name in nodeinfo.
pub const SOFTWARE: &str = "sluice";

/// Parses a webfinger `resource` (`acct:name@domain`, or `name@domain`) addressed to us;
/// returns the name, or `None` for another domain or a malformed resource.
pub fn webfinger_name<'a>(resource: &'a str, urls: &LocalUrls) -> Option<&'a str> {
    let acct = resource.strip_prefix("acct:").unwrap_or(resource);
    let (name, domain) = acct.rsplit_once('@')?;
    let name = name.trim_start_matches('@');
    (domain.eq_ignore_ascii_case(urls.domain()) && !name.is_empty()).then_some(name)
}

/// A webfinger answer naming one or more actors (a name may be a community and a person).
pub fn webfinger(subject: &str, actors: &[(&str, &'static str)]) -> Webfinger {
    let links = actors
        .iter()
        .filter_map(|(id, kind)| Some((id.parse().ok()?, Some(*kind))))
        .collect();
    build_webfinger_response_with_type(format!("acct:{subject}"), links)
}

/// `/.well-known/nodeinfo`: where the nodeinfo document is.
pub fn nodeinfo_links(urls: &LocalUrls) -> Value {
    json!({
        "links": [{
            "rel": "http://nodeinfo.diaspora.software/ns/schema/2.1",
            "href": urls.nodeinfo(),
        }]
    })
}

/// Counts shown in nodeinfo.
#[derive(Debug, Clone, Copy, Default)]
pub struct Usage {
    /// Local persons.
    pub users: i64,
    /// Local posts.
    pub local_posts: i64,
    /// Local comments.
    pub local_comments: i64,
}

/// The nodeinfo 2.1 document.
pub fn nodeinfo(version: &str, usage: Usage) -> Value {
    json!({
        "version": "2.1",
        "software": {
            "name": SOFTWARE,
            "version": version,
            "repository": "https://example.invalid/sluice",
            "homepage": "https://example.invalid/sluice"
        },
        "protocols": ["activitypub"],
        "services": { "inbound": [], "outbound": [] },
        "openRegistrations": false,
        "usage": {
            "users": { "total": usage.users },
            "localPosts": usage.local_posts,
            "localComments": usage.local_comments
        },
        "metadata": {}
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webfinger_resources_are_matched_to_our_domain() {
        let urls = LocalUrls::new("Example.org", false).unwrap();
        assert_eq!(webfinger_name("acct:rust@example.org", &urls), Some("rust"));
        assert_eq!(webfinger_name("rust@EXAMPLE.org", &urls), Some("rust"));
        assert_eq!(webfinger_name("acct:rust@other.org", &urls), None);
        assert_eq!(webfinger_name("acct:@example.org", &urls), None);
    }

    #[test]
    fn webfinger_links_the_actor() {
        let w = webfinger(
            "rust@example.org",
            &[("https://example.org/c/rust", "Group")],
        );
        let v = serde_json::to_value(&w).unwrap();
        assert_eq!(v["subject"], "acct:rust@example.org");
        let selfs: Vec<_> = v["links"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|l| l["rel"] == "self")
            .collect();
        assert_eq!(selfs[0]["href"], "https://example.org/c/rust");
        assert_eq!(selfs[0]["type"], "application/activity+json");
    }
}
