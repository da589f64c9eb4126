//! An article's front matter (YAML between `---` lines, or TOML between `+++` lines): the
//! draft's title, author, digest, cover and switches.
//!
//! Invariant: the front matter is either read whole into [`FrontMatter`] or refused with a
//! message naming the line (an opening fence never closed included: it is not published
//! as text); unknown keys are ignored (other tools put theirs there too),
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

/// The language of a front matter, told by its fence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fence {
    /// `---` … `---` (or `...`).
    Yaml,
    /// `+++` … `+++` (Hugo, Zola).
    Toml,
}

/// The keys read, for messages.
const KEYS: &str =
    "title, author, digest, cover, source_url, need_open_comment, only_fans_can_comment";

/// Splits `text` into its front matter and the body after it. A front matter opens with
/// a `---` (YAML) or `+++` (TOML) first line and closes with the same line (`...` too for
/// YAML); spaces after a fence are allowed. An opening fence no line closes is refused
/// (its text would otherwise be published as the body's first paragraph).
pub fn split(text: &str) -> Result<(FrontMatter, &str)> {
    let (first, after_open) = text.split_once('\n').unwrap_or((text, ""));
    let fence = match first.trim_end() {
        "---" => Fence::Yaml,
        "+++" => Fence::Toml,
        _ => return Ok((FrontMatter::default(), text)),
    };
    let mut pos = 0;
    for line in after_open.split_inclusive('\n') {
        let bare = line.trim_end();
        let closes = match fence {
            Fence::Yaml => bare == "---" || bare == "...",
            Fence::Toml => bare == "+++",
        };
        if closes {
            let header = &after_open[..pos];
            let body = &after_open[pos + line.len()..];
            let fm = if header.trim().is_empty() {
                FrontMatter::default()
            } else if fence == Fence::Yaml {
                yaml(header)?
            } else {
                toml_header(header)?
            };
            return Ok((fm, body));
        }
        pos += line.len();
    }
    let (open, hint) = match fence {
        Fence::Yaml => (
            "---",
            "; if it is meant as a horizontal rule, put an empty line before it",
        ),
        Fence::Toml => ("+++", ""),
    };
    Err(Error::Config(format!(
        "line 1 of the article opens a front matter (`{open}`) that no `{open}` line \
         closes: add a `{open}` line after its last key{hint}"
    )))
}

fn yaml(header: &str) -> Result<FrontMatter> {
    serde_saphyr::from_str::<FrontMatter>(header).map_err(|e| {
        // Its first line says where and why; the rest quotes the YAML around.
        let e = e.to_string();
        let e = e.lines().next().unwrap_or("").trim_start_matches("error: ");
        Error::Config(format!(
            "the front matter is not valid YAML for an article: {e} (expected keys: {KEYS})"
        ))
    })
}

/// A `+++` front matter: the same keys, in TOML. Its first line is the article's line 2.
fn toml_header(header: &str) -> Result<FrontMatter> {
    toml::from_str::<FrontMatter>(header).map_err(|e| {
        let line = e.span().map_or(2, |at| {
            2 + header
                .get(..at.start)
                .map_or(0, |h| h.matches('\n').count())
        });
        let why = e.message().trim_end();
        Error::Config(format!(
            "line {line} of the article: the front matter is not valid TOML for an \
             article: {why} (expected keys: {KEYS})"
        ))
    })
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
    fn no_header_is_all_body() {
        let (fm, body) = split("# Just text\n").unwrap();
        assert_eq!(fm, FrontMatter::default());
        assert_eq!(body, "# Just text\n");
    }

    #[test]
    fn an_unclosed_header_is_refused_with_its_line() {
        for t in ["---\ntitle: T\n# Body\n", "---", "+++ \ntitle = \"T\"\n"] {
            let e = split(t).unwrap_err().to_string();
            assert!(e.contains("line 1") && e.contains("closes"), "{t:?}: {e}");
        }
        // A rule after an empty line is body.
        let t = "\n---\ntext\n";
        assert_eq!(split(t).unwrap().1, t);
    }

    #[test]
    fn fences_may_end_in_spaces() {
        let (fm, body) = split("--- \ntitle: T\n---  \t\r\n# Body\n").unwrap();
        assert_eq!(fm.title.as_deref(), Some("T"));
        assert_eq!(body, "# Body\n");
        let (fm, body) = split("---\ntitle: U\n... \nx\n").unwrap();
        assert_eq!((fm.title.as_deref(), body), (Some("U"), "x\n"));
    }

    #[test]
    fn toml_front_matter_reads_the_same_keys() {
        let text = "+++\ntitle = \"A post\"\nauthor = \"Me\"\ndescription = \"D\"\n\
                    cover = \"img/c.jpg\"\nneed_open_comment = true\nonly_fans_can_comment = 0\n\
                    tags = [\"x\"]\n[extra]\nk = 1\n+++ \n# Body\n";
        let (fm, body) = split(text).unwrap();
        assert_eq!(fm.title.as_deref(), Some("A post"));
        assert_eq!(fm.author.as_deref(), Some("Me"));
        assert_eq!(fm.digest.as_deref(), Some("D"));
        assert_eq!(fm.cover.as_deref(), Some("img/c.jpg"));
        assert_eq!(fm.need_open_comment.map(Switch::on), Some(true));
        assert_eq!(fm.only_fans_can_comment.map(Switch::on), Some(false));
        assert_eq!(body, "# Body\n");
        let e = split("+++\ntitle = \"T\"\nauthor = \n+++\nx\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 3") && e.contains("TOML"), "{e}");
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
