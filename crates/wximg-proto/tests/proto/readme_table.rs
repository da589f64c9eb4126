//! The README's error table is the enum's: this fails when they drift apart, and prints
//! the table to paste.

#[test]
fn readme_error_table_matches_the_enum() {
    let readme = include_str!("../../../../README.md");
    let begin = "<!-- error-table:begin -->\n";
    let end = "<!-- error-table:end -->";
    let start = readme
        .find(begin)
        .expect("README has the error-table markers")
        + begin.len();
    let stop = readme[start..].find(end).expect("end marker") + start;
    let expected = wximg_proto::ErrCode::markdown_table();
    assert!(
        readme[start..stop] == expected,
        "README.md's error table is out of date; replace it with:\n{expected}"
    );
}
