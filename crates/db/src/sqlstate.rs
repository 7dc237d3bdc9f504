//! The SQLSTATE of what PostgreSQL answered, read off the protocol.
//!
//! Whether a failed query is worth retrying is a property of its SQLSTATE (`57P01`, the
//! server shutting down, is; `23505`, a duplicate key, is not). diesel hides the SQLSTATE
//! (its error keeps the message only, whose wording follows the server's `lc_messages`), and
//! asking the connection afterwards whether it broke is a race: the server's goodbye and the
//! socket's end arrive separately. So every connection reads the codes itself, from the
//! `ErrorResponse` messages as they pass by ([`Sniffing`]), before tokio-postgres decodes
//! them: by the time a query's error reaches the caller, its code has been recorded.
//!
//! Only plaintext protocol bytes are read: on the socket when the connection is not
//! encrypted (the `SSLRequest` answer and direct TLS are recognised), else above TLS
//! ([`SniffTls`]).

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::tls::{ChannelBinding, TlsConnect, TlsStream};

/// A five-character SQLSTATE.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SqlState([u8; 5]);

impl SqlState {
    /// The code, if `code` is five ASCII letters or digits.
    pub fn new(code: &str) -> Option<SqlState> {
        let b: [u8; 5] = code.as_bytes().try_into().ok()?;
        b.iter()
            .all(u8::is_ascii_alphanumeric)
            .then_some(SqlState(b))
    }

    /// The code as text.
    pub fn as_str(&self) -> &str {
        // Checked ASCII on construction.
        std::str::from_utf8(&self.0).unwrap_or("?????")
    }

    /// True for the database's own trouble, where the same statement may succeed later:
    /// connection exceptions (`08`), serialization failures and deadlocks (`40001`,
    /// `40P01`), insufficient resources (`53`: disk full, out of memory, too many
    /// connections), shutdown and start-up (`57P01` administrator command, `57P02` crash
    /// shutdown, `57P03` cannot connect now), a cancelled statement (`57014`: a timeout or
    /// an admin's cancel), a lock timeout (`55P03`), a read-only server (`25006`: a standby
    /// after a failover) and system errors (`58`: I/O). Anything about the statement or its
    /// data (constraints, types, syntax) is not.
    pub fn is_transient(&self) -> bool {
        matches!(&self.0[..2], b"08" | b"53" | b"58")
            || matches!(
                &self.0,
                b"40001"
                    | b"40P01"
                    | b"57P01"
                    | b"57P02"
                    | b"57P03"
                    | b"57014"
                    | b"55P03"
                    | b"25006"
            )
    }

    /// sluice's own code for a journal mark whose lease is no longer ours (raised by the
    /// `sluice_journal_fence` SQL function).
    pub fn is_lease_lost(&self) -> bool {
        &self.0 == b"SL001"
    }

    /// Serialization failure or deadlock: retrying the transaction is the cure.
    pub fn is_serialization(&self) -> bool {
        matches!(&self.0, b"40001" | b"40P01")
    }
}

impl std::fmt::Display for SqlState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Debug for SqlState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SqlState({})", self.as_str())
    }
}

/// The codes one connection received since the last [`Seen::take`]: the first transient
/// one wins (a statement failing because the server went away is the server's trouble,
/// whatever else failed beside it), else the first.
#[derive(Debug, Default)]
pub(crate) struct Seen(Mutex<Option<SqlState>>);

impl Seen {
    fn record(&self, code: SqlState) {
        if let Ok(mut s) = self.0.lock() {
            match *s {
                Some(old) if old.is_transient() || !code.is_transient() => {}
                _ => *s = Some(code),
            }
        }
    }

    /// What was recorded, clearing it.
    pub(crate) fn take(&self) -> Option<SqlState> {
        self.0.lock().ok().and_then(|mut s| s.take())
    }
}

/// Most bytes of an `ErrorResponse` read for its fields: the code comes third, after the
/// severity (localized) and its unlocalized copy.
const ERROR_HEAD: usize = 256;

/// Splits the backend's byte stream into messages and records `ErrorResponse` codes.
#[derive(Debug, Default)]
struct Frames {
    header: [u8; 5],
    have: usize,
    /// Body bytes still to skip; `None` while reading a header.
    body_left: Option<usize>,
    error: Option<Vec<u8>>,
}

impl Frames {
    fn feed(&mut self, mut data: &[u8], seen: &Seen) {
        while !data.is_empty() {
            match self.body_left {
                None => {
                    let n = (5 - self.have).min(data.len());
                    self.header[self.have..self.have + n].copy_from_slice(&data[..n]);
                    self.have += n;
                    data = &data[n..];
                    if self.have == 5 {
                        self.have = 0;
                        let len = u32::from_be_bytes([
                            self.header[1],
                            self.header[2],
                            self.header[3],
                            self.header[4],
                        ]) as usize;
                        self.error = (self.header[0] == b'E').then(Vec::new);
                        self.body_left = Some(len.saturating_sub(4));
                        self.end_if_done(seen);
                    }
                }
                Some(left) => {
                    let n = left.min(data.len());
                    if let Some(e) = &mut self.error {
                        let keep = n.min(ERROR_HEAD.saturating_sub(e.len()));
                        e.extend_from_slice(&data[..keep]);
                    }
                    self.body_left = Some(left - n);
                    data = &data[n..];
                    self.end_if_done(seen);
                }
            }
        }
    }

    fn end_if_done(&mut self, seen: &Seen) {
        if self.body_left != Some(0) {
            return;
        }
        self.body_left = None;
        if let Some(code) = self.error.take().as_deref().and_then(error_code) {
            seen.record(code);
        }
    }
}

/// The `C` field of an `ErrorResponse` body (fields: a type byte, a NUL-terminated value).
fn error_code(body: &[u8]) -> Option<SqlState> {
    let mut rest = body;
    while let Some((&kind, tail)) = rest.split_first() {
        let end = tail.iter().position(|b| *b == 0)?;
        if kind == b'C' {
            return SqlState::new(std::str::from_utf8(&tail[..end]).ok()?);
        }
        rest = &tail[end + 1..];
    }
    None
}

/// Where a stream is in reading the protocol.
#[derive(Debug)]
enum Phase {
    /// The socket, before the client's first message: plaintext or not depends on it.
    Opening,
    /// After an `SSLRequest`: the next byte says whether TLS follows.
    AskedForTls,
    /// Plaintext protocol: every byte read is parsed.
    Plain(Frames),
    /// Encrypted (read above TLS instead), or not the protocol we know.
    Off,
}

/// A stream that records the SQLSTATE of every `ErrorResponse` it carries.
pub(crate) struct Sniffing<S> {
    inner: S,
    phase: Phase,
    seen: Arc<Seen>,
}

impl<S> Sniffing<S> {
    /// On the socket: decides from the first messages whether the protocol is plaintext.
    pub(crate) fn socket(inner: S, seen: Arc<Seen>) -> Self {
        Sniffing {
            inner,
            phase: Phase::Opening,
            seen,
        }
    }

    /// Above TLS: plaintext from the first byte.
    fn plain(inner: S, seen: Arc<Seen>) -> Self {
        Sniffing {
            inner,
            phase: Phase::Plain(Frames::default()),
            seen,
        }
    }

    fn wrote(&mut self, data: &[u8]) {
        if !matches!(self.phase, Phase::Opening) || data.is_empty() {
            return;
        }
        // SSLRequest: length 8, code 80877103; a StartupMessage carries protocol 3.0.
        self.phase = if data.len() >= 8 && data[..8] == [0, 0, 0, 8, 4, 210, 22, 47] {
            Phase::AskedForTls
        } else if data.len() >= 8 && data[4..8] == [0, 3, 0, 0] {
            Phase::Plain(Frames::default())
        } else {
            Phase::Off
        };
    }

    fn read(&mut self, mut data: &[u8]) {
        if let Phase::AskedForTls = self.phase {
            let Some((&answer, rest)) = data.split_first() else {
                return;
            };
            self.phase = if answer == b'N' {
                Phase::Plain(Frames::default())
            } else {
                Phase::Off
            };
            data = rest;
        }
        if let Phase::Plain(frames) = &mut self.phase {
            frames.feed(data, &self.seen);
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Sniffing<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let r = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = r {
            this.read(&buf.filled()[before..]);
        }
        r
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Sniffing<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_write(cx, data);
        if let Poll::Ready(Ok(n)) = r {
            this.wrote(&data[..n.min(data.len())]);
        }
        r
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

impl<S: TlsStream + Unpin> TlsStream for Sniffing<S> {
    fn channel_binding(&self) -> ChannelBinding {
        self.inner.channel_binding()
    }
}

/// A TLS connector whose streams record codes above the encryption.
pub(crate) struct SniffTls<T> {
    pub(crate) inner: T,
    pub(crate) seen: Arc<Seen>,
}

impl<S, T> TlsConnect<S> for SniffTls<T>
where
    T: TlsConnect<S>,
    T::Future: Send + 'static,
{
    type Stream = Sniffing<T::Stream>;
    type Error = T::Error;
    type Future = futures::future::BoxFuture<'static, Result<Self::Stream, T::Error>>;

    fn connect(self, stream: S) -> Self::Future {
        let seen = self.seen;
        let fut = self.inner.connect(stream);
        Box::pin(async move { fut.await.map(|s| Sniffing::plain(s, seen)) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error_response(code: &str) -> Vec<u8> {
        let mut body = Vec::new();
        for (k, v) in [("S", "FATAL"), ("V", "FATAL"), ("C", code), ("M", "bye")] {
            body.extend_from_slice(k.as_bytes());
            body.extend_from_slice(v.as_bytes());
            body.push(0);
        }
        body.push(0);
        let mut m = vec![b'E'];
        m.extend_from_slice(&(body.len() as u32 + 4).to_be_bytes());
        m.extend_from_slice(&body);
        m
    }

    fn data_row(len: usize) -> Vec<u8> {
        let mut m = vec![b'D'];
        m.extend_from_slice(&(len as u32 + 4).to_be_bytes());
        m.extend(std::iter::repeat_n(b'E', len));
        m
    }

    #[test]
    fn codes_are_found_however_the_bytes_are_split() {
        let mut stream = data_row(300);
        stream.extend(error_response("23505"));
        stream.extend(data_row(0));
        stream.extend(error_response("57P01"));
        for chunk in [1, 2, 3, 7, 64, 4096] {
            let (mut f, seen) = (Frames::default(), Seen::default());
            for piece in stream.chunks(chunk) {
                f.feed(piece, &seen);
            }
            assert_eq!(seen.take().map(|c| c.to_string()), Some("57P01".into()));
            assert_eq!(seen.take(), None, "taking clears");
        }
    }

    #[test]
    fn the_first_code_counts_unless_a_later_one_is_transient() {
        let seen = Seen::default();
        let mut f = Frames::default();
        f.feed(&error_response("22012"), &seen);
        f.feed(&error_response("25P02"), &seen);
        assert_eq!(seen.take().map(|c| c.to_string()), Some("22012".into()));
        f.feed(&error_response("40P01"), &seen);
        f.feed(&error_response("57P01"), &seen);
        assert_eq!(seen.take().map(|c| c.to_string()), Some("40P01".into()));
    }

    #[test]
    fn transient_classes() {
        for c in [
            "08006", "08P01", "40001", "40P01", "53100", "53300", "57P01", "57P02", "57P03",
            "57014", "55P03", "25006", "58030",
        ] {
            assert!(SqlState::new(c).is_some_and(|s| s.is_transient()), "{c}");
        }
        for c in [
            "23505", "22012", "42601", "22P02", "25P02", "XX000", "40002",
        ] {
            assert!(SqlState::new(c).is_some_and(|s| !s.is_transient()), "{c}");
        }
        assert_eq!(SqlState::new("5701"), None);
        assert_eq!(SqlState::new("57\u{e9}1"), None);
    }

    #[test]
    fn only_plaintext_is_read() {
        let seen = Arc::new(Seen::default());
        // sslmode=prefer answered 'N': plaintext follows the answer byte.
        let mut s = Sniffing::socket((), seen.clone());
        s.wrote(&[0, 0, 0, 8, 4, 210, 22, 47]);
        let mut answer = vec![b'N'];
        answer.extend(error_response("53300"));
        s.read(&answer);
        assert_eq!(seen.take().map(|c| c.to_string()), Some("53300".into()));
        // Answered 'S': what follows is TLS, never parsed on the socket.
        let mut s = Sniffing::socket((), seen.clone());
        s.wrote(&[0, 0, 0, 8, 4, 210, 22, 47]);
        let mut answer = vec![b'S'];
        answer.extend(error_response("53300"));
        s.read(&answer);
        assert_eq!(seen.take(), None);
        // A StartupMessage first: plaintext from the first byte read.
        let mut s = Sniffing::socket((), seen.clone());
        s.wrote(&[0, 0, 0, 9, 0, 3, 0, 0, 0]);
        s.read(&error_response("57P03"));
        assert_eq!(seen.take().map(|c| c.to_string()), Some("57P03".into()));
        // Anything else first (direct TLS): never parsed.
        let mut s = Sniffing::socket((), seen.clone());
        s.wrote(&[22, 3, 1, 0, 200, 1, 0, 0, 196]);
        s.read(&error_response("57P03"));
        assert_eq!(seen.take(), None);
    }
}
