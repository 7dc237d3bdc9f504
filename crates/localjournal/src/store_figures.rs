//! The measurement behind the choice of store (`docs/benchmarks.md`, "Local journal
//! store"): one writer's append+fsync latency, then 32 concurrent appenders sharing fsyncs,
//! through the journal's own store, and a plain file with `fdatasync` as the floor. Run it
//! on the disk that will hold `data_dir` (the directory is `SLUICE_STORE_FIGURES_DIR`, else
//! the crate's directory): `cargo test -p sluice-localjournal --lib store_figures --
//! --ignored --nocapture`. Prints figures; asserts nothing about speed.

use crate::store::Store;
use sluice_stage::Waker;
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

const RECORD: usize = 2000;
const SINGLE: usize = 300;
const APPENDERS: usize = 32;
const EACH: usize = 150;

fn pct(v: &mut [Duration], p: f64) -> f64 {
    v.sort();
    v[((v.len() as f64 - 1.0) * p) as usize].as_secs_f64() * 1e3
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement: run by hand on the disk in question"]
async fn store_figures() {
    let base = std::env::var("SLUICE_STORE_FIGURES_DIR").unwrap_or_else(|_| ".".into());
    let tmp = tempfile::tempdir_in(base).unwrap();

    let mut f = std::fs::File::create(tmp.path().join("plain")).unwrap();
    let mut lat = Vec::new();
    for _ in 0..SINGLE {
        let t = Instant::now();
        f.write_all(&[b'x'; RECORD]).unwrap();
        f.sync_data().unwrap();
        lat.push(t.elapsed());
    }
    println!(
        "plain file + fdatasync: p50 {:.2} ms, p99 {:.2} ms",
        pct(&mut lat, 0.5),
        pct(&mut lat, 0.99)
    );

    let (store, _) = Store::open(&tmp.path().join("fjall"), Waker::kept()).unwrap();
    let store = Arc::new(store);
    let mut lat = Vec::new();
    for _ in 0..SINGLE {
        let t = Instant::now();
        store.append(vec![b'x'; RECORD]).await.unwrap();
        lat.push(t.elapsed());
    }
    let start = Instant::now();
    let tasks: Vec<_> = (0..APPENDERS)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                for _ in 0..EACH {
                    store.append(vec![b'x'; RECORD]).await.unwrap();
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let rate = (APPENDERS * EACH) as f64 / start.elapsed().as_secs_f64();
    println!(
        "fjall store: p50 {:.2} ms, p99 {:.2} ms; {APPENDERS} appenders: {rate:.0} appends/s",
        pct(&mut lat, 0.5),
        pct(&mut lat, 0.99)
    );
}
