//! The peer as a delivery target: record, verify, answer as scripted.

use super::server::error;
use super::state::{Peer, Received, Reply};
use super::verify;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use serde_json::Value;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// Bodies larger than this are recorded as unreadable and answered 413.
pub(crate) const MAX_INBOX_BODY: usize = 8 * 1024 * 1024;
/// How long [`Reply::Hang`] holds a request (the sender gives up long before; stopping the
/// peer ends it at once).
const HANG: Duration = Duration::from_secs(3600);

/// `/inbox`, `/u/NAME/inbox`, `/c/NAME/inbox`.
pub(crate) fn is_inbox_path(path: &str) -> bool {
    if path == "/inbox" {
        return true;
    }
    let parts: Vec<&str> = path.split('/').collect();
    matches!(parts.as_slice(), ["", "u" | "c", name, "inbox"] if !name.is_empty())
}

async fn read_body(mut payload: web::Payload) -> Result<Bytes, String> {
    let mut body = BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| format!("reading the body: {e}"))?;
        if body.len() + chunk.len() > MAX_INBOX_BODY {
            return Err(format!("body larger than {MAX_INBOX_BODY} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

fn string_field(json: &Option<Value>, field: &str) -> Option<String> {
    let v = json.as_ref()?.get(field)?;
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Object(o) => o.get("id")?.as_str().map(str::to_string),
        _ => None,
    }
}

/// Handles one inbox `POST`.
pub(crate) async fn receive(
    req: HttpRequest,
    payload: web::Payload,
    peer: web::Data<Peer>,
) -> HttpResponse {
    // Arrival order and the scripted reply are fixed together, before anything can await.
    let (seq, at, mut reply, delay, capacity) = {
        let mut st = peer.lock();
        let seq = peer.seq.fetch_add(1, Ordering::SeqCst);
        let capacity = st.inbox.capacity.clone();
        (
            seq,
            Instant::now(),
            st.inbox.next(),
            st.inbox.delay,
            capacity,
        )
    };
    let body = read_body(payload).await;
    let (text, json) = match &body {
        Ok(b) => (
            String::from_utf8_lossy(b).into_owned(),
            serde_json::from_slice::<Value>(b).ok(),
        ),
        Err(_) => (String::new(), None),
    };
    let verdict = match &body {
        Ok(b) => {
            let data = peer.federation.to_request_data();
            verify::verify(&req, b.clone(), &data).await
        }
        Err(e) => verify::Verdict {
            verified: false,
            error: Some(e.clone()),
        },
    };
    let key_id = verify::key_id(&req);
    let mut rec = Received {
        seq,
        at,
        method: req.method().to_string(),
        path: req.path().to_string(),
        headers: req
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        activity_id: string_field(&json, "id"),
        activity_type: json
            .as_ref()
            .and_then(|j| j.get("type")?.as_str().map(str::to_string)),
        actor: string_field(&json, "actor"),
        signer: key_id.as_deref().and_then(verify::key_owner),
        key_id,
        verified: verdict.verified,
        verify_error: verdict.error,
        body: text,
        json,
        status: 0,
    };
    if let Some(id) = &rec.activity_id
        && let Some(r) = peer.lock().inbox.by_activity.get(id)
    {
        reply = r.clone();
    }
    let response = match (&body, &reply) {
        (Err(_), Reply::Lemmy) => error(StatusCode::PAYLOAD_TOO_LARGE, "body too large"),
        (_, Reply::Lemmy) if rec.is_authentic() => HttpResponse::Ok().finish(),
        (_, Reply::Lemmy) => error(
            StatusCode::BAD_REQUEST,
            rec.verify_error
                .as_deref()
                .unwrap_or("signer is not the activity's actor"),
        ),
        (_, Reply::Status(s)) => error(
            StatusCode::from_u16(*s).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            "scripted status",
        ),
        (_, Reply::TooManyRequests { retry_after }) => HttpResponse::TooManyRequests()
            .insert_header(("Retry-After", retry_after.as_str()))
            .json(serde_json::json!({ "error": "slow down" })),
        (_, Reply::Hang) => HttpResponse::Ok().finish(),
    };
    rec.status = if reply == Reply::Hang {
        0
    } else {
        response.status().as_u16()
    };
    {
        let mut st = peer.lock();
        st.received.push(rec);
        peer.received_count.send_replace(st.received.len());
    }
    if let Some(delay) = delay {
        // A server with that many workers: the delay is one request's work.
        let _worker = match capacity {
            Some(slots) => slots.acquire_owned().await.ok(),
            None => None,
        };
        tokio::time::sleep(delay).await;
    }
    if reply == Reply::Hang {
        tokio::time::sleep(HANG).await;
    }
    response
}
