//! `docs/FORMAT.md` states every offset and size that the code uses.
//!
//! Each fixed-layout structure's table in the document is compared, row by row, with
//! the layout constants the code exports (`drift::format::LAYOUTS`); each layout must
//! also cover its size without gaps or overlaps. A field added, moved or resized in
//! the code without the document (or the reverse) fails here.

use drift::format::LAYOUTS;

fn doc() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/FORMAT.md")).expect("docs/FORMAT.md")
}

/// The (offset, size, field) rows of the first offset/size/field table after `### title`.
fn table(doc: &str, title: &str) -> Vec<(usize, usize, String)> {
    let heading = format!("### {title}");
    let start = doc.lines().position(|l| l.trim() == heading).unwrap_or_else(|| panic!("FORMAT.md has no section {heading:?}"));
    let mut rows = Vec::new();
    let mut in_table = false;
    for line in doc.lines().skip(start + 1) {
        if line.starts_with("## ") || line.starts_with("### ") {
            break;
        }
        let line = line.trim();
        if !line.starts_with('|') {
            if in_table {
                break;
            }
            continue;
        }
        let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
        if cells.first() == Some(&"offset") {
            in_table = true;
            continue;
        }
        if !in_table || cells[0].starts_with("--") || cells[0].starts_with(":") || cells[0].starts_with("-") {
            continue;
        }
        let offset = cells[0].parse().unwrap_or_else(|_| panic!("{title}: bad offset cell {:?}", cells[0]));
        let size = cells[1].parse().unwrap_or_else(|_| panic!("{title}: bad size cell {:?}", cells[1]));
        rows.push((offset, size, cells[2].to_owned()));
    }
    assert!(!rows.is_empty(), "section {heading:?} has no offset/size/field table");
    rows
}

#[test]
fn every_documented_offset_and_size_matches_the_code() {
    let doc = doc();
    for layout in LAYOUTS {
        let documented = table(&doc, layout.name);
        let coded: Vec<(usize, usize, String)> = layout.fields.iter().map(|f| (f.offset, f.size, f.name.to_owned())).collect();
        assert_eq!(documented, coded, "FORMAT.md section {:?} disagrees with the code", layout.name);
    }
}

#[test]
fn every_layout_covers_its_size_without_gaps() {
    for layout in LAYOUTS {
        let mut at = 0;
        for f in layout.fields {
            assert_eq!(f.offset, at, "{}: field {} should start at {at}", layout.name, f.name);
            at += f.size;
        }
        assert_eq!(at, layout.size, "{}: fields add up to {at}, not {}", layout.name, layout.size);
    }
}

#[test]
fn every_documented_field_table_belongs_to_a_checked_layout() {
    let doc = doc();
    let mut section = None;
    for line in doc.lines() {
        if let Some(title) = line.strip_prefix("### ") {
            section = Some(title.trim().to_owned());
        }
        if line.trim_start().starts_with("| offset | size | field") {
            let title = section.clone().expect("a field table outside any ### section");
            assert!(LAYOUTS.iter().any(|l| l.name == title), "FORMAT.md documents {title:?}, which no code layout checks");
        }
    }
}
