//! The page frame (head, stylesheet, navigation), response headers, and small formatting
//! helpers shared by the pages.

use crate::Light;
use crate::auth::Admin;
use actix_web::HttpResponse;
use actix_web::http::header::{self, HeaderMap, HeaderValue};
use chrono::{DateTime, Utc};
use maud::{DOCTYPE, Markup, html};

/// The only stylesheet: small, inline, readable on a phone (tables scroll sideways).
const STYLE: &str = "\
*{box-sizing:border-box}body{font:16px/1.45 system-ui,sans-serif;margin:0;color:#1b1f23;background:#f6f7f9}\
header{background:#1f3a5f;color:#fff;padding:.6rem 1rem;display:flex;flex-wrap:wrap;gap:.4rem 1rem;align-items:center}\
header a{color:#fff;text-decoration:none;padding:.2rem .4rem;border-radius:4px}header a[aria-current]{background:#ffffff33}\
header form{margin-left:auto}main{padding:1rem;max-width:72rem;margin:auto}\
h1{font-size:1.4rem;margin:.2rem 0 1rem}h2{font-size:1.1rem;margin:1.4rem 0 .5rem}\
.scroll{overflow-x:auto}table{border-collapse:collapse;width:100%;background:#fff}\
th,td{padding:.35rem .5rem;border-bottom:1px solid #dde1e6;text-align:left;vertical-align:top}\
th a{color:inherit}td.n{text-align:right;font-variant-numeric:tabular-nums}\
.light{display:inline-block;min-width:4.2rem;padding:.05rem .4rem;border-radius:3px;font-weight:600;font-size:.85rem;text-align:center}\
.green{background:#d3f2dc;color:#14532d}.amber{background:#fdefc3;color:#713f12}.red{background:#fbd5d5;color:#7f1d1d}\
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(16rem,1fr));gap:.8rem}\
.card{background:#fff;border:1px solid #dde1e6;border-radius:6px;padding:.7rem}.card b{font-size:1.3rem;display:block}\
.todo{color:#4b5563;font-size:.9rem;margin:.3rem 0 0}pre{white-space:pre-wrap;word-break:break-all;background:#fff;border:1px solid #dde1e6;padding:.5rem;max-height:24rem;overflow:auto}\
form.inline{display:inline}input,select,button{font:inherit;padding:.3rem .5rem}label{display:block;margin:.6rem 0 .2rem}\
button{cursor:pointer}.login{max-width:24rem}.login input{width:100%}.muted{color:#6b7280}\
svg{background:#fff;border:1px solid #dde1e6;max-width:100%;height:auto}";

/// Adds the headers every console response carries: nothing cached (pages show tokens and
/// peer data), no framing, no script, no referrer.
pub(crate) fn harden(headers: &mut HeaderMap) {
    for (name, value) in [
        (header::CACHE_CONTROL, "no-store"),
        (header::PRAGMA, "no-cache"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'",
        ),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
}

/// An HTML document as a 200 response.
pub(crate) fn html(doc: Markup) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(doc.into_string())
}

fn head(title: &str, refresh: Option<u32>) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            @if let Some(secs) = refresh {
                meta http-equiv="refresh" content=(secs);
            }
            title { (title) " · sluice admin" }
            style { (maud::PreEscaped(STYLE)) }
        }
    }
}

/// A document without navigation (the login page).
pub(crate) fn bare(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" { (head(title, None)) body { (body) } }
    }
}

/// The console's pages, for the navigation.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Section {
    Overview,
    Instances,
    Journal,
    Policies,
}

const SECTIONS: &[(Section, &str, &str)] = &[
    (Section::Overview, "/admin", "Overview"),
    (Section::Instances, "/admin/instances", "Instances"),
    (Section::Journal, "/admin/journal", "Journal"),
    (Section::Policies, "/admin/policies", "Policies"),
];

/// A console page: navigation, the logout form, the content; `refresh` reloads it every
/// so many seconds (pages with forms to fill in have none).
pub(crate) fn frame(
    admin: &Admin,
    section: Section,
    title: &str,
    refresh: Option<u32>,
    body: Markup,
) -> HttpResponse {
    html(html! {
        (DOCTYPE)
        html lang="en" {
            (head(title, refresh))
            body {
                header {
                    strong { "sluice" }
                    nav aria-label="admin" {
                        @for (s, href, name) in SECTIONS {
                            @if *s == section {
                                a href=(href) aria-current="page" { (name) }
                            } @else {
                                a href=(href) { (name) }
                            }
                        }
                    }
                    form.inline method="post" action="/admin/logout" {
                        input type="hidden" name="csrf" value=(admin.csrf);
                        span.muted { (admin.who) " " }
                        button type="submit" { "Log out" }
                    }
                }
                main { h1 { (title) } (body) }
            }
        }
    })
}

/// A traffic light.
pub(crate) fn light(l: Light) -> Markup {
    let (class, word) = match l {
        Light::Green => ("green", "OK"),
        Light::Amber => ("amber", "LOOK"),
        Light::Red => ("red", "ACT"),
    };
    html! { span class={"light " (class)} { (word) } }
}

/// A duration in seconds, short (`42 s`, `7 min`, `3.1 h`, `2.0 d`).
pub(crate) fn secs(s: f64) -> String {
    match s {
        s if s < 1.0 => format!("{:.0} ms", s * 1e3),
        s if s < 60.0 => format!("{s:.0} s"),
        s if s < 3600.0 => format!("{:.0} min", s / 60.0),
        s if s < 86400.0 => format!("{:.1} h", s / 3600.0),
        s => format!("{:.1} d", s / 86400.0),
    }
}

/// How long ago, or `-`.
pub(crate) fn ago(t: Option<DateTime<Utc>>, now: DateTime<Utc>) -> String {
    match t {
        Some(t) => format!(
            "{} ago",
            secs((now - t).to_std().unwrap_or_default().as_secs_f64())
        ),
        None => "-".into(),
    }
}

/// How long from now, or `-` when past or unset.
pub(crate) fn until(t: Option<DateTime<Utc>>, now: DateTime<Utc>) -> String {
    match t {
        Some(t) if t > now => format!(
            "in {}",
            secs((t - now).to_std().unwrap_or_default().as_secs_f64())
        ),
        _ => "-".into(),
    }
}
