//! TLS to PostgreSQL with libpq's `sslmode` meanings, against a real server with `ssl=on`
//! whose `pg_hba.conf` accepts TCP connections only over TLS (`hostssl`): a connection that
//! gets in over TCP is encrypted, and `pg_stat_ssl` says so.
//!
//! The server's certificate (made here by a test authority) names `db.invalid` and not the
//! address we connect to, so `verify-ca` (chain only) must pass where `verify-full` (chain
//! and name) must fail; an unrelated authority fails both.

#![allow(clippy::bool_assert_comparison)] // `assert_eq!` prints both sides

use diesel::sql_types::Bool;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use futures::future::BoxFuture;
use sluice_db::{Db, DbError, PoolOptions};
use sluice_pgcluster::{Cluster, ClusterOptions, Ownership, RunAs};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    /// A test authority, a server certificate for `db.invalid` signed by it, and an
    /// unrelated authority; files readable by the cluster's user.
    fn make() -> Pki {
        use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
        let dir = tempfile::Builder::new()
            .prefix("sluice-tls-")
            .tempdir_in("/tmp")
            .unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let authority = |name: &str| {
            let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
            p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            p.distinguished_name
                .push(rcgen::DnType::CommonName, name.to_string());
            CertifiedIssuer::self_signed(p, KeyPair::generate().unwrap()).unwrap()
        };
        let ca = authority("sluice test CA");
        let other = authority("someone else's CA");
        let key = KeyPair::generate().unwrap();
        let cert = CertificateParams::new(vec!["db.invalid".to_string()])
            .unwrap()
            .signed_by(&key, &ca)
            .unwrap();
        let user = RunAs::pick();
        let write = |name: &str, text: String| {
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            // PostgreSQL refuses a key others may read, or one its user does not own.
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
            user.chown(&path).unwrap();
        };
        write("ca.pem", ca.pem());
        write("other-ca.pem", other.pem());
        write("server.crt", cert.pem());
        write("server.key", key.serialize_pem());
        write(
            "pg_hba.conf",
            "local all all trust\nhostssl all all 127.0.0.0/8 trust\n".into(),
        );
        Pki { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

fn start_cluster(home: &Path, pki: &Pki, address: &str) -> Cluster {
    let mut opts = ClusterOptions::new(home, Ownership::Exclusive);
    opts.fsync = false;
    let file = |n: &str| pki.path(n).display().to_string();
    opts.settings = vec![
        ("listen_addresses".into(), address.into()),
        ("ssl".into(), "on".into()),
        ("ssl_cert_file".into(), file("server.crt")),
        ("ssl_key_file".into(), file("server.key")),
        ("hba_file".into(), file("pg_hba.conf")),
    ];
    Cluster::start(&opts).unwrap_or_else(|e| panic!("starting PostgreSQL with ssl=on: {e}"))
}

#[derive(diesel::QueryableByName)]
struct Ssl {
    #[diesel(sql_type = Bool)]
    ssl: bool,
}

fn probe(c: &mut AsyncPgConnection) -> BoxFuture<'_, diesel::QueryResult<Ssl>> {
    Box::pin(async move {
        // A cached statement (`sluice_db::sql`): after the first run, one round-trip.
        sluice_db::sql("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            .get_result::<Ssl>(c)
            .await
    })
}

/// Connects and asks the server whether this connection is encrypted.
async fn encrypted(url: &str) -> Result<bool, DbError> {
    let db = Db::connect(
        url,
        PoolOptions {
            max_size: 1,
            ..PoolOptions::default()
        },
    )
    .await?;
    let first = db.run("tls_probe", probe).await?.ssl;
    // TLS sits above the round-trip counter: a query is still one flight.
    let before = db.roundtrips();
    let again = db.run("tls_probe", probe).await?.ssl;
    assert_eq!(
        db.roundtrips() - before,
        1,
        "one round-trip per query over TLS"
    );
    assert_eq!(first, again);
    Ok(first)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sslmode_means_what_it_means_to_libpq() {
    let pki = Pki::make();
    let home = tempfile::Builder::new()
        .prefix("sluice-tls-pg-")
        .tempdir_in("/tmp")
        .unwrap();
    // A loopback address of our own, so port 5432 is ours whatever else runs here.
    let [a, b, c]: [u8; 3] = rand::random();
    let address = format!("127.{}.{b}.{}", 1 + a % 250, 1 + c % 250);
    let cluster = tokio::task::block_in_place(|| start_cluster(home.path(), &pki, &address));
    let tcp = |query: &str| format!("postgres://postgres@{address}:5432/postgres?{query}");
    let ca = pki.path("ca.pem").display().to_string();
    let other = pki.path("other-ca.pem").display().to_string();

    // Encrypted without checking the certificate: what libpq does for prefer and require.
    assert_eq!(encrypted(&tcp("sslmode=require")).await.unwrap(), true);
    assert_eq!(encrypted(&tcp("sslmode=prefer")).await.unwrap(), true);
    assert_eq!(
        encrypted(&tcp("application_name=x")).await.unwrap(),
        true,
        "prefer is the default"
    );

    // The chain is checked; the certificate names db.invalid, not the address.
    assert_eq!(
        encrypted(&tcp(&format!("sslmode=verify-ca&sslrootcert={ca}")))
            .await
            .unwrap(),
        true
    );
    assert_eq!(
        encrypted(&tcp(&format!("sslmode=require&sslrootcert={ca}")))
            .await
            .unwrap(),
        true,
        "require with a root certificate is verify-ca"
    );
    let refused = |r: Result<bool, DbError>, why: &str| {
        let e = r.expect_err(why);
        assert!(
            matches!(e, DbError::Unavailable(ref m) if m.contains("TLS")),
            "{why}: {e}"
        );
    };
    refused(
        encrypted(&tcp(&format!("sslmode=verify-full&sslrootcert={ca}"))).await,
        "verify-full checks the name",
    );
    refused(
        encrypted(&tcp(&format!("sslmode=verify-ca&sslrootcert={other}"))).await,
        "an unrelated authority",
    );
    refused(
        encrypted(&tcp(&format!("sslmode=require&sslrootcert={other}"))).await,
        "require with a root certificate checks the chain",
    );

    // What `sluice doctor` reads of a connection: where it arrived, and its TLS.
    let db = Db::connect(&tcp("sslmode=require"), PoolOptions::default())
        .await
        .unwrap();
    let info = sluice_db::probe::server_info(&mut db.get().await.unwrap())
        .await
        .unwrap();
    assert_eq!(info.server_addr.as_deref(), Some(address.as_str()));
    assert!(info.ssl);
    assert!(
        info.tls_version
            .as_deref()
            .is_some_and(|v| v.starts_with("TLS"))
    );

    // Without TLS the server's hostssl-only rules turn us away.
    let e = encrypted(&tcp("sslmode=disable")).await.unwrap_err();
    assert!(
        matches!(e, DbError::Unavailable(ref m) if m.contains("no encryption")),
        "{e}"
    );

    // Over the unix socket PostgreSQL offers no TLS; sslmode is ignored there, as by libpq.
    let socket = format!("{}&sslmode=require", cluster.url("postgres"));
    assert_eq!(encrypted(&socket).await.unwrap(), false);
    let db = Db::connect(&socket, PoolOptions::default()).await.unwrap();
    let info = sluice_db::probe::server_info(&mut db.get().await.unwrap())
        .await
        .unwrap();
    assert_eq!((info.server_addr, info.ssl), (None, false));
    drop(cluster);
}
