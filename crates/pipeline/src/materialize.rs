//! Building view rows from documents: actors (with the key material only their own
//! fetched document may give), posts and comments. Decides nothing: what reaches here has
//! been resolved and checked.

use crate::ctx::Ctx;
use crate::view::{
    CommentContent, CommentState, CommunityState, PersonState, PostContent, PostState,
};
use sluice_apub::LocalUrls;
use sluice_apub::vocab::{ActorDoc, ActorKind, Content, host};
use sluice_db::ingest::changes::{CommunityUpsert, KeyUpsert, PersonUpsert};
use sluice_trust::authority;
use sluice_trust::host::InstanceHost;
use sluice_trust::instances::inbox_belongs_to;
use url::Url;

impl Ctx<'_> {
    /// Adds (or refreshes) an actor from its document (fetched by `url`, or embedded in an
    /// Update by itself, then without its key); returns its id.
    pub(crate) fn add_actor(&mut self, url: &Url, a: &ActorDoc) -> String {
        let id = a.id.to_string();
        if id != url.as_str() {
            self.view.aliases.insert(url.to_string(), id.clone());
        }
        let (inbox, shared_inbox) = own_inboxes(a);
        let to_s = |u: &Option<Url>| u.as_ref().map(Url::to_string);
        // Key material only from the owner's own document, fetched by its id; never for
        // an actor of ours.
        let key = a.public_key.as_ref().filter(|k| {
            !self.env.urls.is_local(&a.id)
                && authority::key_from_document(url, &a.id, &k.owner, &k.id)
        });
        if let Some(k) = key {
            self.view.keys.insert(
                k.id.clone(),
                KeyUpsert {
                    key_id: k.id.clone(),
                    owner: id.clone(),
                    pem: k.pem.clone(),
                },
            );
        }
        let pem = key.map(|k| k.pem.clone());
        if a.kind == ActorKind::Group {
            let old = self.view.communities.get(&id);
            let profile = CommunityUpsert {
                ap_id: id.clone(),
                domain: host(&a.id),
                name: a.username.clone(),
                title: a.display_name.clone().unwrap_or_else(|| a.username.clone()),
                summary: a.summary.clone(),
                icon: to_s(&a.icon),
                banner: to_s(&a.banner),
                inbox,
                shared_inbox,
                followers_url: to_s(&a.followers),
                moderators_url: to_s(&a.moderators),
                featured_url: to_s(&a.featured),
                public_key_pem: pem,
                nsfw: a.sensitive,
                posting_restricted_to_mods: a.posting_restricted_to_mods,
                deleted: old.is_some_and(|c| c.deleted),
                removed: old.is_some_and(|c| c.removed),
                published: a.published,
                updated: a.updated,
            };
            let state = CommunityState {
                local: false,
                moderators_url: profile.moderators_url.clone(),
                featured_url: profile.featured_url.clone(),
                posting_restricted_to_mods: a.posting_restricted_to_mods,
                deleted: profile.deleted,
                removed: profile.removed,
                updated: a.updated,
                has_local_follower: old.is_some_and(|c| c.has_local_follower),
                moderators: old.map(|c| c.moderators.clone()).unwrap_or_default(),
                profile: Some(profile),
                flags_dirty: false,
            };
            self.view.communities.insert(id.clone(), state);
        } else {
            let old = self.view.persons.get(&id);
            let profile = PersonUpsert {
                ap_id: id.clone(),
                domain: host(&a.id),
                name: a.username.clone(),
                display_name: a.display_name.clone(),
                summary: a.summary.clone(),
                avatar: to_s(&a.icon),
                banner: to_s(&a.banner),
                inbox: inbox.clone(),
                shared_inbox,
                public_key_pem: pem,
                bot: matches!(a.kind, ActorKind::Service | ActorKind::Application),
                banned: old.is_some_and(|p| p.banned),
                deleted: old.is_some_and(|p| p.deleted),
                published: a.published,
                updated: a.updated,
            };
            let state = PersonState {
                local: false,
                inbox,
                banned: profile.banned,
                deleted: profile.deleted,
                updated: a.updated,
                published: a.published,
                profile: Some(profile),
                flags_dirty: false,
            };
            self.view.persons.insert(id.clone(), state);
        }
        id
    }

    /// Adds a new post.
    pub(crate) fn add_post(&mut self, c: &Content, community: String, creator: String) {
        let state = PostState {
            community,
            creator,
            locked: c.comments_enabled == Some(false),
            featured: c.stickied == Some(true),
            deleted: false,
            removed: false,
            published: c.published,
            updated: c.updated,
            content: Some(post_content(c)),
            flags_dirty: false,
        };
        self.view.posts.insert(c.id.to_string(), state);
    }

    /// Adds a new comment.
    pub(crate) fn add_comment(
        &mut self,
        c: &Content,
        post: String,
        parent: Option<String>,
        creator: String,
    ) {
        let state = CommentState {
            post,
            parent,
            creator,
            locked: false,
            deleted: false,
            removed: false,
            published: c.published,
            updated: c.updated,
            content: Some(comment_content(c)),
            flags_dirty: false,
        };
        self.view.comments.insert(c.id.to_string(), state);
    }
}

/// A post's stored fields from its document.
pub(crate) fn post_content(c: &Content) -> PostContent {
    PostContent {
        name: c.title(),
        url: c.url.as_ref().map(Url::to_string),
        body: c.content.clone(),
        source: c.source.clone(),
        language: c.language.clone(),
        nsfw: c.sensitive,
    }
}

/// A comment's stored fields from its document.
pub(crate) fn comment_content(c: &Content) -> CommentContent {
    CommentContent {
        content: c.content.clone().unwrap_or_default(),
        source: c.source.clone(),
        language: c.language.clone(),
        distinguished: c.distinguished,
    }
}

/// The inbox and shared inbox of a remote actor, as stored: only on the actor's own host
/// (`sluice_trust::instances::inbox_belongs_to`). A foreign inbox is replaced by the
/// actor's id + `/inbox` (what a missing one defaults to: on the actor's host, so at worst
/// undeliverable), a foreign shared inbox is dropped; either is logged with its rc.
fn own_inboxes(a: &ActorDoc) -> (String, Option<String>) {
    let id = a.id.as_str();
    let inbox = own_inbox(id, a.inbox.as_ref().map(Url::as_str));
    let shared = a
        .shared_inbox
        .as_ref()
        .filter(|u| on_actor_host(id, u.as_str()))
        .map(Url::to_string);
    (inbox, shared)
}

/// `inbox` when it is on the actor's host, else the actor's id + `/inbox`.
pub(crate) fn own_inbox(actor: &str, inbox: Option<&str>) -> String {
    match inbox {
        Some(i) if on_actor_host(actor, i) => i.to_string(),
        _ => LocalUrls::sub(actor, "inbox"),
    }
}

fn on_actor_host(actor: &str, inbox: &str) -> bool {
    let ok = Url::parse(actor)
        .ok()
        .and_then(|u| InstanceHost::from_url(&u).ok())
        .is_some_and(|h| inbox_belongs_to(&h, inbox));
    if !ok {
        tracing::info!(rc = %sluice_apub::Rc::InboxForeignHost, actor, inbox,
            "inbox not on the actor's host: not used");
    }
    ok
}
