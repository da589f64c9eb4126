//! An article's YAML front matter: the draft's title, author, digest, cover and switches.
//!
//! Invariant: the front matter is either read whole into [`FrontMatter`] or refused with a
//! message naming the line; unknown keys are ignored (other tools put theirs there too),
//! and the body returned is the article without the header, byte for byte.
//!
//! ```text
//! ---
//! title: A post
//! author: Me
//! digest: One line for the list
//! cover: img/cover.jpg
//! source_url: https://example.com/original
//! need_open_comment: true
//! only_fans_can_comment: false
//! ---
//! # Body…
//! ```

use serde::Deserialize;

use crate::error::{Error, Result};

/// The keys `publish` reads (all optional: flags override them).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct FrontMatter {
    pub title: Option<String>,
    pub author: Option<String>,
    /// The summary shown in lists (`description` / `summary` are read too).
    #[serde(alias = "description", alias = "summary")]
    pub digest: Option<String>,
    /// A picture path relative to the article, or a URL.
    #[serde(alias = "cover_image", alias = "thumb")]
    pub cover: Option<String>,
    /// "Read the original" (`content_source_url`).
    #[serde(alias = "content_source_url")]
    pub source_url: Option<String>,
    pub need_open_comment: Option<Switch>,
    pub only_fans_can_comment: Option<Switch>,
}

/// A 0/1 switch, written `true`/`false`, `yes`/`no` or `1`/`0`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum Switch {
    Bool(bool),
    Number(i64),
}

impl Switch {
    pub fn on(self) -> bool {
        match self {
            Switch::Bool(b) => b,
            Switch::Number(n) => n != 0,
        }
    }
}

/// Splits `text` into its front matter (if it opens with a `---` line closed by a `---`
/// or `...` line) and the body after it.
pub fn split(text: &str) -> Result<(FrontMatter, &str)> {
    let rest = text.strip_prefix('\u{feff}').unwrap_or(text);
    let Some(after_open) = rest
        .strip_prefix("---\n")
        .or_else(|| rest.strip_prefix("---\r\n"))
    else {
        return Ok((FrontMatter::default(), text));
    };
    let mut pos = 0;
    for line in after_open.split_inclusive('\n') {
        let bare = line.trim_end_matches(['\n', '\r']);
        if bare == "---" || bare == "..." {
            let yaml = &after_open[..pos];
            let body = &after_open[pos + line.len()..];
            let fm = if yaml.trim().is_empty() {
                FrontMatter::default()
            } else {
                serde_saphyr::from_str::<FrontMatter>(yaml).map_err(|e| {
                    // Its first line says where and why; the rest quotes the YAML around.
                    let e = e.to_string();
                    let e = e.lines().next().unwrap_or("").trim_start_matches("error: ");
                    Error::Config(format!(
                        "the front matter is not valid YAML for an article: {e} \
                         (expected keys: title, author, digest, cover, source_url, \
                         need_open_comment, only_fans_can_comment)"
                    ))
                })?
            };
            return Ok((fm, body));
        }
        pos += line.len();
    }
    // An opening `---` with no closing line is a thematic break, not a header.
    Ok((FrontMatter::default(), text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_header_and_keeps_the_body() {
        let text = "---\ntitle: \"A: post\"\nauthor: Me\ncover: img/c.jpg\nneed_open_comment: true\n\
                    only_fans_can_comment: 0\nunknown: [1, 2]\n---\n# Body\n";
        let (fm, body) = split(text).unwrap();
        assert_eq!(fm.title.as_deref(), Some("A: post"));
        assert_eq!(fm.author.as_deref(), Some("Me"));
        assert_eq!(fm.cover.as_deref(), Some("img/c.jpg"));
        assert_eq!(fm.need_open_comment.map(Switch::on), Some(true));
        assert_eq!(fm.only_fans_can_comment.map(Switch::on), Some(false));
        assert_eq!(body, "# Body\n");
    }

    #[test]
    fn no_header_or_an_unclosed_one_is_body() {
        let (fm, body) = split("# Just text\n").unwrap();
        assert_eq!(fm, FrontMatter::default());
        assert_eq!(body, "# Just text\n");
        let t = "---\nnot closed\n";
        assert_eq!(split(t).unwrap().1, t);
    }

    #[test]
    fn bad_yaml_is_refused_with_the_keys() {
        let e = split("---\ntitle: [unclosed\n---\nx\n").unwrap_err();
        assert!(e.to_string().contains("front matter"), "{e}");
    }

    #[test]
    fn switches_read_yes_and_no() {
        for (v, on) in [
            ("yes", true),
            ("no", false),
            ("true", true),
            ("0", false),
            ("1", true),
        ] {
            let text = format!("---\nneed_open_comment: {v}\n---\nx\n");
            let (fm, _) = split(&text).unwrap_or_else(|e| panic!("{v}: {e}"));
            assert_eq!(fm.need_open_comment.map(Switch::on), Some(on), "{v}");
        }
    }

    #[test]
    fn an_alias_bomb_is_refused_on_one_line() {
        let mut yaml = String::from("---\na0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let p = format!("*a{}", i - 1);
            yaml.push_str(&format!("a{i}: &a{i} [{}]\n", [p.as_str(); 10].join(", ")));
        }
        yaml.push_str("title: boom\n---\n# Body\n");
        let started = std::time::Instant::now();
        let e = split(&yaml).unwrap_err().to_string();
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
        assert!(e.contains("line ") && !e.contains('\n'), "{e}");
    }
}
