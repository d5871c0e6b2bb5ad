use super::*;

fn problems(sources: &[(&str, &str)]) -> Vec<String> {
    let owned: Vec<(String, String)> = sources
        .iter()
        .map(|(f, t)| (f.to_string(), t.to_string()))
        .collect();
    match from_sources(&owned, None) {
        Ok(_) => Vec::new(),
        Err(e) => e.problems.iter().map(ToString::to_string).collect(),
    }
}

/// Each `tests/fixtures/catalog/<name>.yaml` must fail with exactly the text in
/// `<name>.expected`. `STATUSGATE_BLESS=1` rewrites the expected files after a deliberate
/// change of wording.
#[test]
fn golden_fixtures_fail_with_the_expected_text() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/catalog");
    let mut names: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    names.sort();
    assert!(names.len() >= 10, "fixtures missing in {}", dir.display());
    let bless = std::env::var_os("STATUSGATE_BLESS").is_some();
    let mut failures = Vec::new();
    for path in names {
        let file = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{file}: {e}"));
        let got = match from_sources(&[(file.clone(), text)], None) {
            Ok(_) => "(loaded without problems)".to_string(),
            Err(e) => e.to_string(),
        };
        let expected_path = path.with_extension("expected");
        if bless {
            std::fs::write(&expected_path, format!("{got}\n"))
                .unwrap_or_else(|e| panic!("{file}: {e}"));
            continue;
        }
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
        if expected.trim_end() != got {
            failures.push(format!(
                "{file}\n  expected: {}\n  got:      {got}",
                expected.trim_end()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn problems_across_files_name_the_right_file_and_line() {
    let core = "components:\n  - id: api\n    name: API\n";
    let other = "components:\n  - id: api\n    name: Again\nroutes:\n  - name: r\n    match: ['a=b']\n    components: [apii]\n";
    assert_eq!(
        problems(&[("10-core.yaml", core), ("20-other.yaml", other)]),
        [
            "20-other.yaml:2: duplicate component id `api` (first declared at 10-core.yaml:2)",
            "20-other.yaml:7: route `r` names unknown component `apii`, did you mean `api`?",
        ]
    );
}

/// Lines are looked up only for problems and mapping tests: a valid catalog without
/// tests costs no scan; one problem, or one test, costs its file's.
#[test]
fn lines_are_scanned_only_when_something_names_one() {
    let scanned = |text: &str| {
        let files = [LazyLines::new("a.yaml", text)];
        let doc = Doc {
            fi: 0,
            file: "a.yaml",
            files: &files,
        };
        let mut b = Builder::default();
        b.file(&doc, text, true);
        let ok = b.finish(&files).is_ok();
        (ok, files[0].scanned())
    };
    let valid = "components:\n  - {id: api, name: API}\n  - {id: web, name: Web, depends_on: [api]}\nroutes:\n  - name: r\n    match: ['a=\"b\"']\n    components: [api]\n";
    assert_eq!(scanned(valid), (true, false));
    let unknown = valid.replace("components: [api]", "components: [apii]");
    assert_eq!(scanned(&unknown), (false, true));
    let tested = format!(
        "{valid}tests:\n  - name: t\n    labels: {{a: b}}\n    expect: {{api: major_outage}}\n"
    );
    assert_eq!(scanned(&tested), (true, true));
}

/// Past `BIG`, trees are freed beside the index build: the problems must still name
/// their lines.
#[test]
fn a_large_file_reports_problems_at_their_lines() {
    let mut text = String::from("components:\n  - {id: api, name: API}\nroutes:\n");
    let mut n = 0;
    while text.len() < 2 * BIG {
        text += &format!("  - name: r{n}\n    match: ['svc=\"{n}\"']\n    components: [api]\n");
        n += 1;
    }
    text += "  - name: bad\n    match: ['svc=~\"(\"']\n    components: [apii]\n";
    let last = text.lines().count();
    let got = problems(&[("big.yaml", &text)]);
    assert_eq!(got.len(), 2, "{got:?}");
    assert!(
        got[0].starts_with(&format!("big.yaml:{}: invalid matcher", last - 1)),
        "{got:?}"
    );
    assert_eq!(
        got[1],
        format!("big.yaml:{last}: route `bad` names unknown component `apii`, did you mean `api`?")
    );
}

#[test]
fn a_file_read_in_two_parts_reports_each_problem_once_even_when_read_again_whole() {
    let route = |n: usize, component: &str| {
        format!("  - name: r{n}\n    match: ['svc=\"{n}\"']\n    components: [{component}]\n")
    };
    let mut text = String::from("components:\n  - {id: api, name: API}\nroutes:\n");
    text += &route(0, "apii");
    let mut n = 1;
    while text.len() < super::super::yaml::SPLIT_FROM + BIG {
        text += &route(n, "api");
        n += 1;
    }
    // Problems that only the head's routes can reveal in the rest: a name the head
    // took (twice, both pointing at the head's), and a component nothing declares.
    let rest_starts = text.lines().count() + 1;
    let clashing = route(0, "api") + &route(0, "nope");
    text += &clashing;
    text += "  - name: bad\n    match: ['svc=~\"(\"']\n    components: [api]\n";
    let last = text.lines().count();
    // The same file, but the rest of its list has a block scalar, which only
    // `serde_norway` reads: the fast reader takes the head, refuses the rest, and the
    // file is read again whole.
    let refused =
        format!("{text}  - name: >-\n      folded\n    match: []\n    components: [api]\n");
    for text in [&text, &refused] {
        let at = super::super::yaml::cut(text).expect("a cut");
        let tail = std::thread::scope(|s| {
            let (_, tail) = super::super::yaml::split(s, text, at, Some).expect("the head read");
            tail.join().ok().flatten().map(|t| t.len())
        });
        assert_eq!(tail.is_none(), text == &refused);
        let got = problems(&[("big.yaml", text)]);
        let duplicate =
            |line| format!("big.yaml:{line}: duplicate route name `r0` (first used at big.yaml:4)");
        assert_eq!(got.len(), 5, "{got:?}");
        assert_eq!(
            got[..4],
            [
                "big.yaml:6: route `r0` names unknown component `apii`, did you mean `api`?"
                    .to_string(),
                duplicate(rest_starts),
                duplicate(rest_starts + 3),
                format!(
                    "big.yaml:{}: route `r0` names unknown component `nope`",
                    rest_starts + 5
                ),
            ]
        );
        let matcher = format!("big.yaml:{}: invalid matcher", last - 1);
        assert!(got[4].starts_with(&matcher), "{got:?}");
    }
    let valid = refused
        .replace(&clashing, "")
        .replace("[apii]", "[api]")
        .replace("=~\"(\"", "=~\".*\"");
    let catalog = from_sources(&[("big.yaml".into(), valid)], None).expect("valid");
    assert_eq!(catalog.route_count(), n + 2);
}

#[test]
fn a_broken_file_does_not_make_every_reference_unknown() {
    let broken = "components:\n  - id: api\n    name: [\n";
    let routes = "routes:\n  - name: r\n    match: []\n    components: [api]\n";
    let got = problems(&[("a.yaml", broken), ("b.yaml", routes)]);
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(got[0].starts_with("a.yaml:4: invalid YAML: "), "{got:?}");
}

#[test]
fn load_reads_a_directory_in_name_order_and_refuses_a_missing_path() {
    let dir = std::env::temp_dir().join(format!("statusgate-catalog-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let empty = Catalog::load(&dir).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((empty.components().len(), empty.route_count()), (0, 0));
    let write = |name: &str, text: &str| {
        std::fs::write(dir.join(name), text).unwrap_or_else(|e| panic!("{e}"))
    };
    write("20-b.yml", "components:\n  - {id: b, name: B}\n");
    write("10-a.yaml", "components:\n  - {id: a, name: A}\n");
    write(".10-a.yaml.swp", "not: [yaml");
    write("README.md", "# not a mapping file");
    let catalog = Catalog::load(&dir).unwrap_or_else(|e| panic!("{e}"));
    let ids: Vec<&str> = catalog.components().iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, ["a", "b"]);
    write("30-c.yaml", "components: 3\n");
    let err = Catalog::load(&dir).map(|_| ()).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}:1: `components` must be a list",
            dir.join("30-c.yaml").display()
        )
    );
    let _ = std::fs::remove_dir_all(&dir);
    let missing = Catalog::load(&dir).map(|_| ()).unwrap_err();
    assert_eq!(missing.problems.len(), 1);
    assert!(
        missing.problems[0].reason.starts_with("cannot read: "),
        "{missing}"
    );
}
