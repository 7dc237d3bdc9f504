//! The console's refusals that are not about a session: off, no such page.

use actix_web::HttpResponse;
use sluice_apub::Rc;
use sluice_refusal::Refusal;

/// Every `/admin` path while no admin token is configured.
pub(crate) async fn disabled() -> Result<HttpResponse, Refusal> {
    Err(Refusal::new(
        Rc::NotFound,
        "the admin console is off: set admin_token to turn it on",
    ))
}

/// An `/admin` path that is no page.
pub(crate) async fn not_found() -> Result<HttpResponse, Refusal> {
    Err(Refusal::new(Rc::NotFound, "no such admin page"))
}
