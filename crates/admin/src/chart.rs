//! A small latency chart as inline SVG (no script, no external asset): p50 and p99 lines
//! over a time window, the y axis scaled to the slowest p99 shown.

use maud::{Markup, html};
use sluice_db::admin::LatencyBucket;

const W: f64 = 640.0;
const H: f64 = 220.0;
const LEFT: f64 = 56.0;
const BOTTOM: f64 = 28.0;
const TOP: f64 = 12.0;
const RIGHT: f64 = 12.0;

type Pick = fn(&LatencyBucket) -> f64;

/// Values beyond a day (clock trouble) are drawn at a day; non-numbers at zero.
const CAP_SECS: f64 = 86_400.0;

fn bounded(v: f64) -> f64 {
    if v.is_finite() {
        v.clamp(0.0, CAP_SECS)
    } else {
        0.0
    }
}

fn xy(b: &LatencyBucket, window_secs: f64, top: f64, pick: Pick) -> (f64, f64) {
    let x = LEFT + (b.offset_secs / window_secs).clamp(0.0, 1.0) * (W - LEFT - RIGHT);
    let y = H - BOTTOM - (bounded(pick(b)) / top).clamp(0.0, 1.0) * (H - BOTTOM - TOP);
    (x, y)
}

fn points(series: &[LatencyBucket], window_secs: f64, top: f64, pick: Pick) -> String {
    series
        .iter()
        .map(|b| {
            let (x, y) = xy(b, window_secs, top, pick);
            format!("{x:.1},{y:.1}")
        })
        .collect::<Vec<_>>()
        .join(" ")
}

const LINES: [(Pick, &str); 2] = [(|b| b.p99, "#b91c1c"), (|b| b.p50, "#1f3a5f")];

/// The chart of `series` (buckets of a window `window_secs` long ending now).
pub(crate) fn latency(what: &str, series: &[LatencyBucket], window_secs: f64) -> Markup {
    if series.is_empty() {
        return html! { p.muted { "No activity from this instance was processed in this window." } };
    }
    let top = series
        .iter()
        .map(|b| bounded(b.p99))
        .fold(0.0, f64::max)
        .max(0.001)
        * 1.1;
    let hours = window_secs / 3600.0;
    let ticks = [0.0, 0.5, 1.0];
    html! {
        svg viewBox={"0 0 " (W) " " (H)} width=(W) height=(H) role="img"
            aria-labelledby="chart-title" xmlns="http://www.w3.org/2000/svg" {
            title #chart-title { "Receipt-to-applied latency of " (what) ", p50 and p99, last " (hours) " hours" }
            @for t in ticks {
                @let y = H - BOTTOM - t * (H - BOTTOM - TOP);
                line x1=(LEFT) x2=(W - RIGHT) y1=(y) y2=(y) stroke="#dde1e6" {}
                text x=(LEFT - 4.0) y=(y + 4.0) text-anchor="end" font-size="11" { (crate::page::secs(top * t)) }
            }
            text x=(LEFT) y=(H - 8.0) font-size="11" { "-" (hours) " h" }
            text x=(W - RIGHT) y=(H - 8.0) font-size="11" text-anchor="end" { "now" }
            @for (pick, colour) in LINES {
                polyline points=(points(series, window_secs, top, pick)) fill="none" stroke=(colour) stroke-width="2" {}
                @for b in series {
                    @let (x, y) = xy(b, window_secs, top, pick);
                    circle cx=(format!("{x:.1}")) cy=(format!("{y:.1}")) r="3" fill=(colour) {}
                }
            }
            text x=(W - RIGHT) y=(TOP + 10.0) font-size="11" text-anchor="end" fill="#b91c1c" { "p99" }
            text x=(W - RIGHT) y=(TOP + 24.0) font-size="11" text-anchor="end" fill="#1f3a5f" { "p50" }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::latency;
    use sluice_db::admin::LatencyBucket;

    #[test]
    fn the_chart_escapes_the_name_and_stays_in_its_box() {
        let series = [
            LatencyBucket {
                offset_secs: 0.0,
                n: 3,
                p50: 0.01,
                p99: 0.05,
            },
            LatencyBucket {
                offset_secs: 1e9,
                n: 1,
                p50: f64::MAX,
                p99: f64::MAX,
            },
        ];
        let svg = latency("<script>x</script>", &series, 3600.0).into_string();
        assert!(
            svg.contains("&lt;script&gt;") && !svg.contains("<script>"),
            "{svg}"
        );
        assert!(!svg.contains("NaN") && !svg.contains("inf"), "{svg}");
        let empty = latency("a", &[], 3600.0).into_string();
        assert!(!empty.contains("<svg"));
    }
}
