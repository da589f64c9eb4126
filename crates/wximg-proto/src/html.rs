//! Reading article HTML as both sides must: token by token ([`tokenize`]), and the one
//! measure of what parsing it costs ([`check_shape`]).
//!
//! Invariant: **the client refuses before sending exactly the content the server would
//! answer 45002 for its shape**: both run [`check_shape`], a parse by html5ever's tree
//! builder (the one the server's sanitizer and the client's theme inliner parse with)
//! that builds no tree, so there is one reading of "too deep" and "too many elements",
//! not two that could disagree on hostile HTML (stray end tags, raw text, reopened
//! formatting elements).

use std::borrow::Cow;
use std::cell::{Cell, Ref, RefCell};

use html5ever::buffer_queue::BufferQueue;
use html5ever::interface::{ElementFlags, NodeOrText, QuirksMode, TreeSink};
use html5ever::tendril::{StrTendril, TendrilSink};
use html5ever::tokenizer::states::RawKind;
use html5ever::tokenizer::{TagKind, Token, TokenSink, TokenSinkResult, Tokenizer, TokenizerOpts};
use html5ever::{Attribute, QualName, local_name, ns};

/// Feeds `html` to html5ever's tokenizer with `sink`, and gives the sink back.
pub fn tokenize<S: TokenSink<Handle = ()>>(sink: S, html: &str) -> S {
    let input = BufferQueue::default();
    input.push_back(StrTendril::from(html));
    let tokenizer = Tokenizer::new(sink, TokenizerOpts::default());
    let _ = tokenizer.feed(&input);
    tokenizer.end();
    tokenizer.sink
}

/// The raw-text state the parser switches to after start tag `name` (so that what is
/// inside a `<script>` is not read as markup). A sink returns it for every start tag.
pub fn raw_after(name: &str) -> TokenSinkResult<()> {
    match name {
        "script" => TokenSinkResult::RawData(RawKind::ScriptData),
        "style" | "xmp" | "iframe" | "noembed" | "noframes" => {
            TokenSinkResult::RawData(RawKind::Rawtext)
        }
        "textarea" | "title" => TokenSinkResult::RawData(RawKind::Rcdata),
        "plaintext" => TokenSinkResult::Plaintext,
        _ => TokenSinkResult::Continue,
    }
}

/// Elements with no end tag (what html5ever's serializer writes without one).
pub fn is_void(name: &str) -> bool {
    matches!(
        name,
        "area"
            | "base"
            | "br"
            | "col"
            | "embed"
            | "hr"
            | "img"
            | "input"
            | "link"
            | "meta"
            | "param"
            | "source"
            | "track"
            | "wbr"
    )
}

/// The characters of text in `html` that the platform's 20,000 counts
/// ([`CONTENT_TEXT_CHARS`]): every character but whitespace, outside raw-text elements
/// (what a `<script>` or `<style>` holds is not text, and the server's cleaning removes
/// it). The server counts cleaned content with it, the client what it will send.
///
/// [`CONTENT_TEXT_CHARS`]: crate::articles::CONTENT_TEXT_CHARS
pub fn text_chars(html: &str) -> u64 {
    struct Text {
        chars: Cell<u64>,
        in_raw: Cell<bool>,
    }
    impl TokenSink for Text {
        type Handle = ();
        fn process_token(&self, token: Token, _line: u64) -> TokenSinkResult<()> {
            match token {
                Token::CharacterTokens(text) if !self.in_raw.get() => {
                    let n = text.chars().filter(|c| !c.is_whitespace()).count() as u64;
                    self.chars.set(self.chars.get() + n);
                }
                Token::TagToken(tag) => {
                    if tag.kind == TagKind::StartTag {
                        let raw = raw_after(&tag.name);
                        self.in_raw
                            .set(!matches!(raw, TokenSinkResult::Continue) && !tag.self_closing);
                        return raw;
                    }
                    self.in_raw.set(false);
                }
                _ => {}
            }
            TokenSinkResult::Continue
        }
    }
    let sink = Text {
        chars: Cell::new(0),
        in_raw: Cell::new(false),
    };
    tokenize(sink, html).chars.get()
}

/// Most elements parsing `bytes` of content may build: one per two bytes, plus 1,024
/// (see [`check_shape`]).
pub fn max_elements(bytes: usize) -> usize {
    bytes / 2 + 1024
}

/// Most bytes of attributes (names and values) parsing `bytes` of content may build:
/// four times as many, plus 256 KiB (see [`check_shape`]).
pub fn max_attribute_bytes(bytes: usize) -> usize {
    bytes.saturating_mul(4).saturating_add(256 * 1024)
}

/// Why [`check_shape`] refused a fragment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Overbuilt {
    /// An element would be open inside more than the limit of others: the first such.
    Deep {
        /// Its tag name.
        tag: String,
        /// The limit it went past.
        limit: usize,
    },
    /// Parsing built more elements than [`max_elements`] allows.
    Elements {
        /// The limit it went past.
        limit: usize,
    },
    /// Parsing built more bytes of attributes than [`max_attribute_bytes`] allows (a
    /// rebuilt element carries its attributes again).
    Attributes {
        /// The limit it went past.
        limit: usize,
    },
}

impl std::fmt::Display for Overbuilt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Overbuilt::Deep { tag, limit } => write!(
                f,
                "elements nest more than {limit} deep (from a <{tag}> on; an unclosed tag \
                 nests what follows it)"
            ),
            Overbuilt::Elements { limit } => write!(
                f,
                "parsing it builds more than {limit} elements (an unclosed formatting tag \
                 such as <b> or <font> is opened again in every paragraph after it)"
            ),
            Overbuilt::Attributes { limit } => write!(
                f,
                "parsing it builds more than {limit} bytes of attributes (an unclosed \
                 formatting tag such as <b> or <font> is opened again, with its attributes, \
                 in every paragraph after it)"
            ),
        }
    }
}

/// One node the measuring parse built: only what the tree builder asks back (an
/// element's name) and its depth.
struct Node {
    name: QualName,
    depth: usize,
    /// A `<template>`'s contents (a node of its own, as the parser expects).
    contents: Option<usize>,
}

/// A [`TreeSink`] that builds no tree: it keeps each node's name and depth, counts the
/// elements, and notes the first one past the limits. Hand-written because html5ever's
/// own sinks (RcDom) build the whole tree, which is the cost being bounded.
struct Measure {
    nodes: RefCell<Vec<Node>>,
    depth_limit: usize,
    element_limit: usize,
    elements: Cell<usize>,
    attribute_limit: usize,
    attribute_bytes: Cell<usize>,
    past: RefCell<Option<Overbuilt>>,
}

impl Measure {
    fn new(depth_limit: usize, bytes: usize) -> Self {
        let document = Node {
            name: QualName::new(None, ns!(), local_name!("")),
            depth: 0,
            contents: None,
        };
        Measure {
            nodes: RefCell::new(vec![document]),
            depth_limit,
            element_limit: max_elements(bytes),
            elements: Cell::new(0),
            attribute_limit: max_attribute_bytes(bytes),
            attribute_bytes: Cell::new(0),
            past: RefCell::new(None),
        }
    }

    fn add(&self, name: QualName) -> usize {
        let mut nodes = self.nodes.borrow_mut();
        nodes.push(Node {
            name,
            depth: 0,
            contents: None,
        });
        nodes.len() - 1
    }

    fn note(&self, why: Overbuilt) {
        if self.past.borrow().is_none() {
            *self.past.borrow_mut() = Some(why);
        }
    }

    /// `child` is now in `parent` (or beside a node at `parent`'s depth + 1).
    fn place(&self, child: &NodeOrText<usize>, depth: usize) {
        let NodeOrText::AppendNode(child) = child else {
            return;
        };
        let mut nodes = self.nodes.borrow_mut();
        let Some(node) = nodes.get_mut(*child) else {
            return;
        };
        node.depth = depth;
        // The fragment's root (`<html>`, at depth 1) does not count: `<div>` is 1 deep.
        if depth > self.depth_limit + 1 {
            let tag = node.name.local.to_string();
            drop(nodes);
            self.note(Overbuilt::Deep {
                tag,
                limit: self.depth_limit,
            });
        }
    }

    fn depth_of(&self, node: usize) -> usize {
        self.nodes.borrow().get(node).map_or(0, |n| n.depth)
    }
}

impl TreeSink for Measure {
    type Handle = usize;
    type Output = Self;
    type ElemName<'a> = Ref<'a, QualName>;

    fn finish(self) -> Self {
        self
    }

    fn parse_error(&self, _msg: Cow<'static, str>) {}

    fn get_document(&self) -> usize {
        0
    }

    fn elem_name<'a>(&'a self, target: &'a usize) -> Ref<'a, QualName> {
        Ref::map(self.nodes.borrow(), |nodes| match nodes.get(*target) {
            Some(node) => &node.name,
            None => &nodes[0].name,
        })
    }

    fn create_element(&self, name: QualName, attrs: Vec<Attribute>, _: ElementFlags) -> usize {
        self.elements.set(self.elements.get() + 1);
        if self.elements.get() > self.element_limit {
            self.note(Overbuilt::Elements {
                limit: self.element_limit,
            });
        }
        let bytes: usize = attrs
            .iter()
            .map(|a| a.name.local.len() + a.value.len())
            .sum();
        self.attribute_bytes
            .set(self.attribute_bytes.get().saturating_add(bytes));
        if self.attribute_bytes.get() > self.attribute_limit {
            self.note(Overbuilt::Attributes {
                limit: self.attribute_limit,
            });
        }
        let template = name.ns == ns!(html) && name.local == local_name!("template");
        let id = self.add(name);
        if template {
            let contents = self.add(QualName::new(None, ns!(), local_name!("")));
            self.nodes.borrow_mut()[id].contents = Some(contents);
        }
        id
    }

    fn create_comment(&self, _text: StrTendril) -> usize {
        self.add(QualName::new(None, ns!(), local_name!("")))
    }

    fn create_pi(&self, _target: StrTendril, _data: StrTendril) -> usize {
        self.add(QualName::new(None, ns!(), local_name!("")))
    }

    fn append(&self, parent: &usize, child: NodeOrText<usize>) {
        self.place(&child, self.depth_of(*parent) + 1);
    }

    fn append_based_on_parent_node(
        &self,
        element: &usize,
        prev_element: &usize,
        child: NodeOrText<usize>,
    ) {
        let depth = self.depth_of(*element).max(self.depth_of(*prev_element));
        self.place(&child, depth + 1);
    }

    fn append_doctype_to_document(&self, _: StrTendril, _: StrTendril, _: StrTendril) {}

    fn get_template_contents(&self, target: &usize) -> usize {
        let contents = self.nodes.borrow().get(*target).and_then(|n| n.contents);
        let depth = self.depth_of(*target);
        contents.map_or(*target, |c| {
            if let Some(node) = self.nodes.borrow_mut().get_mut(c) {
                node.depth = depth;
            }
            c
        })
    }

    fn same_node(&self, x: &usize, y: &usize) -> bool {
        x == y
    }

    fn set_quirks_mode(&self, _mode: QuirksMode) {}

    fn append_before_sibling(&self, sibling: &usize, new_node: NodeOrText<usize>) {
        self.place(&new_node, self.depth_of(*sibling));
    }

    fn add_attrs_if_missing(&self, _target: &usize, _attrs: Vec<Attribute>) {}

    fn remove_from_parent(&self, _target: &usize) {}

    /// The children's depths are left as they were: a node's depth is the one it had
    /// when it was last placed (what the parser's stack held then).
    fn reparent_children(&self, _node: &usize, _new_parent: &usize) {}
}

/// How much of `html` is fed to the parser between two looks at what it has built: a
/// hostile fragment is stopped within this many bytes of going past a limit.
const CHUNK: usize = 4096;

/// Parses `html` as the server's sanitizer and the client's theme inliner do (an HTML
/// fragment in a `<div>`, by html5ever's tree builder), building no tree, and refuses it
/// if an element is more than `depth_limit` deep or if the parser builds more than
/// [`max_elements`] or [`max_attribute_bytes`] for its length.
///
/// Both are costs of parsing that the content's size alone does not bound: the tree
/// builder's work per element grows with the depth, and an unclosed formatting element
/// (`<b>`, `<i>`, `<font>`, …) is *reconstructed*, as a new element, in every paragraph
/// that follows: 19 KB of `<p><b title=1>…<b title=200></p>` then `<p>x</p>`s built
/// 400,000 elements and took 168 MB; 18 KB holding one `<b style="…">` of 10 KB
/// became 10 MB of stored content. The parse stops within [`CHUNK`] bytes of a limit.
pub fn check_shape(html: &str, depth_limit: usize) -> Result<(), Overbuilt> {
    let sink = Measure::new(depth_limit, html.len());
    let mut parser = html5ever::parse_fragment(
        sink,
        html5ever::ParseOpts::default(),
        QualName::new(None, ns!(html), local_name!("div")),
        vec![],
        false,
    );
    let mut rest = html;
    while !rest.is_empty() {
        let mut end = rest.len().min(CHUNK);
        while !rest.is_char_boundary(end) {
            end += 1;
        }
        let (chunk, after) = rest.split_at(end);
        parser.process(StrTendril::from(chunk));
        if let Some(why) = parser.tokenizer.sink.sink.past.borrow().clone() {
            return Err(why);
        }
        rest = after;
    }
    let sink = parser.finish();
    match sink.past.into_inner() {
        Some(why) => Err(why),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn depth(html: &str, limit: usize) -> Result<(), Overbuilt> {
        check_shape(html, limit)
    }

    #[test]
    fn depth_is_the_parsed_trees() {
        assert!(depth("<div><p>a<span>b</span></p></div>", 3).is_ok());
        assert!(depth("<div><p>a<span>b</span></p></div>", 2).is_err());
        let unclosed = "<div>".repeat(1000);
        assert_eq!(
            depth(&unclosed, 256),
            Err(Overbuilt::Deep {
                tag: "div".into(),
                limit: 256
            })
        );
        assert!(depth(&"<div></div>".repeat(1000), 1).is_ok());
        // Void and self-closed-by-the-parser elements, paragraphs and items left open
        // (the parser closes them), and raw text do not nest.
        assert!(depth(&"<br><img src=x><hr/>".repeat(100), 1).is_ok());
        assert!(depth(&"<p>a<p>b".repeat(100), 1).is_ok());
        assert!(depth(&format!("<ul>{}</ul>", "<li>b".repeat(100)), 2).is_ok());
        let style = format!("<style>{}</style>", "<div>".repeat(100));
        assert!(depth(&style, 1).is_ok());
        // Stray end tags close nothing, as in the parser (a counter of end tags would
        // be fooled by them into seeing depth 1 here).
        let stray = "<div></span>".repeat(300);
        assert!(matches!(depth(&stray, 256), Err(Overbuilt::Deep { .. })));
        assert!(depth(&"<div></span>".repeat(256), 256).is_ok());
    }

    #[test]
    fn reopened_formatting_elements_are_counted() {
        let started = std::time::Instant::now();
        let opened: String = (0..200).map(|i| format!("<b title={i}>")).collect();
        let bomb = format!("<p>{opened}</p>{}", "<p>x</p>".repeat(100_000));
        assert!(bomb.len() < 1024 * 1024);
        assert_eq!(
            depth(&bomb, 256),
            Err(Overbuilt::Elements {
                limit: max_elements(bomb.len())
            })
        );
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
        // A few unclosed formatting tags in ordinary paragraphs (pasted from a word
        // processor) are read.
        let pasted = format!(
            "<p><font color=red><b>x</p>{}",
            "<p>text</p>".repeat(10_000)
        );
        assert!(depth(&pasted, 256).is_ok());
    }

    #[test]
    fn reopened_attributes_are_counted() {
        let style = "color:red;".repeat(1000);
        let bomb = format!(
            "<p><b style=\"{style}\"></p>{}",
            "<p><img></p>".repeat(2_000)
        );
        assert_eq!(
            depth(&bomb, 256),
            Err(Overbuilt::Attributes {
                limit: max_attribute_bytes(bomb.len())
            })
        );
        // Long attributes that are not rebuilt are read.
        let long = format!("<p style=\"{style}\">x</p>").repeat(50);
        assert!(depth(&long, 256).is_ok());
    }

    #[test]
    fn text_is_counted_without_whitespace_or_raw_text() {
        assert_eq!(text_chars("<p>a &lt;b&gt; 字</p>"), 5);
        assert_eq!(text_chars("<p>one two</p>\n<p>three</p>"), 11);
        assert_eq!(text_chars("<style>p{color:red}</style><p>x</p>"), 1);
        assert_eq!(text_chars("<script>var a = '<p>';</script>y"), 1);
        assert_eq!(text_chars(&"<b>文</b>".repeat(20_000)), 20_000);
    }

    #[test]
    fn ninety_thousand_nested_divs_are_refused_at_once() {
        let started = std::time::Instant::now();
        let divs = "<div>".repeat(90_000);
        assert!(depth(&divs, 256).is_err());
        assert!(started.elapsed() < std::time::Duration::from_millis(500));
    }
}
