//! The `PUBLISHJOBFINISH` event's XML, as the platform pushes it
//! (`doc/offiaccount/Publish/Callback_on_finish`; the `Event` value actually sent is
//! `PUBLISHJOBFINISH`, whatever the doc's first example said).
//!
//! Invariant: the XML is well-formed whatever the strings in it hold (text is escaped,
//! CDATA sections are split around `]]>`), and the two account ids in it are the same
//! for an app every time, on every node:
//!
//! - `ToUserName` is the account's original id (`gh_` + 12 hex digits). wximg's apps have
//!   none, so it is derived from the appid ([`original_id`]): stable, and distinct per app.
//! - `FromUserName` is, per the doc, the openid of the platform's mass-send helper
//!   ("mphelper"), an openid-like 28-character value in its examples. wximg derives one
//!   per app the same way ([`publisher_openid`]); the push's `openid` query parameter
//!   carries it too, as the platform's pushes do.

use wximg_proto::AppId;

use super::PublishJobFinish;

/// The account's original id, derived from its appid: `gh_` + 12 lowercase hex digits.
pub fn original_id(appid: &AppId) -> String {
    let hash = blake3::derive_key("wximg 2026 original id v1", appid.as_str().as_bytes());
    let hex: String = hash[..6].iter().map(|b| format!("{b:02x}")).collect();
    format!("gh_{hex}")
}

/// The openid the event comes from, derived from the appid: `o` + 27 URL-safe characters.
pub fn publisher_openid(appid: &AppId) -> String {
    use base64::Engine;
    let hash = blake3::derive_key("wximg 2026 mphelper openid v1", appid.as_str().as_bytes());
    let text = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(hash);
    format!("o{}", &text[..27])
}

/// `s` as one or more CDATA sections (a `]]>` inside is split across two).
fn cdata(s: &str) -> String {
    format!("<![CDATA[{}]]>", s.replace("]]>", "]]]]><![CDATA[>"))
}

/// `s` as XML text.
fn text(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The event's XML, as the platform writes it.
pub fn publish_job_finish_xml(event: &PublishJobFinish) -> String {
    let mut xml = String::with_capacity(512);
    xml.push_str("<xml>");
    xml.push_str(&format!(
        "<ToUserName>{}</ToUserName>",
        cdata(&original_id(&event.appid))
    ));
    xml.push_str(&format!(
        "<FromUserName>{}</FromUserName>",
        cdata(&publisher_openid(&event.appid))
    ));
    xml.push_str(&format!("<CreateTime>{}</CreateTime>", event.create_time));
    xml.push_str("<MsgType><![CDATA[event]]></MsgType>");
    xml.push_str("<Event><![CDATA[PUBLISHJOBFINISH]]></Event>");
    xml.push_str("<PublishEventInfo>");
    xml.push_str(&format!(
        "<publish_id>{}</publish_id>",
        text(&event.publish_id)
    ));
    xml.push_str(&format!(
        "<publish_status>{}</publish_status>",
        event.publish_status
    ));
    if let Some(article_id) = &event.article_id {
        xml.push_str(&format!("<article_id>{}</article_id>", cdata(article_id)));
    }
    if !event.article_urls.is_empty() {
        xml.push_str("<article_detail>");
        xml.push_str(&format!("<count>{}</count>", event.article_urls.len()));
        for (i, url) in event.article_urls.iter().enumerate() {
            xml.push_str(&format!(
                "<item><idx>{}</idx><article_url>{}</article_url></item>",
                i + 1,
                cdata(url)
            ));
        }
        xml.push_str("</article_detail>");
    }
    for idx in &event.fail_idx {
        xml.push_str(&format!("<fail_idx>{idx}</fail_idx>"));
    }
    xml.push_str("</PublishEventInfo>");
    xml.push_str("</xml>");
    xml
}

#[cfg(test)]
mod tests {
    use super::*;

    fn appid() -> AppId {
        AppId::parse("wx0123456789abcdef").expect("appid")
    }

    #[test]
    fn ids_look_like_the_platforms_and_are_stable() {
        let gh = original_id(&appid());
        assert_eq!(gh.len(), 15);
        assert!(gh.starts_with("gh_") && gh[3..].bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(gh, original_id(&appid()));
        let other = AppId::parse("wx0123456789abcdee").expect("appid");
        assert_ne!(gh, original_id(&other));
        let openid = publisher_openid(&appid());
        assert_eq!(openid.len(), 28);
        assert!(openid.starts_with('o'));
    }

    #[test]
    fn success_and_failure_have_the_platforms_fields() {
        let ok = PublishJobFinish {
            appid: appid(),
            publish_id: "2247503051".into(),
            publish_status: 0,
            article_id: Some("b5O2OUs25HBxRceL7hfReg".into()),
            article_urls: vec!["http://x/s/a]]>b".into(), "http://x/s/c".into()],
            fail_idx: vec![],
            create_time: 1481013459,
        };
        let xml = publish_job_finish_xml(&ok);
        assert!(xml.contains("<CreateTime>1481013459</CreateTime>"));
        assert!(xml.contains("<Event><![CDATA[PUBLISHJOBFINISH]]></Event>"));
        assert!(xml.contains("<publish_id>2247503051</publish_id><publish_status>0</publish_status><article_id><![CDATA[b5O2OUs25HBxRceL7hfReg]]></article_id>"));
        assert!(xml.contains("<article_detail><count>2</count><item><idx>1</idx><article_url><![CDATA[http://x/s/a]]]]><![CDATA[>b]]></article_url></item><item><idx>2</idx>"));
        assert!(!xml.contains("fail_idx"));
        let failed = PublishJobFinish {
            publish_status: 2,
            article_id: None,
            article_urls: vec![],
            fail_idx: vec![1, 2],
            ..ok
        };
        let xml = publish_job_finish_xml(&failed);
        assert!(xml.contains(
            "<publish_status>2</publish_status><fail_idx>1</fail_idx><fail_idx>2</fail_idx></PublishEventInfo>"
        ));
        assert!(!xml.contains("article_detail") && !xml.contains("article_id"));
    }
}
