//! The SSRF guard: which URLs and addresses sluice may contact.

use crate::NetError;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use url::{Host, Url};

/// True for addresses on the public internet. Refused:
/// - IPv4: this network 0/8, private 10/8, 172.16/12, 192.168/16, CGNAT 100.64/10, loopback
///   127/8, link-local 169.254/16, IETF protocol assignments 192.0.0/24, documentation
///   192.0.2/24, 198.51.100/24, 203.0.113/24, the 6to4 relay anycast 192.88.99/24,
///   benchmarking 198.18/15, multicast 224/4, reserved 240/4 and broadcast;
/// - IPv6: unspecified, loopback, IPv4-compatible ::/96 and SIIT ::ffff:0:0:0/96 (never
///   routable), discard-only 100::/64, local-use NAT64 64:ff9b:1::/48, the IETF block
///   2001::/23 (Teredo 2001::/32, benchmarking, ORCHID), documentation 2001:db8::/32 and
///   3fff::/20, unique-local fc00::/7, link-local fe80::/10, site-local fec0::/10,
///   multicast ff00::/8;
/// - IPv6 forms that carry an IPv4 address are judged by that address: IPv4-mapped
///   ::ffff:0:0/96, well-known NAT64 64:ff9b::/96 (a NAT64 gateway connects to the
///   embedded address) and 6to4 2002::/16.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v6(v6: Ipv6Addr) -> bool {
    if let Some(v4) = embedded_v4(v6) {
        return is_public_v4(v4);
    }
    let seg = v6.segments();
    !(v6.is_loopback()
        || v6.is_unspecified()
        || v6.is_multicast()
        || seg[0..6] == [0, 0, 0, 0, 0, 0] // IPv4-compatible (deprecated)
        || seg[0..5] == [0, 0, 0, 0, 0xffff] // SIIT IPv4-translated
        || seg[0..4] == [0x0100, 0, 0, 0] // discard-only 100::/64
        || (seg[0] == 0x0064 && seg[1] == 0xff9b && seg[2] == 0x0001) // local-use NAT64
        || (seg[0] == 0x2001 && seg[1] < 0x0200) // IETF special-purpose 2001::/23
        || (seg[0] == 0x2001 && seg[1] == 0x0db8) // documentation
        || (seg[0] & 0xfff0) == 0x3ff0 // documentation 3fff::/20
        || (seg[0] & 0xfe00) == 0xfc00 // unique local
        || (seg[0] & 0xffc0) == 0xfe80 // link local
        || (seg[0] & 0xffc0) == 0xfec0) // site local (deprecated)
}

/// The IPv4 address an IPv6 address stands for, when it is a form that reaches one:
/// IPv4-mapped, well-known-prefix NAT64, 6to4.
fn embedded_v4(v6: Ipv6Addr) -> Option<Ipv4Addr> {
    if let Some(v4) = v6.to_ipv4_mapped() {
        return Some(v4);
    }
    let seg = v6.segments();
    let v4 = |hi: u16, lo: u16| Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
    if seg[0..6] == [0x0064, 0xff9b, 0, 0, 0, 0] {
        return Some(v4(seg[6], seg[7]));
    }
    if seg[0] == 0x2002 {
        return Some(v4(seg[1], seg[2]));
    }
    None
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
        || (o[0] == 192 && o[1] == 88 && o[2] == 99) // 6to4 relay anycast (deprecated)
        || o[0] >= 240) // reserved
}

/// Checks a URL's port outside dev mode: only `ports` (80 and 443 unless configured), so a
/// peer cannot point us at the SSH, SMTP or database port of a public host.
pub fn check_port(url: &Url, ports: &[u16], dev_mode: bool) -> Result<(), NetError> {
    match url.port_or_known_default() {
        _ if dev_mode => Ok(()),
        Some(p) if ports.contains(&p) => Ok(()),
        Some(p) => Err(NetError::Refused(format!(
            "{url}: port {p} is not an allowed outgoing port (outgoing_ports)"
        ))),
        None => Err(NetError::Refused(format!("{url}: no port"))),
    }
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

    fn refused(ips: &[&str]) {
        for ip in ips {
            let a: IpAddr = ip.parse().unwrap();
            assert!(!is_public(a), "{ip} must not be public");
        }
    }

    fn public(ips: &[&str]) {
        for ip in ips {
            let a: IpAddr = ip.parse().unwrap();
            assert!(is_public(a), "{ip} is public");
        }
    }

    #[test]
    fn public_addresses_pass() {
        public(&[
            "1.1.1.1",
            "93.184.216.34",
            "100.63.255.255",
            "100.128.0.0",
            "198.17.255.255",
            "198.20.0.0",
            "192.0.1.1",
            "223.255.255.255",
            "2606:4700:4700::1111",
            "2a00:1450:4001::200e",
            "::ffff:1.1.1.1",
            "64:ff9b::101:101",
            "2002:0101:0101::1",
            "2001:200::1",
        ]);
    }

    #[test]
    fn ipv4_special_ranges_are_refused() {
        refused(&["0.0.0.0", "0.1.2.3", "0.255.255.255"]); // this network 0/8
        refused(&["10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.1.1"]); // RFC 1918
        refused(&["100.64.0.1", "100.127.255.255"]); // CGNAT
        refused(&["127.0.0.1", "127.255.0.9"]); // loopback
        refused(&["169.254.169.254"]); // link-local (cloud metadata)
        refused(&["192.0.0.1", "192.0.0.170"]); // IETF protocol assignments
        refused(&["192.0.2.1", "198.51.100.7", "203.0.113.200"]); // documentation
        refused(&["192.88.99.1"]); // 6to4 relay anycast
        refused(&["198.18.0.1", "198.19.255.255"]); // benchmarking
        refused(&["224.0.0.1", "239.255.255.250"]); // multicast
        refused(&["240.0.0.1", "255.255.255.254", "255.255.255.255"]); // reserved, broadcast
    }

    #[test]
    fn ipv6_special_ranges_are_refused() {
        refused(&["::", "::1"]);
        refused(&["::7f00:1", "::a00:1", "::1.1.1.1"]); // IPv4-compatible, all of ::/96
        refused(&["::ffff:0:101:101", "::ffff:0:7f00:1"]); // SIIT
        refused(&["100::1"]); // discard-only
        refused(&["64:ff9b:1::1", "64:ff9b:1:ffff::1.1.1.1"]); // local-use NAT64
        refused(&["2001::1", "2001:0:4136:e378:8000:63bf:3fff:fdd2"]); // Teredo
        refused(&["2001:2::1", "2001:10::1", "2001:20::1"]); // benchmarking, ORCHID
        refused(&["2001:db8::1", "2001:db8:ffff::1", "3fff::1", "3fff:fff::1"]); // documentation
        refused(&["fc00::1", "fd12:3456::1"]); // unique local
        refused(&["fe80::1", "febf::1"]); // link local
        refused(&["fec0::1", "feff::1"]); // site local
        refused(&["ff02::1", "ff0e::1"]); // multicast
    }

    #[test]
    fn ipv6_forms_of_ipv4_are_judged_by_the_ipv4_address() {
        // IPv4-mapped
        refused(&[
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
        ]);
        // NAT64 well-known prefix: the gateway would connect to the embedded address.
        refused(&[
            "64:ff9b::7f00:1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b::192.168.0.1",
        ]);
        // 6to4: 2002:AABB:CCDD:: carries AA.BB.CC.DD.
        refused(&["2002:7f00:1::1", "2002:a00:1::", "2002:c0a8:101::1"]);
        public(&["64:ff9b::8.8.8.8", "2002:808:808::1"]);
    }

    #[test]
    fn only_allowed_ports_outside_dev_mode() {
        let u = |s: &str| Url::parse(s).unwrap();
        let ports = [80, 443];
        assert!(check_port(&u("https://a.example/x"), &ports, false).is_ok());
        assert!(check_port(&u("https://a.example:443/x"), &ports, false).is_ok());
        assert!(check_port(&u("https://a.example:80/x"), &ports, false).is_ok());
        for bad in [
            "https://a.example:22/",
            "https://a.example:5432/",
            "https://a.example:8443/",
        ] {
            assert!(check_port(&u(bad), &ports, false).is_err(), "{bad}");
        }
        assert!(check_port(&u("https://a.example:8443/"), &[443, 8443], false).is_ok());
        assert!(check_port(&u("http://127.0.0.1:5432/"), &ports, true).is_ok());
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
