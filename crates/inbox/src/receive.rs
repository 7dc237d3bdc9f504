//! The request path, top to bottom. Each step is cheaper than the next and none writes
//! anything until the last:
//!
//! - **target**: the inbox exists (local actor names in memory; a name not known yet costs
//!   one rate-bounded lookup, [`crate::local_actors`]) → 404 (503 past the lookup bound)
//! - **intake**: media type → 415; journal pressure (a gauge refreshed in the background)
//!   → 429
//! - **body**: bounded in size (413) and time (408)
//! - **envelope** ([`crate::envelope`]): nesting depth by byte scan (400), then one parse:
//!   `id`, `type`, `actor` (400); numbers beyond f64's range: 400
//! - **origin**: the activity `id` on the actor's host and not reserved (400); the actor's
//!   instance policy (403)
//! - **signature** ([`crate::verify`]): key-less checks, who signed (the actor, or a
//!   forwarder whose key is known and whose instance policy admits), then the key, cheapest
//!   tier first → 401/403 (503 when the key's server or our database is unreachable, or
//!   the key fetch budget is spent)
//! - **rate**: the instance's acceptance rate, in memory (429), counted only for signed
//!   activities so nobody can spend another instance's rate
//! - **journal** ([`crate::journal`], group commit) → 202 once the row is committed
//!
//! All of it under one deadline (`inbox_deadline_ms`, 9 s: senders give up at 10 s); past
//! it, 503. Processing happens after the answer, in the pipeline. What a request cost
//! (database time and round-trips, network, signature CPU) is read from its spend.

use crate::envelope::{self, Envelope};
use crate::local_actors::Target;
use crate::verify::{self, Verified};
use crate::{Inbox, Refusal};
use actix_web::web::{self, Bytes, BytesMut};
use actix_web::{HttpRequest, HttpResponse};
use futures::StreamExt;
use sluice_apub::Rc;
use sluice_db::inbox::NewReceived;
use sluice_metrics::{global, spend};
use std::time::{Duration, Instant};
use url::Url;

/// An acknowledged activity.
#[derive(Debug, Clone, PartialEq)]
pub struct Ack {
    /// Its id.
    pub id: String,
    /// Already journaled before.
    pub duplicate: bool,
}

/// `POST /inbox`.
pub async fn shared_inbox(
    req: HttpRequest,
    body: web::Payload,
    inbox: web::Data<Inbox>,
) -> HttpResponse {
    handle(req, body, &inbox, Target::Shared).await
}

/// `POST /c/{name}/inbox`.
pub async fn community_inbox(
    req: HttpRequest,
    body: web::Payload,
    name: web::Path<String>,
    inbox: web::Data<Inbox>,
) -> HttpResponse {
    handle(req, body, &inbox, Target::Community(name.into_inner())).await
}

/// `POST /u/{name}/inbox`.
pub async fn person_inbox(
    req: HttpRequest,
    body: web::Payload,
    name: web::Path<String>,
    inbox: web::Data<Inbox>,
) -> HttpResponse {
    handle(req, body, &inbox, Target::Person(name.into_inner())).await
}

/// Any other method on an inbox.
pub async fn method_not_allowed() -> HttpResponse {
    Refusal::new(Rc::MethodNotAllowed, "inboxes accept POST only").response()
}

async fn handle(
    req: HttpRequest,
    body: web::Payload,
    inbox: &Inbox,
    target: Target,
) -> HttpResponse {
    let start = Instant::now();
    let deadline = inbox.shared.cfg.deadline;
    let (outcome, spent) = spend::measure(tokio::time::timeout(
        deadline,
        receive(&req, body, inbox, target),
    ))
    .await;
    let outcome = outcome.unwrap_or_else(|_| {
        Err(Refusal::new(
            Rc::DeadlineExceeded,
            format!(
                "not answered within {} ms; retry later",
                deadline.as_millis()
            ),
        ))
    });
    let m = global();
    let elapsed = start.elapsed().as_secs_f64();
    // Zero only for a request refused before its signature was looked at.
    if !spent.verify.is_zero() {
        m.signature_verify_seconds
            .observe(spent.verify.as_secs_f64());
    }
    match outcome {
        Ok(ack) => {
            let result = if ack.duplicate {
                "duplicate"
            } else {
                "accepted"
            };
            m.inbox_requests_total
                .with_label_values(&[result, ""])
                .inc();
            m.inbox_ack_seconds
                .with_label_values(&[result])
                .observe(elapsed);
            // Its share of a shared insert included.
            m.inbox_ack_db_roundtrips.observe(spent.roundtrips);
            for (part, d) in [
                ("db", spent.db),
                ("network", spent.net),
                ("cpu", spent.cpu()),
            ] {
                m.inbox_ack_time_seconds
                    .with_label_values(&[part])
                    .observe(d.as_secs_f64());
            }
            HttpResponse::Accepted().json(serde_json::json!({
                "status": if ack.duplicate { "duplicate" } else { "accepted" },
                "id": ack.id,
            }))
        }
        Err(refusal) => {
            let result = refusal.result_label();
            inbox.shared.refusals.refused(&req, refusal.rc);
            m.inbox_requests_total
                .with_label_values(&[result, refusal.rc.code()])
                .inc();
            m.inbox_ack_seconds
                .with_label_values(&[result])
                .observe(elapsed);
            if refusal.status().is_server_error() {
                tracing::warn!(rc = %refusal.rc, error = %refusal.message, "inbox: not acknowledged");
            } else {
                tracing::debug!(rc = %refusal.rc, error = %refusal.message, "inbox: refused");
            }
            refusal.response()
        }
    }
}

/// The steps of the module doc, up to the journal's answer.
pub async fn receive(
    req: &HttpRequest,
    payload: web::Payload,
    inbox: &Inbox,
    target: Target,
) -> Result<Ack, Refusal> {
    let s = &inbox.shared;
    let cfg = &s.cfg;

    // target, intake: nothing read yet.
    s.local.check(&s.db, &target).await?;
    let content_type = req
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    if !envelope::acceptable_media_type(content_type) {
        return Err(Refusal::new(
            Rc::UnsupportedMediaType,
            format!("expected application/activity+json, got {content_type:?}"),
        ));
    }
    s.check_pressure()?;

    // body, envelope.
    let body = read_body(req, payload, cfg.max_body_bytes, cfg.read_timeout).await?;
    envelope::scan(&body, cfg.max_json_depth)?;
    let env = envelope::parse(&body)?;

    // origin: who claims to speak, and may they.
    let actor_host = env.actor_host();
    // Refusals from here on are counted for this instance (the console's refusals by rc).
    actix_web::HttpMessage::extensions_mut(req)
        .insert(crate::refusals::ActorHost(actor_host.clone()));
    if sluice_apub::urls::authority(&env.id) != actor_host {
        return Err(Refusal::new(
            Rc::IdHostMismatch,
            format!(
                "the activity id {} is not on the actor's host {actor_host}",
                env.id
            ),
        ));
    }
    if env.id.fragment() == Some(verify::GONE_FRAGMENT) {
        return Err(Refusal::new(
            Rc::IdReserved,
            format!("the id {} is reserved for sluice's own Deletes", env.id),
        ));
    }
    s.policy.check(&actor_host)?;
    crate::chain::precheck(&cfg.policies, env.actor.as_str())?;

    // signature.
    let checked = verify::precheck(verify::incoming(req, &body, &cfg.domain), &cfg.verify)?;
    let verified = verify::authenticate(&checked, &env, &s.keys).await?;

    // A forwarded activity comes from the signer's instance: it must be admitted too, and
    // it is the one whose rate is spent.
    let sender_host = match verified.forwarder().map(Url::parse) {
        Some(Ok(signer)) => {
            let host = sluice_apub::urls::authority(&signer);
            s.policy.check(&host)?;
            host
        }
        Some(Err(_)) => return Err(Refusal::new(Rc::KeyUnknown, "the signer is not a URL")),
        None => actor_host,
    };

    // rate: what may this instance cost us. Only signed activities count: the unsigned 410
    // Delete proves nothing about who sent it, and its derived id makes repeats free.
    if verified != Verified::ActorGone {
        s.check_rate(&sender_host)?;
    }

    // journal: the one durable write.
    if verified == Verified::ActorGone {
        tracing::info!(actor = %env.actor, "journaling a Delete of an actor whose document is 410 Gone");
        let (id, raw) = verify::gone_delete(&env.actor);
        let derived = Envelope {
            id,
            kind: "Delete".into(),
            actor: env.actor.clone(),
            object_id: Some(env.actor.to_string()),
        };
        return journal(inbox, &derived, raw, None).await;
    }
    // `scan` + `parse` proved the body is UTF-8 JSON; it is journaled as received.
    let raw = String::from_utf8(body.to_vec())
        .map_err(|_| Refusal::new(Rc::JsonMalformed, "the body is not UTF-8"))?;
    let signer = verified.forwarder().map(str::to_string);
    journal(inbox, &env, raw, signer).await
}

async fn journal(
    inbox: &Inbox,
    env: &Envelope,
    raw: String,
    signer: Option<String>,
) -> Result<Ack, Refusal> {
    let row = NewReceived {
        activity_id: env.id.to_string(),
        actor: env.actor.to_string(),
        kind: env.kind.clone(),
        raw,
        signer,
    };
    let j = inbox.shared.journal.append(row).await?;
    Ok(Ack {
        id: env.id.to_string(),
        duplicate: j.duplicate,
    })
}

/// Reads the body: at most `limit` bytes (413 beyond, before reading when Content-Length
/// says so), within `timeout` (408).
async fn read_body(
    req: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
    timeout: Duration,
) -> Result<Bytes, Refusal> {
    let too_large = || {
        Refusal::new(
            Rc::PayloadTooLarge,
            format!("the body is larger than {limit} bytes"),
        )
    };
    let declared = req
        .headers()
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    let read = async {
        let mut buf = BytesMut::with_capacity(declared.unwrap_or(0).min(limit as u64) as usize);
        while let Some(chunk) = payload.next().await {
            let chunk = chunk.map_err(|e| {
                Refusal::new(Rc::BadRequest, format!("reading the body failed: {e}"))
            })?;
            if buf.len() + chunk.len() > limit {
                return Err(too_large());
            }
            buf.extend_from_slice(&chunk);
        }
        Ok(buf.freeze())
    };
    tokio::time::timeout(timeout, read)
        .await
        .unwrap_or_else(|_| {
            Err(Refusal::new(
                Rc::RequestTimeout,
                format!("the body did not arrive within {} ms", timeout.as_millis()),
            ))
        })
}
