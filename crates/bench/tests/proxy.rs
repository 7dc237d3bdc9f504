//! The latency proxy delays, keeps order, does not serialize, and reaches unix sockets.
//!
//! The bounds below are properties of the configured delay (bytes cannot arrive before it),
//! not speed targets; the one upper bound is a generous factor below what a serializing
//! proxy would need.

use sluice_bench::{LatencyProxy, Target};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UnixListener};

/// An echo server on 127.0.0.1.
async fn echo_tcp() -> std::net::SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            s.set_nodelay(true).unwrap();
            tokio::spawn(async move {
                let (mut r, mut w) = s.into_split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    addr
}

async fn connect(p: &LatencyProxy) -> TcpStream {
    let s = TcpStream::connect(p.addr()).await.unwrap();
    s.set_nodelay(true).unwrap();
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_round_trip_pays_the_delay_twice() {
    let proxy = LatencyProxy::start(Target::Tcp(echo_tcp().await), Duration::from_millis(30))
        .await
        .unwrap();
    let mut s = connect(&proxy).await;
    for _ in 0..3 {
        let start = Instant::now();
        s.write_all(b"ping").await.unwrap();
        let mut buf = [0u8; 4];
        s.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"ping");
        assert!(
            start.elapsed() >= Duration::from_millis(60),
            "{:?}",
            start.elapsed()
        );
    }
    assert_eq!(proxy.connections(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_chunks_overlap_their_delays_and_keep_order() {
    let delay = Duration::from_millis(100);
    let proxy = LatencyProxy::start(Target::Tcp(echo_tcp().await), delay)
        .await
        .unwrap();
    let s = connect(&proxy).await;
    let (mut r, mut w) = s.into_split();
    let start = Instant::now();
    let writer = tokio::spawn(async move {
        for i in 0u32..10 {
            w.write_all(&i.to_be_bytes()).await.unwrap();
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // 1 MiB more, to check integrity under load.
        let big: Vec<u8> = (0..1 << 20).map(|i| (i % 251) as u8).collect();
        w.write_all(&big).await.unwrap();
        w.shutdown().await.unwrap();
    });
    let mut got = Vec::new();
    r.read_to_end(&mut got).await.unwrap();
    writer.await.unwrap();
    let elapsed = start.elapsed();
    let order: Vec<u32> = got[..40]
        .chunks(4)
        .map(|c| u32::from_be_bytes(c.try_into().unwrap()))
        .collect();
    assert_eq!(order, (0..10).collect::<Vec<_>>());
    assert!(
        got[40..]
            .iter()
            .enumerate()
            .all(|(i, b)| *b == (i % 251) as u8),
        "payload intact"
    );
    assert_eq!(got.len(), 40 + (1 << 20));
    assert!(elapsed >= 2 * delay, "{elapsed:?}");
    // Serialized delays would need at least 10 x 2 x 100 ms = 2 s.
    assert!(
        elapsed < Duration::from_millis(1000),
        "delays add up: {elapsed:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwards_to_a_unix_socket() {
    let dir = std::env::temp_dir().join(format!("sluice-proxy-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("echo.sock");
    let l = UnixListener::bind(&path).unwrap();
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = s.into_split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    let proxy = LatencyProxy::start(Target::Unix(path), Duration::from_millis(20))
        .await
        .unwrap();
    let mut s = connect(&proxy).await;
    let start = Instant::now();
    s.write_all(b"hello").await.unwrap();
    let mut buf = [0u8; 5];
    s.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"hello");
    assert!(start.elapsed() >= Duration::from_millis(40));
    drop(proxy);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_target_closes_the_client() {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dead = l.local_addr().unwrap();
    drop(l);
    let proxy = LatencyProxy::start(Target::Tcp(dead), Duration::from_millis(1))
        .await
        .unwrap();
    let mut s = connect(&proxy).await;
    let mut buf = [0u8; 1];
    let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf))
        .await
        .expect("closed promptly")
        .unwrap_or(0);
    assert_eq!(n, 0);
}
