//! Policies: block, allow or unblock an instance and switch the federation mode, with a
//! reason; every change is logged with who made it and when. The changes are the ones
//! `sluice instance ...` makes (`sluice_db::instances`), so they bump `policy_generation`
//! and every process's inbox reloads within `inbox_refresh_ms`.

use crate::Console;
use crate::auth::Admin;
use crate::origin;
use crate::page::{self, Section};
use actix_web::{HttpResponse, http::header, web};
use chrono::Utc;
use maud::{Markup, html};
use sluice_apub::Rc;
use sluice_db::instances::{Mode, Policy};
use sluice_refusal::Refusal;
use sluice_trust::host::InstanceHost;

/// Longest reason kept.
const REASON_MAX_CHARS: usize = 500;
/// Changes shown on the page.
const LOG_ROWS: i64 = 50;

/// The block/allow/unblock form for one instance (also on the instance's own page).
pub(crate) fn instance_form(admin: &Admin, domain: &str) -> Markup {
    html! {
        form method="post" action="/admin/policies" {
            input type="hidden" name="csrf" value=(admin.csrf);
            input type="hidden" name="domain" value=(domain);
            input type="hidden" name="back" value={"/admin/instances/" (domain)};
            label for="reason" { "Reason (kept with the policy and in the log)" }
            input #reason type="text" name="reason" maxlength="500";
            (policy_buttons())
        }
    }
}

/// The three policy actions, one submit button each (the form's `action` field).
fn policy_buttons() -> Markup {
    html! {
        " "
        button type="submit" name="action" value="block" { "Block" }
        " "
        button type="submit" name="action" value="allow" { "Allow" }
        " "
        button type="submit" name="action" value="unblock" { "Remove policy" }
    }
}

/// `GET /admin/policies`.
pub(crate) async fn page(
    console: web::Data<Console>,
    admin: Admin,
) -> Result<HttpResponse, Refusal> {
    let (snapshot, with_policy, log) = futures::join!(
        sluice_db::instances::load_policy(&console.db),
        sluice_db::admin::policies(&console.db),
        sluice_db::admin::log_recent(&console.db, LOG_ROWS)
    );
    let mode = snapshot?.mode.unwrap_or(Mode::Open);
    let with_policy = with_policy?;
    let log = log?;
    let now = Utc::now();
    let body = html! {
        h2 { "Federation mode" }
        p { "Now: " strong { (mode.as_str()) } ". "
            @match mode {
                Mode::Open => "Every instance not blocked is accepted.",
                Mode::Allowlist => "Only allowed instances are accepted.",
            } }
        form method="post" action="/admin/policies" {
            input type="hidden" name="csrf" value=(admin.csrf);
            input type="hidden" name="action" value="mode";
            label for="mode" { "Mode" }
            select #mode name="mode" {
                option value="open" selected[mode == Mode::Open] { "open: all but blocked" }
                option value="allowlist" selected[mode == Mode::Allowlist] { "allow-list: only allowed" }
            }
            label for="mode-reason" { "Reason" }
            input #mode-reason type="text" name="reason" maxlength="500";
            " " button type="submit" { "Switch mode" }
        }
        h2 { "Block or allow an instance" }
        form method="post" action="/admin/policies" {
            input type="hidden" name="csrf" value=(admin.csrf);
            label for="domain" { "Instance (domain)" }
            input #domain type="text" name="domain" required maxlength="253" placeholder="lemmy.example";
            label for="reason" { "Reason" }
            input #reason type="text" name="reason" maxlength="500";
            (policy_buttons())
        }
        h2 { "Instances with a policy" }
        @if with_policy.is_empty() {
            p.muted { "None." }
        } @else {
            div.scroll { table {
                thead { tr { th scope="col" { "Instance" } th scope="col" { "Policy" } th scope="col" { "Since" } th scope="col" { "Origin and reason" } } }
                tbody { @for i in &with_policy { tr {
                    td { a href={"/admin/instances/" (i.domain)} { (i.domain) } }
                    td { (i.rule.policy) }
                    td { (page::ago(i.rule.policy_updated, now)) }
                    td.origin { (origin::words(&i.rule)) }
                } } }
            } }
        }
        h2 { "Changes (console and command line)" }
        @if log.is_empty() {
            p.muted { "None yet." }
        } @else {
            div.scroll { table {
                thead { tr { th scope="col" { "When (UTC)" } th scope="col" { "Who" } th scope="col" { "What" } th scope="col" { "On" } th scope="col" { "Reason" } } }
                tbody { @for e in &log { tr {
                    td { (e.at.format("%Y-%m-%d %H:%M:%S")) }
                    td { (e.who) }
                    td { (e.action) }
                    td { (e.target) }
                    td { (e.reason.as_deref().unwrap_or("")) }
                } } }
            } }
        }
    };
    Ok(page::frame(
        &admin,
        Section::Policies,
        "Policies",
        None,
        body,
    ))
}

/// A policy form as posted.
#[derive(serde::Deserialize)]
pub(crate) struct Change {
    csrf: String,
    action: String,
    domain: Option<String>,
    mode: Option<String>,
    reason: Option<String>,
    back: Option<String>,
}

fn bad(message: impl Into<String>) -> Refusal {
    Refusal::new(Rc::BadRequest, message)
}

/// `POST /admin/policies`.
pub(crate) async fn change(
    console: web::Data<Console>,
    admin: Admin,
    form: web::Form<Change>,
) -> Result<HttpResponse, Refusal> {
    admin.check_csrf(&form.csrf)?;
    let reason: Option<String> = form
        .reason
        .as_deref()
        .map(|r| {
            r.trim()
                .chars()
                .filter(|c| !c.is_control())
                .take(REASON_MAX_CHARS)
                .collect::<String>()
        })
        .filter(|r| !r.is_empty());
    let (action, target) = match form.action.as_str() {
        "mode" => {
            let mode = match form.mode.as_deref() {
                Some("open") => Mode::Open,
                Some("allowlist") => Mode::Allowlist,
                _ => return Err(bad("mode must be open or allowlist")),
            };
            sluice_db::instances::set_mode(&console.db, mode).await?;
            ("mode", mode.as_str().to_string())
        }
        verb @ ("block" | "allow" | "unblock") => {
            let host = InstanceHost::parse(form.domain.as_deref().unwrap_or(""))
                .map_err(|e| bad(format!("not an instance: {e}")))?;
            let (action, policy) = match verb {
                "block" => ("block", Policy::Block),
                "allow" => ("allow", Policy::Allow),
                _ => ("unblock", Policy::None),
            };
            let kept = reason.as_deref().filter(|_| policy != Policy::None);
            sluice_db::instances::set_policy(&console.db, &host, policy, kept).await?;
            (action, host.as_str().to_string())
        }
        _ => return Err(bad("unknown action")),
    };
    tracing::info!(who = %admin.who, action, target = %target, "admin console: policy change");
    sluice_db::admin::log(&console.db, admin.who.clone(), action, target, reason).await?;
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, back_to(form.back.as_deref())))
        .finish())
}

/// Where a form returns to: only a console page. The field is ours, but a forged one must
/// not send the browser elsewhere (`//host`, a backslash) or break the header.
fn back_to(back: Option<&str>) -> String {
    back.filter(|b| {
        b.starts_with("/admin/")
            && !b.contains("//")
            && b.bytes().all(|c| c.is_ascii_graphic() && c != b'\\')
    })
    .unwrap_or("/admin/policies")
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::back_to;

    #[test]
    fn forms_only_return_to_console_pages() {
        assert_eq!(
            back_to(Some("/admin/instances/a.example")),
            "/admin/instances/a.example"
        );
        for hostile in [
            None,
            Some("https://evil.example/"),
            Some("//evil.example/admin/"),
            Some("/admin//evil.example"),
            Some("/admin/\\evil.example"),
            Some("/admin/x\r\nSet-Cookie: a=b"),
            Some("/administrator"),
        ] {
            assert_eq!(back_to(hostile), "/admin/policies", "{hostile:?}");
        }
    }
}
