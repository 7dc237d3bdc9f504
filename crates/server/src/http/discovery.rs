//! Webfinger and nodeinfo.

use crate::state::AppState;
use actix_web::{HttpResponse, web};
use sluice_apub::{Rc, discovery};
use sluice_db::actors as q;
use sluice_refusal::Refusal;

#[derive(serde::Deserialize)]
pub struct WebfingerQuery {
    resource: Option<String>,
}

/// `GET /.well-known/webfinger?resource=acct:NAME@DOMAIN`. A name can be a community and a
/// user at once (Lemmy allows it); both are listed, typed.
pub async fn webfinger(
    st: web::Data<AppState>,
    query: web::Query<WebfingerQuery>,
) -> Result<HttpResponse, Refusal> {
    let resource = query
        .resource
        .as_deref()
        .ok_or_else(|| Refusal::new(Rc::BadRequest, "missing resource parameter"))?;
    let name = discovery::webfinger_name(resource, &st.urls)
        .ok_or_else(|| Refusal::new(Rc::NotFound, "resource is not an account on this instance"))?;
    let (community, person) = futures::try_join!(
        q::local_community(&st.db, name),
        q::local_person(&st.db, name)
    )?;
    let mut actors: Vec<(&str, &'static str)> = Vec::new();
    if let Some(c) = &community {
        actors.push((&c.ap_id, "Group"));
    }
    if let Some(p) = &person {
        actors.push((&p.ap_id, "Person"));
    }
    if actors.is_empty() {
        return Err(Refusal::new(Rc::NotFound, "no such account"));
    }
    let subject = format!("{name}@{}", st.urls.domain());
    Ok(HttpResponse::Ok()
        .content_type("application/jrd+json")
        .json(discovery::webfinger(&subject, &actors)))
}

/// `GET /.well-known/nodeinfo`.
pub async fn nodeinfo_links(st: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(discovery::nodeinfo_links(&st.urls))
}

/// `GET /nodeinfo/2.1`.
pub async fn nodeinfo(st: web::Data<AppState>) -> Result<HttpResponse, Refusal> {
    let usage = q::usage(&st.db).await?;
    let doc = discovery::nodeinfo(
        env!("CARGO_PKG_VERSION"),
        discovery::Usage {
            users: usage.0,
            local_posts: usage.1,
            local_comments: usage.2,
        },
    );
    Ok(HttpResponse::Ok()
        .content_type(
            r#"application/json; profile="http://nodeinfo.diaspora.software/ns/schema/2.1#""#,
        )
        .json(doc))
}
