//! The MiniLM dev set's attributes and its six filter workloads (`filters.tsv` beside
//! the dataset), shared by `examples/recall_qps.rs` and the filtered recall test.

use drift::{AttributeDef, AttributeType, AttributeValue, Attributes};

/// The six workloads of `filters.tsv`, from the most to the least selective in spirit.
pub const WORKLOADS: [&str; 6] = ["own_section", "section_libs", "section_rare", "small_packages", "python_arch_all", "not_docs_or_headers"];

/// The dev set's schema: the columns of `attributes.tsv`.
pub fn schema() -> Vec<AttributeDef> {
    vec![
        AttributeDef::new("section", AttributeType::String),
        AttributeDef::new("architecture", AttributeType::String),
        AttributeDef::new("installed_size_kb", AttributeType::U64),
        AttributeDef::new("tags", AttributeType::Tags),
    ]
}

/// Reads `attributes.tsv` / `query_attributes.tsv`: (section, architecture,
/// installed size, tags) per row.
pub fn read_attributes(path: &std::path::Path) -> Vec<Attributes> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
        .lines()
        .skip(1)
        .map(|line| {
            let f: Vec<&str> = line.split('\t').collect();
            let size: u64 = f[3].parse().expect("installed_size_kb");
            let mut a = Attributes::new().set("section", f[1]).set("architecture", f[2]).set("installed_size_kb", size);
            let tags: Vec<String> = f.get(4).unwrap_or(&"").split(',').filter(|t| !t.is_empty()).map(str::to_owned).collect();
            if !tags.is_empty() {
                a.insert("tags", AttributeValue::Tags(tags));
            }
            a
        })
        .collect()
}

/// Workload `name` as filter text for a query with attributes `query` (`own_section`
/// is the query's own section).
pub fn filter_text(name: &str, query: &Attributes) -> String {
    match name {
        "own_section" => match query.get("section") {
            Some(AttributeValue::String(s)) => format!("section == '{s}'"),
            _ => panic!("a query without a section"),
        },
        "section_libs" => "section == 'libs'".into(),
        "section_rare" => "section in ('hamradio', 'comm', 'vcs')".into(),
        "small_packages" => "installed_size_kb < 40".into(),
        "python_arch_all" => "architecture == 'all' and tags contains 'devel::lang:python'".into(),
        "not_docs_or_headers" => "not (section in ('doc', 'libdevel'))".into(),
        other => panic!("unknown workload {other}"),
    }
}
