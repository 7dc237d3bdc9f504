//! The guarded client against a real HTTP server on 127.0.0.1.

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use bytes::Bytes;
use sluice_apub::signature::{Incoming, Signer, VerifyPolicy, check};
use sluice_net::{Client, NetConfig, NetError};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use url::Url;

#[derive(Default)]
struct Seen {
    verified: Vec<String>,
}

fn headers(req: &HttpRequest) -> BTreeMap<String, String> {
    req.headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
        .collect()
}

/// Starts a server; returns its base URL and what it saw.
async fn server(public_pem: String) -> (String, Arc<Mutex<Seen>>) {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let key = sluice_apub::keypair::parse_public(&public_pem).unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (s2, k2) = (seen.clone(), key);
    let srv = HttpServer::new(move || {
        let (s3, k3, k5) = (s2.clone(), k2.clone(), k2.clone());
        App::new()
            .route(
                "/object",
                web::get().to(move |req: HttpRequest| {
                    let (s4, k4) = (s3.clone(), k3.clone());
                    async move {
                        let pq = req
                            .uri()
                            .path_and_query()
                            .map(|p| p.as_str())
                            .unwrap_or("/");
                        let inc = Incoming {
                            method: "GET",
                            path_and_query: pq,
                            headers: headers(&req),
                            body: None,
                        };
                        let ok = check(inc, &VerifyPolicy::default(), SystemTime::now())
                            .and_then(|c| c.verify(&k4).map(|_| c.key_id));
                        if let Ok(kid) = ok {
                            s4.lock().unwrap().verified.push(kid);
                        }
                        HttpResponse::Ok()
                            .content_type("application/activity+json")
                            .body(r#"{"id":"x","type":"Note"}"#)
                    }
                }),
            )
            .route(
                "/big",
                web::get().to(|| async { HttpResponse::Ok().body(vec![b' '; 2 * 1024 * 1024]) }),
            )
            .route(
                "/html",
                web::get().to(|| async { HttpResponse::Ok().body("<html>") }),
            )
            .route(
                "/slow",
                web::get().to(|| async {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    HttpResponse::Ok().body("{}")
                }),
            )
            .route(
                "/status/{code}",
                web::get().to(|p: web::Path<u16>| async move {
                    HttpResponse::build(
                        actix_web::http::StatusCode::from_u16(p.into_inner()).unwrap(),
                    )
                    .finish()
                }),
            )
            .route(
                "/inbox",
                web::post().to(move |req: HttpRequest, body: Bytes| {
                    let k = k5.clone();
                    async move {
                        let inc = Incoming {
                            method: "POST",
                            path_and_query: "/inbox",
                            headers: headers(&req),
                            body: Some(&body),
                        };
                        match check(inc, &VerifyPolicy::default(), SystemTime::now())
                            .and_then(|c| c.verify(&k))
                        {
                            Ok(()) => HttpResponse::TooManyRequests()
                                .insert_header(("Retry-After", "7"))
                                .finish(),
                            Err(e) => HttpResponse::Unauthorized().body(e.to_string()),
                        }
                    }
                }),
            )
    })
    .workers(1)
    .disable_signals()
    .listen(listener)
    .unwrap()
    .run();
    tokio::spawn(srv);
    (format!("http://127.0.0.1:{port}"), seen)
}

fn setup() -> (Signer, String) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let kp = sluice_apub::keypair::generate().unwrap();
    (
        Signer::from_pem("http://127.0.0.1/actor#main-key", &kp.private_pem).unwrap(),
        kp.public_pem,
    )
}

#[tokio::test]
async fn fetches_are_signed_bounded_and_classified() {
    let (signer, public) = setup();
    let (base, seen) = server(public).await;
    let client = Client::new(NetConfig {
        dev_mode: true,
        request_timeout: Duration::from_millis(500),
        ..NetConfig::default()
    })
    .unwrap();
    let u = |p: &str| Url::parse(&format!("{base}{p}")).unwrap();

    let doc = client.fetch_json(&u("/object"), &signer).await.unwrap();
    assert_eq!(doc["type"], "Note");
    assert_eq!(
        seen.lock().unwrap().verified,
        vec!["http://127.0.0.1/actor#main-key".to_string()],
        "the GET was signed"
    );

    assert_eq!(
        client.fetch_json(&u("/big"), &signer).await,
        Err(NetError::TooLarge(1024 * 1024))
    );
    assert!(matches!(
        client.fetch_json(&u("/html"), &signer).await,
        Err(NetError::NotJson(_))
    ));
    let slow = client.fetch_json(&u("/slow"), &signer).await.unwrap_err();
    assert_eq!(slow, NetError::Timeout);
    assert!(slow.is_transient());
    let gone = client
        .fetch_json(&u("/status/410"), &signer)
        .await
        .unwrap_err();
    assert!(gone.is_gone() && !gone.is_transient());
    assert!(
        client
            .fetch_json(&u("/status/503"), &signer)
            .await
            .unwrap_err()
            .is_transient()
    );
}

#[tokio::test]
async fn without_dev_mode_loopback_and_plain_http_are_refused() {
    let (signer, public) = setup();
    let (base, seen) = server(public).await;
    let client = Client::new(NetConfig::default()).unwrap();
    let url = Url::parse(&format!("{base}/object")).unwrap();
    assert!(matches!(
        client.fetch_json(&url, &signer).await,
        Err(NetError::Refused(_))
    ));
    let https_ip = Url::parse(&base.replace("http://", "https://")).unwrap();
    assert!(matches!(
        client.fetch_json(&https_ip, &signer).await,
        Err(NetError::Refused(_))
    ));
    assert!(
        seen.lock().unwrap().verified.is_empty(),
        "nothing reached the server"
    );
}

#[tokio::test]
async fn deliveries_carry_a_verifiable_digest_and_report_retry_after() {
    let (signer, public) = setup();
    let (base, _) = server(public).await;
    let client = Client::new(NetConfig {
        dev_mode: true,
        ..NetConfig::default()
    })
    .unwrap();
    let inbox = Url::parse(&format!("{base}/inbox")).unwrap();
    let d = client
        .post_activity(&inbox, Bytes::from_static(br#"{"type":"Like"}"#), &signer)
        .await
        .unwrap();
    assert_eq!(
        d.status, 429,
        "the server verified the signature and digest, then throttled"
    );
    assert_eq!(d.retry_after, Some(Duration::from_secs(7)));
}
