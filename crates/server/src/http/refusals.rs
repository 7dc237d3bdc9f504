//! The framework's own refusals, as `{"rc", "error"}` like every other.
//!
//! Two places make refusals that no handler of ours writes:
//!
//! - **actix-web's routing and extractors** (405 on a known path with another method, a
//!   path or query that does not parse): [`to_json`], in a middleware, replaces every error
//!   response that is not already JSON by the refusal its status stands for.
//! - **actix-http's HTTP/1 codec**, before any request exists: headers beyond its 128 KiB
//!   buffer (431), headers not complete within `client_request_timeout` (408), a request
//!   that does not parse, such as `Content-Length` with `Transfer-Encoding` (400). The
//!   dispatcher writes these as fixed, bodiless responses and offers no hook to change them.
//!   [`JsonRefusals`] wraps each connection's socket and rewrites exactly those on their way
//!   out: an error status with `content-length: 0` can only come from the codec, because
//!   [`to_json`] has given every error response of the application a body.

use actix_web::body::BoxBody;
use actix_web::dev::ServiceResponse;
use actix_web::http::StatusCode;
use actix_web::http::header::{CONTENT_TYPE, HeaderValue};
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The code and message for an error status the framework produced.
pub fn framework_refusal(status: StatusCode) -> (&'static str, &'static str) {
    match status.as_u16() {
        400 => ("BadRequest", "malformed HTTP request"),
        404 => ("NotFound", "no such route"),
        405 => ("MethodNotAllowed", "the method is not allowed on this path"),
        408 => (
            "RequestTimeout",
            "the request did not arrive in time; retry",
        ),
        413 => ("PayloadTooLarge", "the request is too large"),
        415 => ("UnsupportedMediaType", "unsupported media type"),
        431 => ("HeadersTooLarge", "the request headers are too large"),
        s if s >= 500 => ("Internal", "internal error; retry later"),
        _ => ("BadRequest", "the request cannot be served"),
    }
}

fn body(status: StatusCode) -> String {
    let (rc, error) = framework_refusal(status);
    serde_json::json!({ "rc": rc, "error": error }).to_string()
}

/// For `App::wrap_fn`: an error response that is not JSON becomes the refusal of its
/// status, with the status and headers such as `Allow` kept.
pub fn to_json(res: ServiceResponse) -> ServiceResponse {
    let status = res.status();
    let is_json = res
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return res;
    }
    res.map_body(|head, _old: BoxBody| {
        head.headers
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        BoxBody::new(body(status))
    })
}

/// A connection's socket whose bodiless error responses (the codec's) leave as JSON
/// refusals. Reads pass through untouched.
pub struct JsonRefusals<T> {
    io: T,
    /// A rewritten response still to be written, and how much of it is.
    pending: Vec<u8>,
    written: usize,
}

impl<T> JsonRefusals<T> {
    /// Wraps `io`.
    pub fn new(io: T) -> Self {
        JsonRefusals {
            io,
            pending: Vec::new(),
            written: 0,
        }
    }
}

/// When `buf` starts with a complete bodiless HTTP/1 error response head: its length and
/// the JSON response to send instead.
fn rewrite(buf: &[u8]) -> Option<(usize, Vec<u8>)> {
    if !buf.starts_with(b"HTTP/1.") || buf.len() < 12 {
        return None;
    }
    let code: u16 = std::str::from_utf8(&buf[9..12]).ok()?.parse().ok()?;
    let status = StatusCode::from_u16(code).ok()?;
    if !(status.is_client_error() || status.is_server_error()) {
        return None;
    }
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = std::str::from_utf8(&buf[..end]).ok()?;
    let mut lines = head.split("\r\n").filter(|l| !l.is_empty());
    let status_line = lines.next()?;
    let mut bodiless = false;
    let mut kept = Vec::new();
    for line in lines {
        let name = line.split(':').next().unwrap_or("").trim();
        if name.eq_ignore_ascii_case("content-length") {
            bodiless = line[name.len() + 1..].trim() == "0";
        } else if !name.eq_ignore_ascii_case("content-type") {
            kept.push(line);
        }
    }
    if !bodiless {
        return None;
    }
    let json = body(status);
    let mut out = format!(
        "{status_line}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n",
        json.len()
    );
    for line in kept {
        out.push_str(line);
        out.push_str("\r\n");
    }
    out.push_str("\r\n");
    out.push_str(&json);
    Some((end, out.into_bytes()))
}

/// Where a bodiless error response head that ends `buf` starts, when something precedes it
/// (an earlier pipelined response written in the same buffer): the codec's refusal is the
/// last thing written on its connection.
fn error_head_at_end(buf: &[u8]) -> Option<usize> {
    let p = buf.windows(7).rposition(|w| w == b"HTTP/1.")?;
    if p == 0 {
        return None;
    }
    let (consumed, _) = rewrite(&buf[p..])?;
    (p + consumed == buf.len()).then_some(p)
}

impl<T: AsyncWrite + Unpin> JsonRefusals<T> {
    /// Writes what is pending; ready when nothing is.
    fn poll_pending(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.written < self.pending.len() {
            let n = ready!(Pin::new(&mut self.io).poll_write(cx, &self.pending[self.written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.written += n;
        }
        self.pending.clear();
        self.written = 0;
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for JsonRefusals<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for JsonRefusals<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        ready!(this.poll_pending(cx))?;
        if let Some((consumed, replacement)) = rewrite(buf) {
            this.pending = replacement;
            this.written = 0;
            // What is not written now is written by the next write, flush or shutdown.
            let _ = this.poll_pending(cx)?;
            return Poll::Ready(Ok(consumed));
        }
        // Write what precedes such a head; the next write starts with it.
        let buf = match error_head_at_end(buf) {
            Some(p) => &buf[..p],
            None => buf,
        };
        Pin::new(&mut this.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_pending(cx))?;
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_pending(cx))?;
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodiless_error_heads_become_json_refusals() {
        let head = b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\nconnection: close\r\ndate: Thu, 03 Dec 2026 10:00:00 GMT\r\n\r\n";
        let (n, out) = rewrite(head).unwrap();
        assert_eq!(n, head.len());
        let out = String::from_utf8(out).unwrap();
        let (h, b) = out.split_once("\r\n\r\n").unwrap();
        assert!(h.starts_with("HTTP/1.1 431 "), "{h}");
        assert!(
            h.contains("connection: close") && h.contains("date: "),
            "{h}"
        );
        assert!(h.contains(&format!("content-length: {}", b.len())), "{h}");
        let v: serde_json::Value = serde_json::from_str(b).unwrap();
        assert_eq!(v["rc"], "HeadersTooLarge");

        for (status, rc) in [
            ("400 Bad Request", "BadRequest"),
            ("408 Request Timeout", "RequestTimeout"),
        ] {
            let head = format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\n\r\n");
            let (_, out) = rewrite(head.as_bytes()).unwrap();
            let out = String::from_utf8(out).unwrap();
            assert!(out.contains(&format!("\"rc\":\"{rc}\"")), "{out}");
        }
    }

    #[test]
    fn everything_else_passes_unchanged() {
        for untouched in [
            &b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"[..],
            b"HTTP/1.1 404 Not Found\r\ncontent-length: 30\r\ncontent-type: application/json\r\n\r\n{}",
            b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\n",
            b"{\"rc\":\"x\"}",
            b"HTTP/1.1 4",
        ] {
            assert!(rewrite(untouched).is_none(), "{}", String::from_utf8_lossy(untouched));
        }
    }

    #[tokio::test]
    async fn a_refusal_behind_a_pipelined_response_is_rewritten_too() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (a, mut b) = tokio::io::duplex(4096);
        let mut w = JsonRefusals::new(a);
        let first = "HTTP/1.1 200 OK\r\ncontent-length: 15\r\n\r\n{\"status\":\"ok\"}";
        let both = format!(
            "{first}HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\n\r\n"
        );
        let writer = tokio::spawn(async move {
            w.write_all(both.as_bytes()).await.unwrap();
            w.shutdown().await.unwrap();
        });
        let mut got = String::new();
        b.read_to_string(&mut got).await.unwrap();
        writer.await.unwrap();
        let rest = got
            .strip_prefix(first)
            .expect("the first response unchanged");
        assert!(rest.starts_with("HTTP/1.1 431 "), "{rest}");
        assert!(rest.contains(r#""rc":"HeadersTooLarge""#), "{rest}");
        // A head followed by a body is not a refusal to rewrite.
        assert_eq!(error_head_at_end(first.as_bytes()), None);
    }

    #[tokio::test]
    async fn a_wrapped_socket_sends_the_rewritten_response() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (a, mut b) = tokio::io::duplex(16);
        let mut w = JsonRefusals::new(a);
        let writer = tokio::spawn(async move {
            w.write_all(b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\n\r\n")
                .await
                .unwrap();
            w.shutdown().await.unwrap();
        });
        let mut got = String::new();
        b.read_to_string(&mut got).await.unwrap();
        writer.await.unwrap();
        assert!(got.starts_with("HTTP/1.1 408 "), "{got}");
        let (_, body) = got.split_once("\r\n\r\n").unwrap();
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(v["rc"], "RequestTimeout", "{got}");
    }
}
