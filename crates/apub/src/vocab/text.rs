//! Plain text out of HTML, for the few places that need it (a post title derived from a
//! Mastodon note, which has none).

/// The text of an HTML fragment: tags dropped, block ends as spaces, the common entities
/// decoded, whitespace collapsed. Not a sanitizer: stored HTML stays as it was sent.
pub fn strip_html(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut in_tag = false;
    for ch in html.chars() {
        match ch {
            '<' => {
                in_tag = true;
                out.push(' ');
            }
            '>' if in_tag => in_tag = false,
            _ if in_tag => {}
            _ => out.push(ch),
        }
    }
    let decoded = out
        .replace("&nbsp;", " ")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&");
    decoded.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// At most `max` characters, cut at a character boundary, with an ellipsis when cut.
pub fn truncate_chars(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        None => s.to_string(),
        Some((cut, _)) => {
            let mut t = s[..cut].trim_end().to_string();
            t.pop();
            t.push('…');
            t
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_to_text() {
        assert_eq!(
            strip_html("<p>Hello <a href=\"x\">@bob</a></p><p>a &amp; b</p>"),
            "Hello @bob a & b"
        );
        assert_eq!(truncate_chars("héllo wörld", 5), "héll…");
        assert_eq!(truncate_chars("short", 10), "short");
    }
}
