//! Every Lemmy fixture parses into the verb and objects it stands for.

use sluice_apub::vocab::{
    Activity, ActivityRef, ActorKind, AnnounceObject, ContentKind, Object, ObjectRef, Role, Verb,
    collection_items,
};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/activitypub/lemmy")
}

fn load(rel: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(root().join(rel)).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn activity(rel: &str) -> Activity {
    Activity::parse(&load(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn inner(a: &ActivityRef) -> &Activity {
    match a {
        ActivityRef::Embedded(a) => a,
        ActivityRef::Id(u) => panic!("not embedded: {u}"),
    }
}

fn embedded(o: &ObjectRef) -> &Object {
    match o {
        ObjectRef::Embedded(o) => o,
        ObjectRef::Id(u) => panic!("not embedded: {u}"),
    }
}

/// What each activity fixture must parse into; every file in the folder must be listed.
fn check(rel: &str, a: &Activity) {
    let obj = a.object_id().map(|u| u.as_str().to_string());
    match rel {
        "block/block_user.json" => match &a.verb {
            Verb::Block {
                object,
                target,
                expires,
                remove_data,
            } => {
                assert_eq!(object.as_str(), "http://ds9.lemmy.ml/u/lemmy_alpha");
                assert_eq!(
                    target.as_ref().unwrap().as_str(),
                    "http://enterprise.lemmy.ml/c/main"
                );
                assert!(expires.is_some() && *remove_data);
                assert_eq!(a.summary.as_deref(), Some("spam post"));
            }
            v => panic!("{v:?}"),
        },
        "block/undo_block_user.json" => match &a.verb {
            Verb::Undo(i) => assert!(matches!(inner(i).verb, Verb::Block { .. })),
            v => panic!("{v:?}"),
        },
        "community/add_featured_post.json" | "community/remove_featured_post.json" => {
            match &a.verb {
                Verb::Add { object, target } | Verb::Remove { object, target } => {
                    assert_eq!(object.as_str(), "https://ds9.lemmy.ml/post/2");
                    assert!(target.as_ref().unwrap().path().ends_with("/featured"));
                }
                v => panic!("{v:?}"),
            }
        }
        "community/add_mod.json" | "community/remove_mod.json" => match &a.verb {
            Verb::Add { target, .. } | Verb::Remove { target, .. } => {
                assert_eq!(obj.as_deref(), Some("http://ds9.lemmy.ml/u/lemmy_alpha"));
                assert!(target.as_ref().unwrap().path().ends_with("/moderators"));
            }
            v => panic!("{v:?}"),
        },
        "community/announce_create_page.json" => match &a.verb {
            Verb::Announce(AnnounceObject::Activity(i)) => {
                assert_eq!(i.actor.as_str(), "http://enterprise.lemmy.ml/u/lemmy_beta");
                match embedded(match &i.verb {
                    Verb::Create(o) => o,
                    v => panic!("{v:?}"),
                }) {
                    Object::Content(c) => {
                        assert_eq!(c.kind, ContentKind::Page);
                        assert_eq!(c.role(), Role::Post);
                        assert_eq!(c.title(), "post 4");
                    }
                    o => panic!("{o:?}"),
                }
            }
            v => panic!("{v:?}"),
        },
        "community/lock_note.json" | "community/lock_page.json" => {
            assert!(matches!(a.verb, Verb::Lock(_)));
            assert!(a.summary.is_some());
        }
        "community/undo_lock_note.json" | "community/undo_lock_page.json" => match &a.verb {
            Verb::Undo(i) => assert!(matches!(inner(i).verb, Verb::Lock(_))),
            v => panic!("{v:?}"),
        },
        "community/report_page.json" => match &a.verb {
            Verb::Flag { objects } => {
                assert_eq!(objects[0].as_str(), "http://enterprise.lemmy.ml/post/7");
                assert_eq!(a.summary.as_deref(), Some("report this post"));
            }
            v => panic!("{v:?}"),
        },
        "community/resolve_report_page.json" => match &a.verb {
            Verb::Resolve(i) => assert!(matches!(inner(i).verb, Verb::Flag { .. })),
            v => panic!("{v:?}"),
        },
        "community/update_community.json" => match &a.verb {
            Verb::Update(o) => match embedded(o) {
                Object::Actor(g) => {
                    assert_eq!(g.kind, ActorKind::Group);
                    assert_eq!(g.username, "main");
                    assert_eq!(g.display_name.as_deref(), Some("The Updated Community"));
                    assert!(g.public_key.is_some());
                    assert!(g.updated.is_some());
                    assert_eq!(
                        g.shared_inbox.as_ref().unwrap().as_str(),
                        "http://enterprise.lemmy.ml/inbox"
                    );
                }
                o => panic!("{o:?}"),
            },
            v => panic!("{v:?}"),
        },
        "community/warn.json" => assert_eq!(a.verb, Verb::Other),
        "create_or_update/create_comment.json" => match &a.verb {
            Verb::Create(o) => match embedded(o) {
                Object::Content(c) => {
                    assert_eq!(c.role(), Role::Comment);
                    assert_eq!(
                        c.in_reply_to.as_ref().unwrap().as_str(),
                        "http://ds9.lemmy.ml/post/1"
                    );
                    assert_eq!(c.source.as_deref(), Some("hello"));
                }
                o => panic!("{o:?}"),
            },
            v => panic!("{v:?}"),
        },
        "create_or_update/create_page.json" | "create_or_update/update_page.json" => {
            match &a.verb {
                Verb::Create(o) | Verb::Update(o) => match embedded(o) {
                    Object::Content(c) => {
                        assert_eq!(c.role(), Role::Post);
                        assert_eq!(
                            c.url.as_ref().unwrap().as_str(),
                            "https://lemmy.ml/pictrs/image/xl8W7FZfk9.jpg"
                        );
                        assert_eq!(c.source.as_deref(), Some("test body"));
                        assert_eq!(
                            c.audience.as_ref().unwrap().as_str(),
                            "https://enterprise.lemmy.ml/c/main"
                        );
                        if rel.ends_with("create_page.json") {
                            assert_eq!(c.language.as_deref(), Some("ko"));
                        } else {
                            assert!(c.updated > c.published);
                        }
                    }
                    o => panic!("{o:?}"),
                },
                v => panic!("{v:?}"),
            }
        }
        "create_or_update/create_private_message.json"
        | "create_or_update/create_private_message_0.19.json" => match &a.verb {
            Verb::Create(o) => match embedded(o) {
                Object::Content(c) => {
                    assert_eq!(c.role(), Role::PrivateMessage, "{rel}");
                    if rel.contains("0.19") {
                        assert_eq!(c.kind, ContentKind::ChatMessage);
                    } else {
                        assert_eq!(c.kind, ContentKind::Note);
                    }
                }
                o => panic!("{o:?}"),
            },
            v => panic!("{v:?}"),
        },
        "deletion/delete_page.json" | "deletion/delete_private_message.json" => {
            assert!(matches!(a.verb, Verb::Delete { .. }));
            assert!(a.summary.is_none(), "a deletion, not a removal");
        }
        "deletion/delete_user.json" => match &a.verb {
            Verb::Delete {
                object,
                remove_data,
            } => {
                assert_eq!(object.id(), &a.actor);
                assert!(remove_data);
            }
            v => panic!("{v:?}"),
        },
        "deletion/remove_note.json" => {
            assert!(matches!(a.verb, Verb::Delete { .. }));
            assert_eq!(a.summary.as_deref(), Some("bad comment"), "a removal");
        }
        "deletion/undo_delete_page.json"
        | "deletion/undo_delete_private_message.json"
        | "deletion/undo_remove_note.json" => match &a.verb {
            Verb::Undo(i) => assert!(matches!(inner(i).verb, Verb::Delete { .. })),
            v => panic!("{v:?}"),
        },
        "following/accept.json" => match &a.verb {
            Verb::Accept(i) => assert!(matches!(inner(i).verb, Verb::Follow(_))),
            v => panic!("{v:?}"),
        },
        "following/follow.json" => {
            assert_eq!(obj.as_deref(), Some("http://enterprise.lemmy.ml/c/main"));
            assert!(matches!(a.verb, Verb::Follow(_)));
        }
        "following/undo_follow.json" => match &a.verb {
            Verb::Undo(i) => assert!(matches!(inner(i).verb, Verb::Follow(_))),
            v => panic!("{v:?}"),
        },
        "voting/dislike_page.json" => assert!(matches!(a.verb, Verb::Dislike(_))),
        "voting/like_note.json" => assert!(matches!(a.verb, Verb::Like(_))),
        "voting/undo_dislike_page.json" | "voting/undo_like_note.json" => match &a.verb {
            // Lemmy wraps a Like even when undoing a dislike.
            Verb::Undo(i) => assert!(matches!(inner(i).verb, Verb::Like(_))),
            v => panic!("{v:?}"),
        },
        other => panic!("fixture {other} has no expectation here: add one"),
    }
}

#[test]
fn every_activity_fixture_parses_as_expected() {
    let dir = root().join("activities");
    let mut seen = 0;
    for group in std::fs::read_dir(&dir).unwrap() {
        let group = group.unwrap().path();
        for file in std::fs::read_dir(&group).unwrap() {
            let file = file.unwrap().path();
            let rel = file
                .strip_prefix(&dir)
                .unwrap()
                .to_string_lossy()
                .to_string();
            let a = activity(&format!("activities/{rel}"));
            check(&rel, &a);
            seen += 1;
        }
    }
    assert_eq!(seen, 34, "every activity fixture is checked");
}

#[test]
fn every_object_fixture_parses() {
    let o = |rel: &str| Object::parse(&load(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
    match o("objects/comment.json") {
        Object::Content(c) => {
            assert_eq!(c.role(), Role::Comment);
            assert_eq!(c.language.as_deref(), Some("fr"));
            assert!(!c.distinguished);
        }
        x => panic!("{x:?}"),
    }
    match o("objects/page.json") {
        Object::Content(c) => {
            assert_eq!(c.role(), Role::Post);
            assert_eq!(c.title(), "Post title");
            assert_eq!(
                c.community_candidates()[0].as_str(),
                "https://enterprise.lemmy.ml/c/tenforward"
            );
        }
        x => panic!("{x:?}"),
    }
    match o("objects/page_image_and_link.json") {
        Object::Content(c) => assert_eq!(
            c.url.unwrap().as_str(),
            "https://enterprise.lemmy.ml/pictrs/image/eOtYb9iEiB.png"
        ),
        x => panic!("{x:?}"),
    }
    match o("objects/private_message.json") {
        Object::Content(c) => assert_eq!(c.role(), Role::PrivateMessage),
        x => panic!("{x:?}"),
    }
    match o("objects/person.json") {
        Object::Actor(p) => {
            assert_eq!(p.kind, ActorKind::Person);
            assert_eq!(p.username, "picard");
            assert_eq!(
                p.icon.unwrap().as_str(),
                "https://enterprise.lemmy.ml/pictrs/image/ed9ej7.jpg"
            );
            assert_eq!(
                p.public_key.unwrap().id,
                "https://enterprise.lemmy.ml/u/picard#main-key"
            );
        }
        x => panic!("{x:?}"),
    }
    match o("objects/group.json") {
        Object::Actor(g) => {
            assert_eq!(g.kind, ActorKind::Group);
            assert_eq!(
                g.moderators.unwrap().as_str(),
                "https://enterprise.lemmy.ml/c/tenforward/moderators"
            );
            assert!(g.featured.is_some() && g.followers.is_some());
        }
        x => panic!("{x:?}"),
    }
    match o("objects/instance.json") {
        Object::Actor(a) => assert_eq!(a.kind, ActorKind::Application),
        x => panic!("{x:?}"),
    }
    match o("objects/tombstone.json") {
        Object::Tombstone(t) => assert_eq!(t.id.as_str(), "https://lemmy.ml/comment/110273"),
        x => panic!("{x:?}"),
    }
    assert_eq!(
        collection_items(&load("collections/group_moderators.json"))[0].as_str(),
        "https://enterprise.lemmy.ml/u/picard"
    );
    assert_eq!(
        collection_items(&load("collections/group_featured_posts.json")).len(),
        2
    );
    for rel in [
        "collections/group_followers.json",
        "collections/group_outbox.json",
        "collections/person_outbox.json",
    ] {
        assert!(matches!(o(rel), Object::Other { .. }), "{rel}");
    }
    // The outbox embeds Announces that parse as activities.
    let outbox = load("collections/group_outbox.json");
    for item in outbox["orderedItems"].as_array().unwrap() {
        assert!(matches!(
            Activity::parse(item).unwrap().verb,
            Verb::Announce(AnnounceObject::Activity(_))
        ));
    }
}
