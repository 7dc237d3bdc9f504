//! Where a webhook may point. Outside `dev_mode` a webhook is an outgoing request like any
//! other: https, an allowed port, a host name (no IP literal) that resolves to public
//! addresses only. The configuration is refused at load for what the URL alone shows;
//! `serve` and `sluice doctor` resolve the name too; every send is checked again by the
//! client's resolver (a name can change its addresses after start).

use sluice_net::{NetError, check_port, check_url, is_public};
use url::{Host, Url};

/// The checks the URL alone allows (at configuration load): scheme, host form, port. An IP
/// literal that is not public is named as such (the usual mistake: a receiver on the same
/// host or network).
pub fn check_static(url: &Url, ports: &[u16], dev_mode: bool) -> Result<(), NetError> {
    if !dev_mode {
        let literal = match url.host() {
            Some(Host::Ipv4(ip)) => Some(std::net::IpAddr::V4(ip)),
            Some(Host::Ipv6(ip)) => Some(std::net::IpAddr::V6(ip)),
            _ => None,
        };
        if let Some(ip) = literal.filter(|ip| !is_public(*ip)) {
            return Err(NetError::Refused(format!(
                "{url}: {ip} is a private address (only dev_mode allows it)"
            )));
        }
    }
    check_url(url, dev_mode)?;
    check_port(url, ports, dev_mode)
}

/// Resolves the URL's host and refuses it when every address is private (outside
/// `dev_mode`). A name that does not resolve now is not refused: the receiver may be down,
/// and each send is checked anyway.
pub async fn check_resolved(url: &Url, dev_mode: bool) -> Result<(), NetError> {
    let Some(Host::Domain(name)) = url.host() else {
        return Ok(());
    };
    if dev_mode {
        return Ok(());
    }
    let port = url.port_or_known_default().unwrap_or(443);
    let Ok(addrs) = tokio::net::lookup_host((name, port)).await else {
        return Ok(());
    };
    let addrs: Vec<_> = addrs.map(|a| a.ip()).collect();
    if !addrs.is_empty() && addrs.iter().all(|ip| !is_public(*ip)) {
        return Err(NetError::Refused(format!(
            "{url}: {name} resolves only to private addresses ({})",
            addrs
                .iter()
                .map(|a| a.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn private_literals_are_refused_outside_dev_mode() {
        for u in [
            "https://127.0.0.1/hook",
            "https://10.1.2.3/hook",
            "https://[::1]/hook",
            "https://169.254.169.254/latest",
        ] {
            let e = check_static(&url(u), &[443], false).unwrap_err();
            assert!(e.to_string().contains("private address"), "{u}: {e}");
            assert!(check_static(&url(u), &[443], true).is_ok(), "{u}");
        }
        assert!(check_static(&url("http://hooks.example/x"), &[443], false).is_err());
        assert!(check_static(&url("https://hooks.example:8443/x"), &[443], false).is_err());
        assert!(check_static(&url("https://hooks.example/x"), &[443], false).is_ok());
    }

    #[tokio::test]
    async fn a_name_resolving_to_loopback_is_refused() {
        // `localhost` resolves from /etc/hosts, with no DNS server needed.
        let u = url("https://localhost/hook");
        let e = check_resolved(&u, false).await.unwrap_err();
        assert!(e.to_string().contains("private addresses"), "{e}");
        assert!(check_resolved(&u, true).await.is_ok());
    }
}
