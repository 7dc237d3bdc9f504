//! One normal form for an instance's host, so that every stage compares the same strings:
//! `Blocked.Example.`, `https://user@blocked.example:443/` and `blocked.example` are one
//! instance. The form is `host[:port]`:
//!
//! - domain names in lower case, internationalised names in their ASCII (punycode) form
//!   (the `url` crate's WHATWG host parsing does the IDNA mapping), one trailing dot
//!   removed (`example.` and `example` are the same name in DNS);
//! - IPv4 addresses in dotted-decimal, IPv6 addresses bracketed and compressed (`[::1]`);
//! - the port only when it is not a default one (80 and 443 are dropped: an instance is
//!   reached on one of them, whatever scheme an id happens to use);
//! - userinfo, path, query and fragment never part of it.
//!
//! Anything that does not parse as a host, or whose labels are not DNS labels, is an
//! error rather than a guess: a policy entry nobody can match is worse than a refusal.

use std::fmt;
use url::{Host, Url};

/// Longest host name DNS allows.
const MAX_NAME: usize = 253;
/// Longest label DNS allows.
const MAX_LABEL: usize = 63;

/// A host in its normal form (see the module documentation).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InstanceHost(String);

/// Why a string is not an instance host.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{input:?} is not an instance host (host or host:port): {reason}")]
pub struct HostError {
    /// What was given (truncated).
    pub input: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl HostError {
    fn new(input: &str, reason: &'static str) -> HostError {
        HostError {
            input: input.chars().take(100).collect(),
            reason,
        }
    }
}

impl InstanceHost {
    /// Normalises what an admin types or a document names: a bare `host[:port]`, with or
    /// without userinfo or a trailing dot, or an http(s) URL (only its authority counts).
    pub fn parse(input: &str) -> Result<InstanceHost, HostError> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(HostError::new(input, "empty"));
        }
        let url = if let Some((scheme, _)) = trimmed.split_once("://") {
            if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
                return Err(HostError::new(input, "only http(s) URLs name an instance"));
            }
            Url::parse(trimmed).map_err(|_| HostError::new(input, "not a URL"))?
        } else {
            // A bare authority: nothing that would start a path, query or fragment.
            if trimmed
                .bytes()
                .any(|b| matches!(b, b'/' | b'\\' | b'?' | b'#') || b.is_ascii_whitespace())
            {
                return Err(HostError::new(input, "a host has no path, query or spaces"));
            }
            Url::parse(&format!("https://{trimmed}/"))
                .map_err(|_| HostError::new(input, "not a host"))?
        };
        InstanceHost::of_url(&url).map_err(|reason| HostError::new(input, reason))
    }

    /// The instance host of an http(s) URL (an actor id, an inbox).
    pub fn from_url(url: &Url) -> Result<InstanceHost, HostError> {
        InstanceHost::of_url(url).map_err(|reason| HostError::new(url.as_str(), reason))
    }

    fn of_url(url: &Url) -> Result<InstanceHost, &'static str> {
        // Only the special schemes get the WHATWG host parsing (case, IDNA, IPv4 forms).
        if !matches!(url.scheme(), "http" | "https") {
            return Err("only http(s) URLs name an instance");
        }
        let host = match url.host() {
            Some(Host::Domain(d)) => domain(d)?,
            Some(Host::Ipv4(a)) => a.to_string(),
            Some(Host::Ipv6(a)) => format!("[{a}]"),
            None => return Err("no host"),
        };
        Ok(InstanceHost(match url.port() {
            Some(80 | 443) | None => host,
            Some(p) => format!("{host}:{p}"),
        }))
    }

    /// The normal form.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The host without its port.
    pub fn name(&self) -> &str {
        match self.0.rsplit_once(':') {
            // An IPv6 address without a port ends in `]`, so a colon after it is the port's.
            Some((h, p)) if !p.contains(']') => h,
            _ => &self.0,
        }
    }

    /// Whether the host is an IP address rather than a domain name.
    pub fn is_ip(&self) -> bool {
        let name = self.name();
        name.starts_with('[') || name.parse::<std::net::Ipv4Addr>().is_ok()
    }

    /// The parent domains of a domain name, nearest first (`a.b.example` → `b.example`,
    /// `example`); none for an IP address.
    pub fn parents(&self) -> impl Iterator<Item = &str> {
        let name = if self.is_ip() { "" } else { self.name() };
        name.match_indices('.').map(move |(i, _)| &name[i + 1..])
    }
}

impl fmt::Display for InstanceHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for InstanceHost {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// Checks a domain the URL parser already mapped (lower case, punycode) and drops its
/// trailing dot.
fn domain(d: &str) -> Result<String, &'static str> {
    let d = d.strip_suffix('.').unwrap_or(d);
    if d.is_empty() || d.len() > MAX_NAME {
        return Err("not a DNS name (length)");
    }
    for label in d.split('.') {
        if label.is_empty() || label.len() > MAX_LABEL {
            return Err("not a DNS name (empty or overlong label)");
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        {
            return Err("not a DNS name (characters)");
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err("not a DNS name (hyphen at a label's end)");
        }
    }
    Ok(d.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(s: &str) -> String {
        match InstanceHost::parse(s) {
            Ok(h) => h.0,
            Err(e) => panic!("{s:?}: {e}"),
        }
    }

    #[test]
    fn case_trailing_dot_userinfo_and_default_ports_go() {
        assert_eq!(norm("BLOCKED.example."), "blocked.example");
        assert_eq!(norm("  Blocked.Example  "), "blocked.example");
        assert_eq!(norm("user@host.example"), "host.example");
        assert_eq!(norm("user:pw@host.example:8443"), "host.example:8443");
        assert_eq!(norm("host.example:443"), "host.example");
        assert_eq!(norm("host.example:80"), "host.example");
        assert_eq!(norm("host.example.:8443"), "host.example:8443");
        assert_eq!(
            norm("https://user@Host.Example.:443/inbox?x#y"),
            "host.example"
        );
        assert_eq!(norm("http://host.example:8080/c/x"), "host.example:8080");
        assert_eq!(norm("HTTPS://host.example"), "host.example");
    }

    #[test]
    fn unicode_names_become_punycode_and_xn_forms_stay() {
        assert_eq!(norm("bücher.example"), "xn--bcher-kva.example");
        assert_eq!(norm("BÜCHER.Example."), "xn--bcher-kva.example");
        assert_eq!(norm("xn--bcher-kva.example"), "xn--bcher-kva.example");
        assert_eq!(norm("XN--BCHER-KVA.example"), "xn--bcher-kva.example");
        assert_eq!(norm("https://例え.テスト/"), norm("xn--r8jz45g.xn--zckzah"));
        // Full-width letters and dots map to ASCII (UTS 46), as browsers and DNS see them.
        assert_eq!(norm("ｅｘａｍｐｌｅ．ｃｏｍ"), "example.com");
    }

    #[test]
    fn addresses_keep_one_form() {
        assert_eq!(norm("127.0.0.23:8080"), "127.0.0.23:8080");
        assert_eq!(norm("127.0.0.23.:8080"), "127.0.0.23:8080");
        assert_eq!(norm("0x7f.1"), "127.0.0.1");
        assert_eq!(norm("[::1]"), "[::1]");
        assert_eq!(norm("[0:0::1]:8443"), "[::1]:8443");
        assert_eq!(norm("[::1]:443"), "[::1]");
        let v6 = InstanceHost::parse("[2001:db8::1]:8443").unwrap();
        assert_eq!(v6.name(), "[2001:db8::1]");
        assert!(v6.is_ip());
        assert_eq!(v6.parents().count(), 0);
        assert_eq!(InstanceHost::parse("[::1]").unwrap().name(), "[::1]");
    }

    #[test]
    fn parents_nearest_first() {
        let h = InstanceHost::parse("a.b.example:8443").unwrap();
        assert_eq!(h.name(), "a.b.example");
        assert_eq!(h.parents().collect::<Vec<_>>(), ["b.example", "example"]);
        assert!(!h.is_ip());
        let ip = InstanceHost::parse("10.1.2.3").unwrap();
        assert_eq!(ip.parents().count(), 0);
    }

    #[test]
    fn garbage_is_an_error() {
        for bad in [
            "",
            "   ",
            "host.example/path",
            "host example",
            "host.example:99999",
            "host.example:port",
            "ftp://host.example",
            "user@",
            "..",
            "a..b",
            "-bad.example",
            "bad-.example",
            "*.example",
            "exa$mple.com",
            "[::1",
            "https://",
            "xn--a.example",
            &format!("{}.example", "a".repeat(64)),
            &format!("{}example", "a.".repeat(127)),
        ] {
            assert!(InstanceHost::parse(bad).is_err(), "{bad:?} must be refused");
        }
    }

    #[test]
    fn urls_of_documents_normalise_the_same_way() {
        let u = Url::parse("https://Lemmy.World./u/a").unwrap();
        assert_eq!(InstanceHost::from_url(&u).unwrap().as_str(), "lemmy.world");
        let u = Url::parse("http://127.0.0.23:9001/u/a").unwrap();
        assert_eq!(
            InstanceHost::from_url(&u).unwrap().as_str(),
            "127.0.0.23:9001"
        );
        let u = Url::parse("urn:x:y").unwrap();
        assert!(InstanceHost::from_url(&u).is_err());
    }
}
