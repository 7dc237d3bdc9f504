//! The chain and each built-in policy on Lemmy's own payloads (fixtures/activitypub/lemmy):
//! accept, reject with its rc, rewrite (and what the rewritten activity says), no relay,
//! hold; the file's errors; bounds.

use chrono::{TimeDelta, Utc};
use serde_json::{Value, json};
use sluice_apub::{LocalUrls, Rc};
use sluice_policy::{Action, Chain, End, Facts, Outcome};

fn fixture(path: &str) -> Value {
    let p = format!(
        "{}/../../fixtures/activitypub/lemmy/{path}",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(&p).expect(&p)).expect("json")
}

fn urls() -> LocalUrls {
    LocalUrls::new("enterprise.lemmy.ml", true).expect("domain")
}

fn chain(toml: &str) -> Chain {
    Chain::parse(toml, &urls(), None).expect("chain builds")
}

fn run(toml: &str, activity: &Value) -> Outcome {
    chain(toml).evaluate(activity, &Facts::now(), &[])
}

fn announce() -> Value {
    fixture("activities/community/announce_create_page.json")
}

fn comment() -> Value {
    fixture("activities/create_or_update/create_comment.json")
}

fn rejected(o: &Outcome) -> Option<Rc> {
    match &o.end {
        End::Reject { rc, .. } => Some(*rc),
        _ => None,
    }
}

#[test]
fn an_empty_chain_accepts_and_relays() {
    let o = run("", &announce());
    assert_eq!(o, Outcome::accepted());
}

#[test]
fn instance_reject_covers_subdomains_and_authors_inside_announces() {
    // The author of the announced post is on enterprise.lemmy.ml; the rule names the parent.
    let o = run(
        "[[policy]]\nkind = \"instance\"\nreject = [\"lemmy.ml\"]",
        &announce(),
    );
    assert_eq!(rejected(&o), Some(Rc::PolicyRejected));
    assert_eq!(o.decisions.len(), 1);
    assert_eq!(o.decisions[0].policy, "instance");
    assert_eq!(o.decisions[0].action, Action::Reject);
    let o = run(
        "[[policy]]\nkind = \"instance\"\nreject = [\"other.example\"]",
        &announce(),
    );
    assert_eq!(o.end, End::Accept);
}

#[test]
fn instance_precheck_refuses_actor_and_instance_from_memory() {
    let c = chain(
        "[[policy]]\nkind = \"instance\"\nreject = [\"spam.example\"]\nreject_actors = [\"https://ok.example/u/bad\"]\n\
         [[policy]]\nkind = \"instance\"\ncommunities = [\"main\"]\nreject = [\"scoped.example\"]",
    );
    assert!(c.precheck("https://a.spam.example/u/x").is_some());
    assert!(c.precheck("https://ok.example/u/bad").is_some());
    assert!(c.precheck("https://ok.example/u/good").is_none());
    // A rule limited to a community needs the activity: not decided by the precheck.
    assert!(c.precheck("https://scoped.example/u/x").is_none());
    assert!(c.precheck("not a url").is_none());
}

#[test]
fn quarantine_stores_without_relaying() {
    let o = run(
        "[[policy]]\nkind = \"instance\"\nquarantine = [\"ds9.lemmy.ml\"]",
        &comment(),
    );
    assert_eq!(o.end, End::Accept);
    assert!(!o.relay);
    assert_eq!(o.decisions[0].action, Action::NoRelay);
}

#[test]
fn no_reports_rejects_flags_only() {
    let toml = "[[policy]]\nkind = \"instance\"\nno_reports = [\"ds9.lemmy.ml\"]";
    let report = fixture("activities/community/report_page.json");
    let from = report["actor"].as_str().unwrap_or_default().to_string();
    let toml = toml.replace(
        "ds9.lemmy.ml",
        sluice_policy::subject::host_of(&from).unwrap().as_str(),
    );
    assert_eq!(rejected(&run(&toml, &report)), Some(Rc::PolicyRejected));
    let like = fixture("activities/voting/like_note.json");
    let toml_like =
        "[[policy]]\nkind = \"instance\"\nno_reports = [\"ds9.lemmy.ml\", \"enterprise.lemmy.ml\"]";
    assert_eq!(run(toml_like, &like).end, End::Accept);
}

#[test]
fn strip_media_keeps_the_link_and_drops_images() {
    let page = fixture("objects/page_image_and_link.json");
    let activity = json!({
        "id": "https://ds9.lemmy.ml/activities/create/1", "type": "Create",
        "actor": page["attributedTo"], "to": page["to"], "object": page,
    });
    let o = run(
        "[[policy]]\nkind = \"instance\"\nstrip_media = [\"lemmy.ml\", \"ds9.lemmy.ml\"]",
        &activity,
    );
    let Some(v) = &o.rewritten else {
        panic!("not rewritten: {o:?}");
    };
    let obj = &v["object"];
    assert!(obj.get("image").is_none());
    let kinds: Vec<&str> = obj["attachment"]
        .as_array()
        .map(|a| a.iter().filter_map(|x| x["type"].as_str()).collect())
        .unwrap_or_default();
    assert!(
        !kinds.contains(&"Image") && !kinds.contains(&"Document"),
        "{kinds:?}"
    );
    assert_eq!(o.decisions[0].action, Action::Rewrite);
}

#[test]
fn force_sensitive_rewrites_the_embedded_object() {
    let o = run(
        "[[policy]]\nkind = \"instance\"\nforce_sensitive = [\"enterprise.lemmy.ml\"]",
        &announce(),
    );
    let v = o.rewritten.expect("rewritten");
    assert_eq!(v["object"]["object"]["sensitive"], json!(true));
    // The rest is as received: the ids a peer would verify are the original ones.
    assert_eq!(v["id"], announce()["id"]);
    assert_eq!(v["object"]["id"], announce()["object"]["id"]);
}

#[test]
fn keyword_rejects_marks_and_holds_by_field() {
    let toml = "[[policy]]\nkind = \"keyword\"\nreject = [\"(?i)POST 4\"]";
    assert_eq!(rejected(&run(toml, &announce())), Some(Rc::PolicyKeyword));
    let toml = "[[policy]]\nkind = \"keyword\"\nreject = [\"post 4\"]\nfields = [\"content\"]";
    assert_eq!(run(toml, &announce()).end, End::Accept);
    let toml = "[[policy]]\nkind = \"keyword\"\nmark_sensitive = [\"^hello$\"]";
    let o = run(toml, &comment());
    assert_eq!(
        o.rewritten.expect("marked")["object"]["sensitive"],
        json!(true)
    );
    let toml = "[[policy]]\nkind = \"keyword\"\nhold = [\"hel+o\"]";
    assert!(matches!(run(toml, &comment()).end, End::Hold { .. }));
}

#[test]
fn hashtags_compare_without_hash_and_case() {
    let mut c = comment();
    c["object"]["tag"] = json!([{"type": "Hashtag", "name": "#SpAm", "href": "https://x/t/spam"}]);
    let toml = "[[policy]]\nkind = \"hashtag\"\nreject = [\"#spam\"]";
    assert_eq!(rejected(&run(toml, &c)), Some(Rc::PolicyHashtag));
    let toml = "[[policy]]\nkind = \"hashtag\"\nno_relay = [\"spam\"]\nmark_sensitive = [\"spam\"]";
    let o = run(toml, &c);
    assert!(!o.relay);
    let toml = "[[policy]]\nkind = \"hashtag\"\nreject = [\"other\"]";
    assert_eq!(run(toml, &c).end, End::Accept);
}

#[test]
fn object_age_leaves_old_content_unrelayed_or_rejects_it() {
    // The fixture's post is from 2021.
    let o = run(
        "[[policy]]\nkind = \"object_age\"\nmax_age_days = 7",
        &announce(),
    );
    assert_eq!(o.end, End::Accept);
    assert!(!o.relay);
    let o = run(
        "[[policy]]\nkind = \"object_age\"\nmax_age_days = 7\naction = \"reject\"",
        &announce(),
    );
    assert_eq!(rejected(&o), Some(Rc::PolicyObjectAge));
    let mut fresh = announce();
    fresh["object"]["object"]["published"] = json!(Utc::now().to_rfc3339());
    assert_eq!(
        run(
            "[[policy]]\nkind = \"object_age\"\nmax_age_days = 7\naction = \"reject\"",
            &fresh
        ),
        Outcome::accepted()
    );
    // Votes are not content: an old post's like is today's.
    let like = fixture("activities/voting/like_note.json");
    assert_eq!(
        run(
            "[[policy]]\nkind = \"object_age\"\nmax_age_days = 0\naction = \"reject\"",
            &like
        )
        .end,
        End::Accept
    );
}

#[test]
fn hellthread_counts_distinct_people_addressed_or_mentioned() {
    let mut c = comment();
    let many: Vec<Value> = (0..30)
        .map(|i| json!({"type": "Mention", "href": format!("https://x.example/u/{i}")}))
        .collect();
    c["tag"] = Value::Array(many);
    let toml = "[[policy]]\nkind = \"hellthread\"\nthreshold = 20";
    assert_eq!(rejected(&run(toml, &c)), Some(Rc::PolicyHellthread));
    // Lemmy's own comment (its author and community in cc, one mention) is fine.
    assert_eq!(run(toml, &comment()).end, End::Accept);
}

#[test]
fn new_accounts_are_held_and_unknown_ages_let_through() {
    let c = chain("[[policy]]\nkind = \"new_account\"\nmin_age_days = 3");
    let young = Facts {
        author_published: Some(Utc::now() - TimeDelta::hours(5)),
        ..Facts::now()
    };
    let old = Facts {
        author_published: Some(Utc::now() - TimeDelta::days(30)),
        ..young.clone()
    };
    let o = c.evaluate(&comment(), &young, &[]);
    assert!(
        matches!(&o.end, End::Hold { policy, .. } if policy == "new_account"),
        "{o:?}"
    );
    assert_eq!(o.decisions[0].rc, Some(Rc::PolicyHeld));
    assert_eq!(c.evaluate(&comment(), &old, &[]).end, End::Accept);
    assert_eq!(c.evaluate(&comment(), &Facts::now(), &[]).end, End::Accept);
    // An admin's approval skips the policy that held it.
    assert_eq!(
        c.evaluate(&comment(), &young, &["new_account".into()]).end,
        End::Accept
    );
    // Only the listed activities: a vote of a new account is not held.
    let like = fixture("activities/voting/like_note.json");
    assert_eq!(c.evaluate(&like, &young, &[]).end, End::Accept);
    let reject = chain("[[policy]]\nkind = \"new_account\"\nmin_age_days = 3\naction = \"reject\"");
    assert_eq!(
        rejected(&reject.evaluate(&comment(), &young, &[])),
        Some(Rc::PolicyNewAccount)
    );
}

#[test]
fn community_scope_limits_a_rule_to_a_local_community() {
    // The comment names https://enterprise.lemmy.ml/c/main as audience; our urls are
    // plain http (dev), so the community id is http://enterprise.lemmy.ml/c/main, which
    // the comment names in cc.
    let toml = "[[policy]]\nkind = \"keyword\"\ncommunities = [\"main\"]\nreject = [\"hello\"]";
    assert_eq!(rejected(&run(toml, &comment())), Some(Rc::PolicyKeyword));
    let toml = "[[policy]]\nkind = \"keyword\"\ncommunities = [\"other\"]\nreject = [\"hello\"]";
    assert_eq!(run(toml, &comment()).end, End::Accept);
}

#[test]
fn rewrites_chain_and_a_reject_ends_the_chain() {
    let toml = "[[policy]]\nkind = \"keyword\"\nmark_sensitive = [\"hello\"]\n\
                [[policy]]\nkind = \"hashtag\"\nno_relay = [\"x\"]\n\
                [[policy]]\nname = \"late\"\nkind = \"keyword\"\nreject = [\"hello\"]\n\
                [[policy]]\nname = \"never\"\nkind = \"keyword\"\nhold = [\"hello\"]";
    let (o, lines) = chain(toml).trace(&comment(), &Facts::now());
    assert_eq!(rejected(&o), Some(Rc::PolicyKeyword));
    let actions: Vec<Option<Action>> = lines
        .iter()
        .map(|l| l.verdict.as_ref().map(|v| v.action()))
        .collect();
    assert_eq!(
        actions,
        vec![
            Some(Action::Rewrite),
            Some(Action::Accept),
            Some(Action::Reject),
            None
        ]
    );
    assert_eq!(lines[3].note, "not reached");
}

#[test]
fn the_file_is_checked_strictly() {
    let bad = |toml: &str| {
        Chain::parse(toml, &urls(), None)
            .expect_err(toml)
            .to_string()
    };
    assert!(bad("[[policy]]\nkind = \"nope\"").contains("unknown kind"));
    assert!(bad("[[policy]]\nkind = \"keyword\"\nrejct = [\"x\"]").contains("rejct"));
    assert!(bad("[[policy]]\nkind = \"keyword\"\nreject = [\"(\"]").contains("reject"));
    assert!(bad("[[policy]]\nkind = \"instance\"\nreject = [\"a b\"]").contains("reject"));
    assert!(bad("[[policy]]\nkind = \"hellthread\"\nthreshold = 0").contains("threshold"));
    assert!(bad("[[policy]]\nkind = \"object_age\"\nmax_age_days = -1").contains("max_age"));
    assert!(
        bad("[[policy]]\nkind = \"keyword\"\n[[policy]]\nkind = \"keyword\"\nname = \"keyword\"")
            .contains("name")
    );
    assert!(bad("other = 1").contains("unknown key"));
    assert!(bad("[[policy]]\nname = \"x\"").contains("kind"));
    // A pattern whose compiled program is too large is refused, not compiled.
    assert!(
        bad("[[policy]]\nkind = \"keyword\"\nreject = [\"\\\\w{1000}\\\\w{1000}\"]")
            .contains("reject")
    );
    let many: String = (0..65)
        .map(|i| format!("[[policy]]\nname = \"k{i}\"\nkind = \"hashtag\"\n"))
        .collect();
    assert!(bad(&many).contains("at most 64"));
    // Unnamed policies of one kind are numbered.
    let c = chain("[[policy]]\nkind = \"hashtag\"\n[[policy]]\nkind = \"hashtag\"");
    let names: Vec<&str> = c.links().iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names, ["hashtag", "hashtag-2"]);
}

#[test]
fn hostile_shapes_cost_bounded_work_and_never_panic() {
    let toml = "[[policy]]\nkind = \"instance\"\nreject = [\"x.example\"]\nstrip_media = [\"lemmy.ml\"]\n\
                [[policy]]\nkind = \"keyword\"\nreject = [\"zzz\"]\n\
                [[policy]]\nkind = \"hashtag\"\nreject = [\"zzz\"]\n\
                [[policy]]\nkind = \"hellthread\"\nthreshold = 5\n\
                [[policy]]\nkind = \"object_age\"\nmax_age_days = 1";
    let c = chain(toml);
    let mut nested = json!({"type": "Note", "content": "x"});
    for _ in 0..50 {
        nested = json!({"type": "Announce", "actor": "https://a.lemmy.ml/u/x", "object": nested});
    }
    let big_tags: Vec<Value> = (0..100_000)
        .map(|i| json!({"type": "Mention", "href": i.to_string()}))
        .collect();
    let shapes = [
        json!(null),
        json!([]),
        json!("Create"),
        json!({"type": 5, "object": {"type": "Note", "content": 7, "tag": "x", "to": {}}}),
        json!({"type": "Create", "actor": ["a"], "object": {"type": "Note", "published": "yesterday", "attachment": {"type": "Image"}}}),
        json!({"type": "Create", "actor": "https://b.lemmy.ml/u/y", "object": {"type": "Note", "tag": big_tags, "content": "é".repeat(400_000)}}),
        nested,
    ];
    for s in &shapes {
        let _ = c.evaluate(s, &Facts::now(), &[]);
        let _ = c.trace(s, &Facts::now());
    }
}

/// A policy with state (a plugin's counters) is asked once per activity: the screen that
/// runs before anything is fetched stops at it, and only the full pass asks it. A
/// repeatable link before it still ends a row at the screen.
#[test]
fn the_screen_stops_at_a_policy_with_state() {
    use sluice_policy::{Link, Policy, Subject, Verdict};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[derive(Debug)]
    struct Counting(Arc<AtomicUsize>);
    impl Policy for Counting {
        fn kind(&self) -> &'static str {
            "plugin"
        }
        fn decide(&self, _: &Subject<'_>, _: &Facts) -> Verdict {
            self.0.fetch_add(1, Ordering::SeqCst);
            Verdict::Accept
        }
        fn describe(&self) -> String {
            "counts".into()
        }
        fn repeatable(&self) -> bool {
            false
        }
    }
    #[derive(Debug)]
    struct Refusing(bool);
    impl Policy for Refusing {
        fn kind(&self) -> &'static str {
            "instance"
        }
        fn decide(&self, _: &Subject<'_>, _: &Facts) -> Verdict {
            match self.0 {
                true => Verdict::Reject {
                    rc: Rc::PolicyRejected,
                    reason: "refused".into(),
                },
                false => Verdict::Accept,
            }
        }
        fn describe(&self) -> String {
            "refuses".into()
        }
    }
    let chain_of = |refuse: bool, asked: &Arc<AtomicUsize>| {
        let link = |name: &str, policy: Box<dyn Policy>| Link {
            name: name.into(),
            scope: Vec::new(),
            policy,
        };
        Chain::new(vec![
            link("first", Box::new(Refusing(refuse))),
            link("counting", Box::new(Counting(asked.clone()))),
        ])
    };

    let asked = Arc::new(AtomicUsize::new(0));
    let a = announce();
    let c = chain_of(false, &asked);
    assert_eq!(c.screen(&a, &Facts::now(), &[]).end, End::Accept);
    assert_eq!(
        asked.load(Ordering::SeqCst),
        0,
        "the screen does not ask it"
    );
    assert_eq!(c.evaluate(&a, &Facts::now(), &[]).end, End::Accept);
    assert_eq!(
        asked.load(Ordering::SeqCst),
        1,
        "the full pass asks it once"
    );

    let o = chain_of(true, &asked).screen(&a, &Facts::now(), &[]);
    assert_eq!(rejected(&o), Some(Rc::PolicyRejected));
    assert_eq!(asked.load(Ordering::SeqCst), 1);
}
