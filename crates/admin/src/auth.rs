//! Login, sessions and CSRF.
//!
//! The admin token is typed once into the login form; the console answers with a session
//! cookie (256 random bits, HttpOnly, SameSite=Strict, `Secure` outside dev_mode) whose
//! SHA-256 is stored in `admin_session` with the session's CSRF token and an expiry. Every
//! form carries that CSRF token; the login form itself carries a one-off token that must
//! equal a cookie set with the form (double submit), so no form is without one. Secrets are
//! compared as SHA-256 digests with `subtle`: equal lengths, and no early exit that would
//! tell a guesser how much of a guess was right.

use crate::Console;
use crate::page;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use base64::Engine;
use futures::future::LocalBoxFuture;
use maud::html;
use rand::RngCore;
use sha2::{Digest, Sha256};
use sluice_apub::Rc;
use sluice_refusal::Refusal;
use subtle::ConstantTimeEq;

/// The session cookie.
pub(crate) const SESSION_COOKIE: &str = "sluice_admin";
/// The login form's double-submit cookie.
const LOGIN_COOKIE: &str = "sluice_admin_login";
/// A session ends this long after login.
const SESSION_TTL_SECS: f64 = 12.0 * 3600.0;
/// Longest name recorded for a login.
const WHO_MAX_CHARS: usize = 64;

/// SHA-256 of a secret.
pub(crate) fn digest(secret: &[u8]) -> [u8; 32] {
    Sha256::digest(secret).into()
}

/// Constant-time equality of two secrets (through their digests: equal lengths).
fn same(given: &str, expected: &str) -> bool {
    digest(given.as_bytes())
        .ct_eq(&digest(expected.as_bytes()))
        .into()
}

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn console(req: &HttpRequest) -> Result<web::Data<Console>, Refusal> {
    req.app_data::<web::Data<Console>>()
        .cloned()
        .ok_or_else(|| Refusal::new(Rc::Internal, "admin console state missing"))
}

/// A logged-in admin: what every page and form handler takes.
pub(crate) struct Admin {
    /// The name given at login.
    pub who: String,
    /// This session's form token.
    pub csrf: String,
}

impl Admin {
    /// Refuses a form not carrying this session's CSRF token.
    pub(crate) fn check_csrf(&self, given: &str) -> Result<(), Refusal> {
        if same(given, &self.csrf) {
            Ok(())
        } else {
            Err(Refusal::new(
                Rc::AdminCsrfInvalid,
                "this form's CSRF token is not this session's: reload the page and retry",
            ))
        }
    }
}

fn no_session() -> Refusal {
    Refusal::new(
        Rc::AdminSessionInvalid,
        "no admin session: log in at /admin/login",
    )
}

impl FromRequest for Admin {
    type Error = Refusal;
    type Future = LocalBoxFuture<'static, Result<Admin, Refusal>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let console = console(req);
        let cookie = read_cookie(req, SESSION_COOKIE);
        Box::pin(async move {
            let console = console?;
            let cookie = cookie.ok_or_else(no_session)?;
            let session =
                sluice_db::admin::session_get(&console.db, digest(cookie.as_bytes()).to_vec())
                    .await?
                    .ok_or_else(no_session)?;
            Ok(Admin {
                who: session.who,
                csrf: session.csrf,
            })
        })
    }
}

/// The value of the request's cookie `name`.
fn read_cookie(req: &HttpRequest, name: &str) -> Option<String> {
    req.headers()
        .get_all(header::COOKIE)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// A `Set-Cookie` value; `max_age` in seconds (`Some(0)` removes the cookie, `None` lasts
/// the browser session). Values are base64url tokens: nothing to quote.
fn set_cookie(
    name: &str,
    value: &str,
    path: &str,
    max_age: Option<u32>,
    console: &Console,
) -> (header::HeaderName, String) {
    let mut c = format!("{name}={value}; Path={path}; HttpOnly; SameSite=Strict");
    if let Some(age) = max_age {
        c.push_str(&format!("; Max-Age={age}"));
    }
    if console.secure_cookie {
        c.push_str("; Secure");
    }
    (header::SET_COOKIE, c)
}

fn see_other(to: &str) -> actix_web::HttpResponseBuilder {
    let mut b = HttpResponse::SeeOther();
    b.insert_header((header::LOCATION, to));
    b
}

/// `GET /admin/login`.
pub(crate) async fn login_form(
    req: HttpRequest,
    admin: Option<Admin>,
) -> Result<HttpResponse, Refusal> {
    if admin.is_some() {
        return Ok(see_other("/admin").finish());
    }
    let console = console(&req)?;
    let token = random_token();
    let login = set_cookie(LOGIN_COOKIE, &token, "/admin/login", Some(1800), &console);
    let body = html! {
        main.login {
            h1 { "sluice admin" }
            form method="post" action="/admin/login" {
                input type="hidden" name="csrf" value=(token);
                label for="who" { "Your name (recorded with every change)" }
                input #who name="who" type="text" maxlength="64" autocomplete="username" required;
                label for="token" { "Admin token" }
                input #token name="token" type="password" autocomplete="current-password" required;
                button type="submit" { "Log in" }
            }
        }
    };
    let mut res = page::html(page::bare("Log in", body));
    let value = header::HeaderValue::try_from(login.1)
        .map_err(|e| Refusal::new(Rc::Internal, e.to_string()))?;
    res.headers_mut().append(login.0, value);
    Ok(res)
}

/// The login form's fields.
#[derive(serde::Deserialize)]
pub(crate) struct LoginForm {
    who: String,
    token: String,
    csrf: String,
}

/// `POST /admin/login`.
pub(crate) async fn login(
    req: HttpRequest,
    form: web::Form<LoginForm>,
) -> Result<HttpResponse, Refusal> {
    let console = console(&req)?;
    let now = std::time::Instant::now();
    console.login_throttle.check(now).map_err(|wait| {
        Refusal::new(Rc::RateLimited, "too many wrong logins; wait and try again")
            .retry_after(wait.max(std::time::Duration::from_secs(1)))
    })?;
    let expected = read_cookie(&req, LOGIN_COOKIE);
    if !expected.is_some_and(|e| same(&form.csrf, &e)) {
        return Err(Refusal::new(
            Rc::AdminCsrfInvalid,
            "the login form's CSRF token does not match its cookie: reload /admin/login",
        ));
    }
    let token_ok: bool = digest(form.token.as_bytes())
        .ct_eq(&console.token_hash)
        .into();
    if !token_ok {
        console.login_throttle.failed(now);
        tracing::warn!(peer = ?req.peer_addr(), "admin console: login with a wrong token");
        return Err(Refusal::new(Rc::AdminTokenInvalid, "wrong admin token"));
    }
    let who: String = form
        .who
        .trim()
        .chars()
        .filter(|c| !c.is_control())
        .take(WHO_MAX_CHARS)
        .collect();
    let who = if who.is_empty() { "admin".into() } else { who };
    let session = random_token();
    sluice_db::admin::session_create(
        &console.db,
        digest(session.as_bytes()).to_vec(),
        random_token(),
        who.clone(),
        SESSION_TTL_SECS,
    )
    .await?;
    tracing::info!(who = %who, "admin console: login");
    Ok(see_other("/admin")
        .append_header(set_cookie(
            SESSION_COOKIE,
            &session,
            "/admin",
            None,
            &console,
        ))
        .append_header(set_cookie(
            LOGIN_COOKIE,
            "",
            "/admin/login",
            Some(0),
            &console,
        ))
        .finish())
}

/// A form that only carries its CSRF token.
#[derive(serde::Deserialize)]
pub(crate) struct CsrfOnly {
    csrf: String,
}

/// `POST /admin/logout`.
pub(crate) async fn logout(
    req: HttpRequest,
    admin: Admin,
    form: web::Form<CsrfOnly>,
) -> Result<HttpResponse, Refusal> {
    admin.check_csrf(&form.csrf)?;
    let console = console(&req)?;
    if let Some(c) = read_cookie(&req, SESSION_COOKIE) {
        sluice_db::admin::session_delete(&console.db, digest(c.as_bytes()).to_vec()).await?;
    }
    Ok(see_other("/admin/login")
        .append_header(set_cookie(SESSION_COOKIE, "", "/admin", Some(0), &console))
        .finish())
}

#[cfg(test)]
mod tests {
    use super::{digest, same};
    use subtle::ConstantTimeEq;

    #[test]
    fn secrets_compare_equal_only_when_equal() {
        assert!(same("token", "token"));
        assert!(!same("token", "token "));
        assert!(!same("", "token"));
        assert!(!same("tokeN", "token"));
        let d: bool = digest(b"a").ct_eq(&digest(b"b")).into();
        assert!(!d);
    }
}
