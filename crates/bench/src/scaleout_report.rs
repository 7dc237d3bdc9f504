//! The scale-out scenario's verdicts and its markdown section (see `report` for the two
//! kinds of verdict: checks fail the command, targets are reported).

use crate::report::{Ends, Verdict, end_checks, verdict};
use crate::scaleout::ScaleoutRun;
use std::fmt::Write;

/// The deterministic checks of one run: nothing lost inbound or outbound, every count the
/// sum of its votes, duplicates within the crash bound.
///
/// With one process the inbound scenarios' checks hold as they are (one pipeline applies
/// the journal in order). With several, batches of different processes run at once and an
/// activity may be applied before one journaled ahead of it (ARCHITECTURE.md, "Undo before
/// the thing it undoes": the reverse race across processes is not closed): an Undo may find
/// nothing to undo, a vote a deleted post. So there "nothing refused", "every acknowledged
/// activity applied" and "tables exact" are reported, not checked; what must hold whatever
/// the order is checked: nothing lost (every activity applied or refused with an rc), and
/// scores equal to the sum of the votes.
pub fn checks(r: &ScaleoutRun) -> Vec<Verdict> {
    let n = &r.name;
    let missing: usize = r.peers.iter().map(|p| p.missing).sum();
    let most_dup = r.peers.iter().map(|p| p.duplicates).max().unwrap_or(0);
    let unverified: usize = r.peers.iter().map(|p| p.unverified).sum();
    let mut v = if r.processes == 1 {
        end_checks(
            n,
            &Ends {
                sent_acked_applied: [r.sent, r.acked, r.processed],
                lost: r.lost,
                refused: &r.refused,
                tables: &r.tables,
                expected: &r.expected,
            },
        )
    } else {
        vec![verdict(
            n,
            "nothing lost",
            r.lost == 0,
            format!("{} lost", r.lost),
        )]
    };
    v.extend([
        verdict(
            n,
            "every post's and comment's score is the sum of its votes",
            r.tables.content_score == r.tables.vote_score,
            format!(
                "scores {}, votes {}",
                r.tables.content_score, r.tables.vote_score
            ),
        ),
        verdict(
            n,
            "every published activity delivered to every peer",
            missing == 0 && !r.peers.is_empty(),
            format!(
                "{} published, {missing} (activity, peer) pairs missing",
                r.published
            ),
        ),
        verdict(
            n,
            "duplicates per peer ≤ the delivery window",
            most_dup <= r.delivery_window,
            format!(
                "at most {most_dup} (window {}); per peer {:?}",
                r.delivery_window,
                r.peers.iter().map(|p| p.duplicates).collect::<Vec<_>>()
            ),
        ),
        verdict(
            n,
            "no delivery accepted unverified",
            unverified == 0,
            format!(
                "{unverified} accepted unverified; {} refused unverified (the peer could not verify, e.g. its key fetch reached the killed process) and sent again",
                r.peers.iter().map(|p| p.refused_unverified).sum::<usize>()
            ),
        ),
    ]);
    if let Some(f) = &r.failover {
        v.push(verdict(
            n,
            "every instance of the killed process delivered to again",
            f.resumed_s.iter().all(Option::is_some),
            format!("{} instance(s), resumed {:?}", f.instances, f.resumed_s),
        ));
    }
    v
}

/// The targets: three processes ≥ 2× one (acknowledged/s), the killed process's instances
/// resumed within the lease.
pub fn targets(runs: &[ScaleoutRun]) -> Vec<Verdict> {
    let mut v = Vec::new();
    let one = runs.iter().find(|r| r.processes == 1);
    let many = runs.iter().find(|r| r.processes > 1);
    if let (Some(one), Some(many)) = (one, many) {
        let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
        let acked = ratio(many.acked_per_s, one.acked_per_s);
        let processed = ratio(many.processed_per_s, one.processed_per_s);
        v.push(verdict(
            &many.name,
            &format!(
                "{} processes ≥ 2× one process's acknowledged/s",
                many.processes
            ),
            acked >= 2.0,
            format!(
                "{acked:.2}× ({:.0} against {:.0}/s); processed/s {processed:.2}× ({:.0} against {:.0}/s)",
                many.acked_per_s, one.acked_per_s, many.processed_per_s, one.processed_per_s
            ),
        ));
    }
    for r in runs {
        if let Some(f) = &r.failover {
            // A killed process cannot release its leases: they run out at most a lease after
            // its last heartbeat, and a survivor claims them at its next heartbeat (every
            // lease / 3), so takeover at the lease's expiry is the design, not a delay. Then
            // the survivor reads the log, signs and sends: a few round-trips, and the next
            // publish (a second covers them).
            let worst = f.resumed_s.iter().flatten().copied().fold(0.0, f64::max);
            let bound = f.delivery_lease_s * 4.0 / 3.0 + 1.0;
            v.push(verdict(
                &r.name,
                "the killed process's instances resume within the delivery lease (+ one heartbeat + 1 s)",
                f.resumed_s.iter().all(|s| s.is_some_and(|s| s <= bound)),
                format!(
                    "slowest {worst:.1} s after the kill; lease {:.0} s, heartbeat {:.0} s",
                    f.delivery_lease_s,
                    f.delivery_lease_s / 3.0
                ),
            ));
        }
    }
    v
}

fn cores(cpu_s: f64, window_s: f64) -> String {
    format!("{:.2}", cpu_s / window_s.max(1e-6))
}

/// The markdown section.
pub fn markdown(s: &mut String, runs: &[ScaleoutRun]) {
    if runs.is_empty() {
        return;
    }
    s.push_str("\n| scale-out run | processes | DB delay (one way) | senders | mode | window s | acked/s | processed/s | ack p50 / p99 ms | journal lag max s | CPU cores: each process / PostgreSQL / load generator | connections per process | lost | published | missing | duplicates per peer (window) |\n");
    s.push_str("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n");
    for r in runs {
        let each: Vec<String> = r
            .process_cpu_s
            .iter()
            .map(|c| cores(*c, r.window_s))
            .collect();
        let _ = writeln!(
            s,
            "| {} | {} | {} ms | {} | {} | {:.1}{} | {:.0} | {:.0} | {:.1} / {:.1} | {:.2} | {} / {} / {} | {:?} | {} | {} | {} | {:?} ({}) |",
            r.name,
            r.processes,
            r.one_way_db_delay_ms,
            r.senders,
            r.mode,
            r.window_s,
            if r.pool_exhausted {
                " (signed pool ran out)"
            } else {
                ""
            },
            r.acked_per_s,
            r.processed_per_s,
            r.ack_p50_ms,
            r.ack_p99_ms,
            r.journal_lag_max_s,
            each.join(" + "),
            r.postgres_cpu_s
                .map_or("?".into(), |c| cores(c, r.window_s)),
            cores(r.bench_cpu_s, r.window_s),
            r.balanced,
            r.lost,
            r.published,
            r.peers.iter().map(|p| p.missing).sum::<usize>(),
            r.peers.iter().map(|p| p.duplicates).collect::<Vec<_>>(),
            r.delivery_window,
        );
    }
    for r in runs.iter().filter(|r| r.processes > 1) {
        let _ = writeln!(
            s,
            "\n{}: applied out of journal order across processes (reported, not checked): sent {}, acknowledged {}, applied {}; refused by rc {:?}; tables {:?} against {:?} implied by the applied activities in sending order.",
            r.name, r.sent, r.acked, r.processed, r.refused, r.tables, r.expected
        );
    }
    for r in runs {
        if let Some(f) = &r.failover {
            let resumed: Vec<String> = f
                .resumed_s
                .iter()
                .map(|x| x.map_or("never".into(), |s| format!("{s:.1} s")))
                .collect();
            let _ = writeln!(
                s,
                "\n{}: kill -9 of pid {} at {:.1} s, which held the delivery leases of {} of {} peer instances; their first delivery by a survivor came {} after the kill (delivery lease {:.0} s); the survivors acknowledged {:.0}/s after the kill; {} activities were retried by their senders; the journal drained {:.1} s after the timed phase (pipeline lease {:.0} s), every peer had everything {:.1} s after it.",
                r.name,
                f.killed_pid,
                f.at_s,
                f.instances,
                r.peers.len(),
                resumed.join(", "),
                f.delivery_lease_s,
                f.acked_per_s_after,
                f.retried,
                r.drain_s,
                f.pipeline_lease_s,
                r.delivery_wait_s,
            );
        }
    }
}
