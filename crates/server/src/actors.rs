//! Creating local actors: ids from the configured domain, fresh key pairs, one insert.

use anyhow::{Context, bail};
use sluice_apub::{LocalUrls, keypair};
use sluice_db::actors::{self as q, Community, NewLocalActor, Person};
use sluice_db::{Db, DbError};

/// Community and user names: what Lemmy accepts (letters, digits, underscore; 1–20 chars
/// for Lemmy, we allow up to 64).
fn check_name(name: &str) -> anyhow::Result<()> {
    if !sluice_apub::actor::is_valid_name(name) {
        bail!("invalid name {name:?}: use 1-64 letters, digits or underscores");
    }
    Ok(())
}

fn new_actor(
    urls: &LocalUrls,
    name: &str,
    title: Option<&str>,
    id: String,
    group: bool,
) -> anyhow::Result<NewLocalActor> {
    let kp = keypair::generate()?;
    Ok(NewLocalActor {
        domain: urls.domain().to_string(),
        name: name.to_string(),
        title: title.map(str::to_string),
        inbox: LocalUrls::sub(&id, "inbox"),
        shared_inbox: urls.shared_inbox(),
        followers_url: group.then(|| LocalUrls::sub(&id, "followers")),
        moderators_url: group.then(|| LocalUrls::sub(&id, "moderators")),
        featured_url: group.then(|| LocalUrls::sub(&id, "featured")),
        key_id: LocalUrls::key_id(&id),
        public_key_pem: kp.public_pem,
        private_key_pem: kp.private_pem,
        ap_id: id,
    })
}

/// Creates a local community with its own RSA-2048 key pair.
pub async fn create_community(
    db: &Db,
    urls: &LocalUrls,
    name: &str,
    title: Option<&str>,
) -> anyhow::Result<Community> {
    check_name(name)?;
    let actor = new_actor(urls, name, title, urls.community(name), true)?;
    q::create_local_community(db, actor)
        .await
        .map_err(|e| taken(e, "community", name))
}

/// Creates a local user with its own key pair.
pub async fn create_person(
    db: &Db,
    urls: &LocalUrls,
    name: &str,
    display: Option<&str>,
) -> anyhow::Result<Person> {
    check_name(name)?;
    let actor = new_actor(urls, name, display, urls.person(name), false)?;
    q::create_local_person(db, actor)
        .await
        .map_err(|e| taken(e, "user", name))
}

fn taken(e: DbError, what: &str, name: &str) -> anyhow::Error {
    if e.is_unique_violation() {
        anyhow::anyhow!("a {what} named {name:?} already exists")
    } else {
        anyhow::Error::new(e).context(format!("creating {what} {name:?}"))
    }
}

/// Makes sure the instance actor has a key pair (created on first start).
pub async fn ensure_instance_actor(
    db: &Db,
    urls: &LocalUrls,
) -> anyhow::Result<sluice_db::actors::LocalKey> {
    let id = urls.instance_actor();
    if let Some(k) = q::local_key(db, &id).await? {
        return Ok(k);
    }
    let kp = keypair::generate()?;
    q::insert_key_if_absent(
        db,
        &id,
        &LocalUrls::key_id(&id),
        kp.public_pem,
        kp.private_pem,
    )
    .await
    .context("storing the instance actor's key")
}
