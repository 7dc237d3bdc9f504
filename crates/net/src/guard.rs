//! The SSRF guard: which URLs and addresses sluice may contact.

use crate::NetError;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use url::{Host, Url};

/// True for addresses on the public internet. Refused: loopback, private (RFC 1918), CGNAT
/// (100.64/10), benchmarking (198.18/15), link-local, unique-local (fc00::/7), multicast, broadcast, unspecified,
/// documentation ranges, and IPv4-mapped/compatible IPv6 forms of any of those.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public_v4(v4);
            }
            let seg = v6.segments();
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (seg[0] & 0xfe00) == 0xfc00 // unique local
                || (seg[0] & 0xffc0) == 0xfe80 // link local
                || (seg[0] == 0x2001 && seg[1] == 0x0db8) // documentation
                || (seg[0..6] == [0, 0, 0, 0, 0, 0])) // IPv4-compatible (deprecated)
        }
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let o = ip.octets();
    !(ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.is_unspecified()
        || ip.is_documentation()
        || o[0] == 0
        || (o[0] == 100 && (o[1] & 0xc0) == 64) // CGNAT 100.64/10
        || (o[0] == 198 && (o[1] & 0xfe) == 18) // benchmarking 198.18/15
        || (o[0] == 192 && o[1] == 0 && o[2] == 0) // IETF protocol assignments
        || o[0] >= 240) // reserved
}

/// Checks a URL before any connection: scheme and host form. Name resolution is checked
/// separately by [`GuardedResolver`].
pub fn check_url(url: &Url, dev_mode: bool) -> Result<(), NetError> {
    if dev_mode {
        return match url.scheme() {
            "http" | "https" if url.host().is_some() => Ok(()),
            _ => Err(NetError::Refused(format!("{url}: not an http(s) URL"))),
        };
    }
    if url.scheme() != "https" {
        return Err(NetError::Refused(format!(
            "{url}: only https is allowed (dev_mode allows http)"
        )));
    }
    match url.host() {
        Some(Host::Domain(d)) if d.contains('.') => Ok(()),
        Some(Host::Domain(d)) => Err(NetError::Refused(format!("{d}: not a public host name"))),
        Some(Host::Ipv4(_)) | Some(Host::Ipv6(_)) => Err(NetError::Refused(format!(
            "{url}: IP-literal hosts are refused (dev_mode allows them)"
        ))),
        None => Err(NetError::Refused(format!("{url}: no host"))),
    }
}

/// Resolves names with the system resolver and keeps only public addresses; a name with
/// none left fails with [`Blocked`], which the client reports as `Refused`.
pub(crate) struct GuardedResolver;

/// The resolver refused every address of a name.
#[derive(Debug)]
pub(crate) struct Blocked(pub String);

impl std::fmt::Display for Blocked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} resolves only to non-public addresses", self.0)
    }
}

impl std::error::Error for Blocked {}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        Box::pin(async move {
            let host = name.as_str().to_string();
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let public: Vec<SocketAddr> = addrs.into_iter().filter(|a| is_public(a.ip())).collect();
            if public.is_empty() {
                return Err(Box::new(Blocked(host)) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(public.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_and_special_addresses_are_not_public() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "::",
            "fc00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip} must not be public");
        }
        for ip in [
            "1.1.1.1",
            "93.184.216.34",
            "2606:4700:4700::1111",
            "::ffff:1.1.1.1",
        ] {
            assert!(is_public(ip.parse().unwrap()), "{ip} is public");
        }
    }

    #[tokio::test]
    async fn names_resolving_to_loopback_are_blocked() {
        let name: Name = "localhost".parse().unwrap();
        let err = match GuardedResolver.resolve(name).await {
            Err(e) => e,
            Ok(_) => panic!("localhost must not resolve through the guard"),
        };
        assert!(err.downcast_ref::<Blocked>().is_some(), "{err}");
    }

    #[test]
    fn urls_need_https_and_a_domain_unless_dev_mode() {
        let u = |s: &str| Url::parse(s).unwrap();
        assert!(check_url(&u("https://lemmy.world/u/a"), false).is_ok());
        assert!(check_url(&u("http://lemmy.world/u/a"), false).is_err());
        assert!(check_url(&u("https://127.0.0.2:8700/u/a"), false).is_err());
        assert!(check_url(&u("https://[::1]/u/a"), false).is_err());
        assert!(check_url(&u("https://localhost/u/a"), false).is_err());
        assert!(check_url(&u("http://127.0.0.2:8700/u/a"), true).is_ok());
        assert!(check_url(&u("ftp://x.example/"), true).is_err());
    }
}
