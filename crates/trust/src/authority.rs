//! Who may do what to what: for every verb, whose word counts (the activity's actor, the
//! object's author, the community and its moderators, an instance), and which verbs a
//! community's Announce may carry.
//!
//! Anchored in Lemmy 0.19's `crates/apub` checks: `verify_domains_match` (an object is on
//! its actor's host), `verify_person_in_community` (bans), `verify_mod_action` (a
//! moderator, or an actor of the community's own instance, which Lemmy presumes to be an
//! admin), `check_community_deleted_or_removed`, and its `AnnouncableActivities` (what a
//! community relays: content, votes, deletions and moderation of its own content, never
//! account-level verbs). The pipeline resolves the facts (what is stored, who is listed);
//! these functions decide. [`RULES`] is the table `docs/security.md` states.

use sluice_apub::Rc;
use sluice_apub::vocab::host;
use url::Url;

/// What an activity does, as far as authority goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Act {
    /// Create or Update of a post or comment.
    WriteContent,
    /// Create or Update of a private message.
    WriteMessage,
    /// Delete of a post, comment or private message, or its Undo.
    DeleteContent,
    /// Update of a person's profile.
    UpdatePerson,
    /// Delete of a person's account.
    DeletePerson,
    /// Update of a community's profile.
    UpdateCommunity,
    /// Delete or removal of a community, or its Undo.
    DeleteCommunity,
    /// Like, Dislike or EmojiReact, or its Undo.
    Vote,
    /// Follow, or its Undo.
    Follow,
    /// Accept or Reject of a Follow.
    AnswerFollow,
    /// Add or Remove of a moderator or a featured post, Lock, a community ban (Block with a
    /// community target), or their Undos.
    Moderate,
    /// A ban from a whole instance (Block whose target is the instance), or its Undo.
    SiteBan,
    /// A report.
    Flag,
    /// Resolving a report.
    Resolve,
    /// A community relaying an activity to its followers.
    Announce,
}

/// Whose word counts for an [`Act`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Who {
    /// The object's author: the actor is its `attributedTo`, and the object is on the
    /// actor's host.
    Author,
    /// The actor itself: the object is the actor (same id).
    Itself,
    /// The author (a deletion) or the community's moderators (a removal).
    AuthorOrModerators,
    /// The community itself, its moderators, or (remote communities) its own instance.
    Moderators,
    /// Whoever votes or follows: the activity's actor, for itself.
    Actor,
    /// The followed community.
    Followed,
    /// The banned person's home instance.
    HomeInstance,
    /// Anyone, about any object.
    Anyone,
    /// A community, about its own content only.
    Community,
}

/// One row of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    /// The verb.
    pub act: Act,
    /// Whose word counts.
    pub who: Who,
    /// Whether a community's Announce may carry it (for that community's content only).
    pub announced: bool,
}

/// The table: per verb, whose word counts and whether an Announce may carry it.
pub const RULES: [Rule; 15] = [
    rule_of(Act::WriteContent, Who::Author, true),
    rule_of(Act::WriteMessage, Who::Author, false),
    rule_of(Act::DeleteContent, Who::AuthorOrModerators, true),
    rule_of(Act::UpdatePerson, Who::Itself, false),
    rule_of(Act::DeletePerson, Who::Itself, false),
    rule_of(Act::UpdateCommunity, Who::Moderators, true),
    rule_of(Act::DeleteCommunity, Who::Moderators, true),
    rule_of(Act::Vote, Who::Actor, true),
    rule_of(Act::Follow, Who::Actor, false),
    rule_of(Act::AnswerFollow, Who::Followed, false),
    rule_of(Act::Moderate, Who::Moderators, true),
    rule_of(Act::SiteBan, Who::HomeInstance, false),
    rule_of(Act::Flag, Who::Anyone, false),
    rule_of(Act::Resolve, Who::Moderators, true),
    rule_of(Act::Announce, Who::Community, false),
];

const fn rule_of(act: Act, who: Who, announced: bool) -> Rule {
    Rule {
        act,
        who,
        announced,
    }
}

/// The table's row for `act` (rows are in the order of [`Act`]'s variants).
pub fn rule(act: Act) -> &'static Rule {
    &RULES[act as usize]
}

/// How an activity reached us.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Via {
    /// Sent by its actor.
    Direct,
    /// Relayed by this (remote) community's Announce.
    Announced(String),
}

/// A refusal: the journal code and a message for the admin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denied {
    /// The `rc` the journal row ends with.
    pub rc: Rc,
    /// Why, with the ids involved.
    pub reason: String,
}

fn deny(rc: Rc, reason: String) -> Result<(), Denied> {
    Err(Denied { rc, reason })
}

fn same_host(a: &str, b: &str) -> bool {
    match (Url::parse(a), Url::parse(b)) {
        (Ok(a), Ok(b)) => host(&a) == host(&b),
        _ => false,
    }
}

/// Whether an activity that reached us `via` may do `act`: anything sent directly; through
/// an Announce only what the table says a community vouches for, and never by an actor of
/// our own domain (`actor_local`): a remote community cannot speak for our users.
pub fn carried(act: Act, via: &Via, actor_local: bool) -> Result<(), Denied> {
    let Via::Announced(community) = via else {
        return Ok(());
    };
    if actor_local {
        return deny(
            Rc::NotAnnounceable,
            format!("{community} announced an activity of a local actor"),
        );
    }
    if !rule(act).announced {
        return deny(
            Rc::NotAnnounceable,
            format!("{community} announced {act:?}, which no community vouches for"),
        );
    }
    Ok(())
}

/// An activity relayed by a community must concern that community (`community` is the
/// community the object belongs to, or the community acted on).
pub fn check_via(community: &str, via: &Via) -> Result<(), Denied> {
    match via {
        Via::Announced(c) if c != community => deny(
            Rc::CommunityMismatch,
            format!("{c} announced an activity of {community}"),
        ),
        _ => Ok(()),
    }
}

/// Create or Update of new content: the object is on the actor's host and the actor is its
/// author (Lemmy's `verify_domains_match` and `attributedTo` check).
pub fn author(actor: &Url, object: &Url, author: Option<&Url>) -> Result<(), Denied> {
    if host(object) != host(actor) {
        return deny(
            Rc::HostMismatch,
            format!("{actor} sent {object} of another host"),
        );
    }
    if author != Some(actor) {
        return deny(
            Rc::NotPermitted,
            format!("{actor} may not write {object} as its author"),
        );
    }
    Ok(())
}

/// Posts and comments of a community are public (Lemmy's `verify_is_public`): content a
/// sender addressed to a narrower audience (followers only, a list of people) is not made
/// visible to everyone by storing it as community content.
pub fn public(is_public: bool, object: &Url) -> Result<(), Denied> {
    if !is_public {
        return deny(
            Rc::NotForUs,
            format!("{object} is not public: not stored as community content"),
        );
    }
    Ok(())
}

/// Changing stored content (an edit, a private message's deletion): only its creator.
pub fn creator(actor: &str, creator: &str, object: &str) -> Result<(), Denied> {
    if actor != creator {
        return deny(Rc::NotPermitted, format!("{actor} may not change {object}"));
    }
    Ok(())
}

/// What a Delete of content is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deletion {
    /// The author's own: `deleted`.
    ByAuthor,
    /// A moderator's: `removed`, logged; needs [`moderates`].
    Removal,
}

/// Lemmy marks a moderator's removal with a `summary` (the reason); a Delete by anyone but
/// the author is a removal too.
pub fn deletion(actor: &str, creator: &str, has_summary: bool) -> Deletion {
    if has_summary || actor != creator {
        Deletion::Removal
    } else {
        Deletion::ByAuthor
    }
}

/// What is known about a community when deciding whether an actor moderates it.
#[derive(Debug, Clone, Copy)]
pub struct Community<'a> {
    /// Its ActivityPub id.
    pub id: &'a str,
    /// A community of this instance: only its listed moderators speak for it.
    pub local: bool,
    /// The actor is in `community_moderator`.
    pub listed: bool,
    /// Its moderators collection, when it is on the community's host.
    pub moderators_url: Option<&'a Url>,
}

/// Whether an actor moderates a community.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Moderation {
    /// It does: the community itself, a listed moderator, or (a remote community) an actor
    /// of the community's own instance.
    Yes,
    /// It does not, and no collection can change that (a local community, or no moderators
    /// collection on the community's host).
    No,
    /// Only the community's moderators collection can tell: fetch it, then [`listed`].
    AskCollection(Url),
}

/// Lemmy's `verify_mod_action`: the community itself; a listed moderator; for a remote
/// community, any actor of the community's own instance (Lemmy presumes an admin, and that
/// instance controls the community anyway). An actor from elsewhere that is not listed is
/// looked up in the community's moderators collection. A local community's moderators are
/// the listed ones only: no remote instance speaks for it.
pub fn moderates(actor: &str, c: &Community<'_>) -> Moderation {
    if actor == c.id || c.listed {
        return Moderation::Yes;
    }
    if c.local {
        return Moderation::No;
    }
    if same_host(actor, c.id) {
        return Moderation::Yes;
    }
    match c.moderators_url {
        Some(m) if same_host(m.as_str(), c.id) => Moderation::AskCollection(m.clone()),
        _ => Moderation::No,
    }
}

/// Whether `actor` is among the items of a community's moderators collection, as its own
/// host served it.
pub fn listed(actor: &str, items: &[Url]) -> bool {
    items.iter().any(|u| u.as_str() == actor)
}

/// Update of an actor's profile. A person's, only by itself (same id, same host), sent
/// directly: nobody else, no community's Announce, speaks for a person. A community's, by
/// itself or its moderators ([`moderates`]), directly or announced by that community
/// ([`check_via`]). Never a local actor: remote input does not change our actors.
pub fn profile_update(
    actor: &Url,
    doc: &Url,
    is_community: bool,
    doc_local: bool,
    via: &Via,
) -> Result<(), Denied> {
    local_unchanged(doc_local, actor.as_str(), doc.as_str())?;
    if is_community {
        carried(Act::UpdateCommunity, via, false)?;
        return check_via(doc.as_str(), via);
    }
    carried(Act::UpdatePerson, via, false)?;
    if actor != doc {
        return deny(Rc::NotPermitted, format!("{actor} may not update {doc}"));
    }
    Ok(())
}

/// Whether a public key may be stored from a fetched document: only from the key owner's
/// own actor document, fetched by its own id, whose `publicKey` names that document as its
/// owner and whose `keyId` is the document or a fragment of it. A key embedded in an
/// activity, or served by any other document, is never stored.
pub fn key_from_document(fetched: &Url, doc: &Url, key_owner: &Url, key_id: &str) -> bool {
    let Ok(kid) = Url::parse(key_id) else {
        return false;
    };
    let mut without_fragment = kid.clone();
    without_fragment.set_fragment(None);
    fetched == doc && key_owner == doc && without_fragment == *doc
}

/// A site ban: only the banned person's home instance bans them instance-wide (its bans of
/// others only apply there), and nobody bans themselves.
pub fn site_ban(actor: &Url, person: &Url) -> Result<(), Denied> {
    if host(actor) != host(person) || actor == person {
        return deny(
            Rc::NotPermitted,
            format!("{actor} may not ban {person} instance-wide"),
        );
    }
    Ok(())
}

/// Accept or Reject of a Follow: only the followed community (or person).
pub fn answer_follow(actor: &str, followed: &str) -> Result<(), Denied> {
    if actor != followed {
        return deny(
            Rc::NotPermitted,
            format!("{actor} may not answer a follow of {followed}"),
        );
    }
    Ok(())
}

/// Undo of a vote, a follow or a deletion: only whoever did it (an Undo of moderation is
/// judged by [`moderates`] instead).
pub fn undo_own(actor: &Url, inner_actor: &Url, kind: &str) -> Result<(), Denied> {
    if actor != inner_actor {
        return deny(
            Rc::NotPermitted,
            format!("{actor} may not undo {inner_actor}'s {kind}"),
        );
    }
    Ok(())
}

/// Whether the Delete of an object not known here is remembered (so a late Create of it is
/// refused): only when the deleter is on the object's own host. Anyone else's Delete of an
/// unseen id would let one peer censor another instance's future content.
pub fn remember_delete(deleter: &Url, object: &Url) -> bool {
    host(deleter) == host(object)
}

/// Whether a remembered Delete (by the activity `delete_id`, which the receiver keeps on its
/// actor's host) is honoured against `object`: only when it came from the object's origin.
pub fn honour_remembered_delete(delete_id: &str, object: &str) -> bool {
    same_host(delete_id, object)
}

/// Remote input never changes a local actor or community (its profile, keys, flags).
pub fn local_unchanged(target_local: bool, actor: &str, target: &str) -> Result<(), Denied> {
    if target_local {
        return deny(
            Rc::NotPermitted,
            format!("{actor} may not change the local actor {target}"),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    const C: &str = "https://r.example/c/main";

    #[test]
    fn the_table_has_one_row_per_act_in_order() {
        for (i, r) in RULES.iter().enumerate() {
            assert_eq!(r.act as usize, i, "{:?}", r.act);
            assert_eq!(rule(r.act), r);
        }
    }

    #[test]
    fn an_announce_carries_community_scoped_verbs_only() {
        let via = Via::Announced(C.into());
        for act in [
            Act::WriteContent,
            Act::DeleteContent,
            Act::Vote,
            Act::Moderate,
            Act::UpdateCommunity,
            Act::DeleteCommunity,
            Act::Resolve,
        ] {
            assert_eq!(carried(act, &via, false), Ok(()), "{act:?}");
        }
        for act in [
            Act::WriteMessage,
            Act::UpdatePerson,
            Act::DeletePerson,
            Act::Follow,
            Act::AnswerFollow,
            Act::SiteBan,
            Act::Flag,
            Act::Announce,
        ] {
            let d = carried(act, &via, false).unwrap_err();
            assert_eq!(d.rc, Rc::NotAnnounceable, "{act:?}");
        }
        for r in RULES {
            assert_eq!(carried(r.act, &Via::Direct, false), Ok(()));
        }
    }

    #[test]
    fn an_announce_never_speaks_for_a_local_actor() {
        let via = Via::Announced(C.into());
        let d = carried(Act::WriteContent, &via, true).unwrap_err();
        assert_eq!(d.rc, Rc::NotAnnounceable);
    }

    #[test]
    fn a_relayed_activity_must_concern_the_relaying_community() {
        let via = Via::Announced(C.into());
        assert_eq!(check_via(C, &via), Ok(()));
        assert_eq!(check_via(C, &Via::Direct), Ok(()));
        let d = check_via("https://r.example/c/other", &via).unwrap_err();
        assert_eq!(d.rc, Rc::CommunityMismatch);
    }

    #[test]
    fn content_is_written_by_its_author_on_its_host() {
        let a = u("https://r.example/u/a");
        let p = u("https://r.example/post/1");
        assert_eq!(author(&a, &p, Some(&a)), Ok(()));
        let other = u("https://r.example/u/b");
        assert_eq!(
            author(&a, &p, Some(&other)).unwrap_err().rc,
            Rc::NotPermitted
        );
        assert_eq!(author(&a, &p, None).unwrap_err().rc, Rc::NotPermitted);
        let foreign = u("https://x.example/post/1");
        assert_eq!(
            author(&a, &foreign, Some(&a)).unwrap_err().rc,
            Rc::HostMismatch
        );
        assert!(creator("a", "a", "p").is_ok());
        assert!(creator("b", "a", "p").is_err());
    }

    #[test]
    fn community_content_is_public() {
        let p = u("https://r.example/post/1");
        assert_eq!(public(true, &p), Ok(()));
        assert_eq!(public(false, &p).unwrap_err().rc, Rc::NotForUs);
    }

    #[test]
    fn a_delete_by_anyone_but_the_author_or_with_a_reason_is_a_removal() {
        assert_eq!(deletion("a", "a", false), Deletion::ByAuthor);
        assert_eq!(deletion("a", "a", true), Deletion::Removal);
        assert_eq!(deletion("m", "a", false), Deletion::Removal);
    }

    #[test]
    fn moderators_are_the_community_the_listed_and_its_own_instance() {
        let mods = u("https://r.example/c/main/moderators");
        let elsewhere = u("https://x.example/mods");
        let c = |local, listed, moderators_url| Community {
            id: C,
            local,
            listed,
            moderators_url,
        };
        let m = moderates;
        assert_eq!(m(C, &c(false, false, None)), Moderation::Yes);
        assert_eq!(m("https://x/u/m", &c(false, true, None)), Moderation::Yes);
        let admin = "https://r.example/u/admin";
        assert_eq!(m(admin, &c(false, false, None)), Moderation::Yes);
        let stranger = "https://x.example/u/m";
        assert_eq!(
            m(stranger, &c(false, false, Some(&mods))),
            Moderation::AskCollection(mods.clone())
        );
        assert_eq!(m(stranger, &c(false, false, None)), Moderation::No);
        // A local community: only its listed moderators, whatever the host.
        assert_eq!(m(admin, &c(true, false, Some(&mods))), Moderation::No);
        // A collection on another host is not the community's word.
        assert_eq!(
            m(stranger, &c(false, false, Some(&elsewhere))),
            Moderation::No
        );
        assert!(listed(stranger, &[u(stranger)]));
        assert!(!listed("https://x.example/u/n", &[u(stranger)]));
    }

    #[test]
    fn a_person_updates_only_itself_and_only_directly() {
        let a = u("https://r.example/u/a");
        let b = u("https://x.example/u/b");
        assert_eq!(profile_update(&a, &a, false, false, &Via::Direct), Ok(()));
        let via = Via::Announced(C.into());
        assert_eq!(
            profile_update(&a, &a, false, false, &via).unwrap_err().rc,
            Rc::NotAnnounceable
        );
        assert_eq!(
            profile_update(&a, &b, false, false, &Via::Direct)
                .unwrap_err()
                .rc,
            Rc::NotPermitted
        );
        assert_eq!(
            profile_update(&a, &a, false, true, &Via::Direct)
                .unwrap_err()
                .rc,
            Rc::NotPermitted
        );
        // A community's profile: announced only by itself.
        let c = u(C);
        assert_eq!(profile_update(&a, &c, true, false, &via), Ok(()));
        let other = Via::Announced("https://r.example/c/other".into());
        assert_eq!(
            profile_update(&a, &c, true, false, &other).unwrap_err().rc,
            Rc::CommunityMismatch
        );
        assert!(profile_update(&a, &c, true, true, &Via::Direct).is_err());
    }

    #[test]
    fn keys_come_only_from_the_owners_own_document() {
        let a = u("https://r.example/u/a");
        let kid = "https://r.example/u/a#main-key";
        assert!(key_from_document(&a, &a, &a, kid));
        assert!(key_from_document(&a, &a, &a, a.as_str()));
        // Fetched by another URL (an alias), owned by another, or a keyId elsewhere.
        assert!(!key_from_document(&u("https://r.example/@a"), &a, &a, kid));
        let b = u("https://r.example/u/b");
        assert!(!key_from_document(&a, &a, &b, kid));
        assert!(!key_from_document(
            &a,
            &a,
            &a,
            "https://r.example/u/b#main-key"
        ));
        assert!(!key_from_document(
            &a,
            &a,
            &a,
            "https://x.example/u/a#main-key"
        ));
        assert!(!key_from_document(&a, &a, &a, "not a url"));
    }

    #[test]
    fn only_the_home_instance_bans_instance_wide() {
        let admin = u("https://r.example/u/admin");
        assert!(site_ban(&admin, &u("https://r.example/u/a")).is_ok());
        assert!(site_ban(&admin, &u("https://x.example/u/a")).is_err());
        assert!(site_ban(&admin, &admin).is_err());
    }

    #[test]
    fn follows_are_answered_by_the_followed_and_undone_by_the_doer() {
        assert!(answer_follow(C, C).is_ok());
        assert!(answer_follow("https://r.example/u/x", C).is_err());
        let a = u("https://r.example/u/a");
        assert!(undo_own(&a, &a, "Like").is_ok());
        assert!(undo_own(&a, &u("https://r.example/u/b"), "Like").is_err());
    }

    #[test]
    fn deletes_of_unseen_objects_count_only_from_their_origin() {
        let mallory = u("https://evil.example/u/mallory");
        let post = u("https://victim.example/post/9");
        assert!(!remember_delete(&mallory, &post));
        assert!(remember_delete(&u("https://victim.example/u/a"), &post));
        assert!(honour_remembered_delete(
            "https://victim.example/activities/delete/1",
            post.as_str()
        ));
        assert!(!honour_remembered_delete(
            "https://evil.example/activities/delete/1",
            post.as_str()
        ));
        assert!(!honour_remembered_delete("garbage", post.as_str()));
    }

    #[test]
    fn local_actors_are_never_changed_by_remote_input() {
        assert!(local_unchanged(false, "a", "b").is_ok());
        assert_eq!(
            local_unchanged(true, "a", "b").unwrap_err().rc,
            Rc::NotPermitted
        );
    }
}
