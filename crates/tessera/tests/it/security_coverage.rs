//! `docs/security-coverage.md` stays true: every rule it must cover has exactly one row, every test it
//! names exists, and every test named after a rule is listed in that rule's row. So does
//! `docs/oidc-conformance.md`: every certification module has a row naming tests that exist.
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The rules the table covers: security.md sections 1.1 to 1.5, the OAuth (OA-), OIDC and JOSE rules
/// of 1.6 to 1.8, and the consent, admin, web, logging and crypto rules of section 1.9.
const RULES: &[(&str, u32)] = &[
    ("PW", 11),
    ("RL", 8),
    ("MFA", 8),
    ("REC", 7),
    ("REG", 4),
    ("SES", 9),
    ("OA", 22),
    ("CON", 2),
    ("ADM", 4),
    ("WEB", 5),
    ("LOG", 4),
    ("CRY", 3),
    ("OA", 22),
    ("OIDC", 8),
    ("JWT", 4),
];

const STATUSES: &[&str] = &["proven", "partial: ", "missing: ", "not yet applicable: "];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Every `.rs` file under `dir`, read.
fn sources(dir: &Path, out: &mut Vec<String>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            if p.file_name().is_some_and(|n| n != "target") {
                sources(&p, out);
            }
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(std::fs::read_to_string(&p).unwrap());
        }
    }
}

/// Every function name declared in the workspace's crates.
fn function_names() -> BTreeSet<String> {
    let mut files = Vec::new();
    sources(&root().join("crates"), &mut files);
    let mut names = BTreeSet::new();
    for f in &files {
        for (i, _) in f.match_indices("fn ") {
            let before = f[..i].chars().next_back();
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                continue;
            }
            let name: String = f[i + 3..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                names.insert(name);
            }
        }
    }
    names
}

/// The rule ids a test name starts with: `web_01_web_03_pages…` gives WEB-01 and WEB-03.
fn rules_named(test: &str) -> Vec<String> {
    let prefixes: BTreeSet<String> = RULES.iter().map(|(p, _)| p.to_lowercase()).collect();
    let mut ids = Vec::new();
    let mut rest = test;
    loop {
        let mut parts = rest.splitn(3, '_');
        let (Some(p), Some(n), Some(tail)) = (parts.next(), parts.next(), parts.next()) else {
            return ids;
        };
        if !prefixes.contains(p) || n.len() != 2 || !n.chars().all(|c| c.is_ascii_digit()) {
            return ids;
        }
        ids.push(format!("{}-{n}", p.to_uppercase()));
        rest = tail;
    }
}

#[test]
fn the_coverage_table_names_only_tests_that_exist() {
    let doc = std::fs::read_to_string(root().join("docs/security-coverage.md")).unwrap();
    let names = function_names();
    let mut rows: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut problems = Vec::new();
    for line in doc.lines().filter(|l| l.starts_with("| ")) {
        let cells: Vec<&str> = line.trim_matches('|').split(" | ").map(str::trim).collect();
        let [rule, tests, status] = cells[..] else {
            problems.push(format!("not three cells: {line}"));
            continue;
        };
        if rule == "rule" {
            continue;
        }
        if !STATUSES.iter().any(|s| status.starts_with(s)) {
            problems.push(format!("{rule}: unknown status {status:?}"));
        }
        let listed: BTreeSet<String> = tests
            .split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_owned)
            .collect();
        if status == "proven" && listed.is_empty() {
            problems.push(format!("{rule}: proven by no test"));
        }
        for t in &listed {
            if !names.contains(t) {
                problems.push(format!("{rule}: no test named `{t}`"));
            }
        }
        if rows.insert(rule.to_owned(), listed).is_some() {
            problems.push(format!("{rule}: listed twice"));
        }
    }
    for (prefix, count) in RULES {
        for n in 1..=*count {
            let id = format!("{prefix}-{n:02}");
            if !rows.contains_key(&id) {
                problems.push(format!("{id}: no row"));
            }
        }
    }
    for name in &names {
        for id in rules_named(name) {
            if let Some(listed) = rows.get(&id)
                && !listed.contains(name)
            {
                problems.push(format!("`{name}` is named after {id} but not in its row"));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "docs/security-coverage.md is out of date:\n{}",
        problems.join("\n")
    );
}

/// The modules `docs/oidc-conformance.md` maps: the Basic (38), Config (1), RP-initiated logout (11) and
/// back-channel logout (2) certification plans of security.md section 1.10.
const CONFORMANCE_MODULES: usize = 52;

/// `docs/oidc-conformance.md` stays true: one row per module, each naming at least one test
/// (`file::function`) that exists, and every `conformance_` test is named on the page.
#[test]
fn the_conformance_map_names_only_tests_that_exist() {
    let doc = std::fs::read_to_string(root().join("docs/oidc-conformance.md")).unwrap();
    let names = function_names();
    let mut modules = BTreeSet::new();
    let mut named = BTreeSet::new();
    let mut problems = Vec::new();
    for line in doc.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = line.trim_matches('|').split(" | ").map(str::trim).collect();
        let [module, _, tests, _] = cells[..] else {
            problems.push(format!("not four cells: {line}"));
            continue;
        };
        if !modules.insert(module.to_owned()) {
            problems.push(format!("{module}: listed twice"));
        }
        let listed: Vec<&str> = tests
            .split('`')
            .skip(1)
            .step_by(2)
            .filter_map(|t| t.rsplit_once("::").map(|(_, f)| f))
            .collect();
        if listed.is_empty() {
            problems.push(format!("{module}: no test"));
        }
        for t in listed {
            if !names.contains(t) {
                problems.push(format!("{module}: no test named `{t}`"));
            }
            named.insert(t.to_owned());
        }
    }
    if modules.len() != CONFORMANCE_MODULES {
        problems.push(format!(
            "{} modules, not {CONFORMANCE_MODULES}",
            modules.len()
        ));
    }
    for n in names.iter().filter(|n| n.starts_with("conformance_")) {
        if !named.contains(n) {
            problems.push(format!("`{n}` proves no module on the page"));
        }
    }
    assert!(
        problems.is_empty(),
        "docs/oidc-conformance.md is out of date:\n{}",
        problems.join("\n")
    );
}

#[test]
fn rule_ids_are_read_from_test_names() {
    assert_eq!(
        rules_named("web_01_web_03_pages_carry_the_security_headers"),
        ["WEB-01", "WEB-03"]
    );
    assert_eq!(
        rules_named("pw_01_pw_04_weak_and_common"),
        ["PW-01", "PW-04"]
    );
    assert!(rules_named("sign_up_proves_the_email").is_empty());
    assert!(rules_named("ipv6_01_grouped").is_empty());
}
