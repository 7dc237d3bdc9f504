//! `HTTP_PROXY` and friends in the environment are not used: a proxy resolves names itself,
//! past the SSRF guard. Only a proxy configured explicitly is. The test sets process-wide
//! environment variables, so it runs alone in a child process of the test binary.

use sluice_apub::signature::Signer;
use sluice_net::{Client, NetConfig};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use url::Url;

/// An HTTP server on loopback that counts connections and answers every request `{}`
/// (good enough as an origin and as a forward proxy for plain-http requests).
async fn counting_server() -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let count = Arc::new(AtomicUsize::new(0));
    let c = count.clone();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            c.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = vec![0u8; 16 * 1024];
                let mut got = Vec::new();
                while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                    match sock.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                }
                let answer = "HTTP/1.1 200 OK\r\nContent-Type: application/activity+json\r\n\
                              Content-Length: 2\r\nConnection: close\r\n\r\n{}";
                let _ = sock.write_all(answer.as_bytes()).await;
            });
        }
    });
    (format!("http://{addr}"), count)
}

fn signer() -> Signer {
    let kp = sluice_apub::keypair::generate().unwrap();
    Signer::from_pem("http://127.0.0.1/actor#main-key", &kp.private_pem).unwrap()
}

/// Set in the child process that runs the test alone.
const ALONE: &str = "SLUICE_TEST_ALONE";

/// Runs this binary again with only the test `name` (this module's, one thread) and
/// returns whether the caller is that child; panics if the child failed.
fn alone_in_a_child_process(name: &str) -> bool {
    if std::env::var_os(ALONE).is_some() {
        return true;
    }
    let exe = std::env::current_exe().unwrap();
    let full = format!("{}::{name}", module_path!().split_once("::").unwrap().1);
    let status = std::process::Command::new(exe)
        .args([full.as_str(), "--exact", "--test-threads=1", "--nocapture"])
        .env(ALONE, "1")
        .status()
        .unwrap();
    assert!(status.success(), "{full} failed in its child process");
    false
}

#[test]
fn proxies_from_the_environment_are_ignored_and_a_configured_one_is_used() {
    if !alone_in_a_child_process(
        "proxies_from_the_environment_are_ignored_and_a_configured_one_is_used",
    ) {
        return;
    }
    let _ = rustls::crypto::ring::default_provider().install_default();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let (origin, origin_hits) = counting_server().await;
        let (proxy, proxy_hits) = counting_server().await;
        // SAFETY: this test runs alone in its process (see `alone_in_a_child_process`) and
        // its runtime is single-threaded, so nothing reads the environment concurrently.
        unsafe {
            for var in [
                "HTTP_PROXY",
                "http_proxy",
                "HTTPS_PROXY",
                "https_proxy",
                "ALL_PROXY",
                "all_proxy",
            ] {
                std::env::set_var(var, &proxy);
            }
            for var in ["NO_PROXY", "no_proxy"] {
                std::env::remove_var(var);
            }
        }
        let target = Url::parse(&format!("{origin}/u/alice")).unwrap();

        // The control: a default reqwest client does go through the environment's proxy.
        reqwest::Client::new()
            .get(target.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(
            proxy_hits.load(Ordering::SeqCst),
            1,
            "the environment proxy is live"
        );
        assert_eq!(origin_hits.load(Ordering::SeqCst), 0);

        // sluice's client (dev_mode, so loopback is reachable at all) goes direct.
        let cfg = NetConfig {
            dev_mode: true,
            ..NetConfig::default()
        };
        let direct = Client::new(cfg.clone()).unwrap();
        let signer = signer();
        direct.fetch_json(&target, &signer).await.unwrap();
        direct
            .post_activity(&target, bytes::Bytes::from_static(b"{}"), &signer)
            .await
            .unwrap();
        assert_eq!(
            proxy_hits.load(Ordering::SeqCst),
            1,
            "no request went through the proxy"
        );
        assert_eq!(origin_hits.load(Ordering::SeqCst), 2);

        // An explicitly configured proxy is used.
        let proxied = Client::new(NetConfig {
            proxy: Some(Url::parse(&proxy).unwrap()),
            ..cfg
        })
        .unwrap();
        proxied.fetch_json(&target, &signer).await.unwrap();
        assert_eq!(proxy_hits.load(Ordering::SeqCst), 2);
        assert_eq!(origin_hits.load(Ordering::SeqCst), 2);
    });
}
