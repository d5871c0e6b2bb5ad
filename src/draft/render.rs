//! Draft text from handlebars templates: one title and one body template per lifecycle
//! stage, overridable per component (`drafts/<component>/<kind>.body.hbs`). The embedded
//! defaults serve when the templates directory does not have a file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use handlebars::Handlebars;
use serde::Serialize;

use super::DraftKind;

/// Templates built into the binary; a file of the same name in the templates directory
/// replaces one.
pub const EMBEDDED: &[(&str, &str)] = &[
    (
        "drafts/new_incident.title",
        include_str!("../../templates/drafts/new_incident.title.hbs"),
    ),
    (
        "drafts/new_incident.body",
        include_str!("../../templates/drafts/new_incident.body.hbs"),
    ),
    (
        "drafts/update.title",
        include_str!("../../templates/drafts/update.title.hbs"),
    ),
    (
        "drafts/update.body",
        include_str!("../../templates/drafts/update.body.hbs"),
    ),
    (
        "drafts/resolution.title",
        include_str!("../../templates/drafts/resolution.title.hbs"),
    ),
    (
        "drafts/resolution.body",
        include_str!("../../templates/drafts/resolution.body.hbs"),
    ),
    (
        "drafts/still_investigating.body",
        include_str!("../../templates/drafts/still_investigating.body.hbs"),
    ),
    ("page/index", include_str!("../../templates/page/index.hbs")),
    (
        "page/not_found",
        include_str!("../../templates/page/not_found.hbs"),
    ),
    (
        "page/history",
        include_str!("../../templates/page/history.hbs"),
    ),
    (
        "page/incident",
        include_str!("../../templates/page/incident.hbs"),
    ),
    (
        "board/board",
        include_str!("../../templates/board/board.hbs"),
    ),
    (
        "board/draft",
        include_str!("../../templates/board/draft.hbs"),
    ),
    (
        "board/login",
        include_str!("../../templates/board/login.hbs"),
    ),
    ("board/head", include_str!("../../templates/board/head.hbs")),
    (
        "board/draft_card",
        include_str!("../../templates/board/draft_card.hbs"),
    ),
];

/// A template problem with its file and line.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{file}:{line}: {reason}")]
pub struct TemplateProblem {
    pub file: String,
    pub line: usize,
    pub reason: String,
}

/// The compiled templates.
pub struct Templates {
    hb: Handlebars<'static>,
    /// The same templates with HTML escaping on, made once at load rather than per render.
    html: Handlebars<'static>,
}

impl Templates {
    /// Loads the templates the config points at (embedded ones where no file overrides).
    pub fn from_config(config: &crate::config::Config) -> Result<Templates, String> {
        let dir = config.templates.as_path();
        if config.templates_explicit && !dir.is_dir() {
            return Err(format!("templates: {} is not a directory", dir.display()));
        }
        Templates::load(dir.is_dir().then_some(dir)).map_err(|problems| {
            problems
                .iter()
                .map(|p| p.to_string())
                .collect::<Vec<_>>()
                .join("\n")
        })
    }

    /// Embedded defaults, overridden by `*.hbs` files under `dir` (when it exists).
    /// Every broken file is reported.
    pub fn load(dir: Option<&Path>) -> Result<Templates, Vec<TemplateProblem>> {
        let mut hb = Handlebars::new();
        hb.set_strict_mode(false);
        hb.register_escape_fn(handlebars::no_escape);
        let mut problems = Vec::new();
        for (name, text) in EMBEDDED {
            if let Err(e) = hb.register_template_string(name, *text) {
                problems.push(problem(&format!("<embedded>/{name}.hbs"), &e));
            }
        }
        if let Some(dir) = dir {
            let mut files = Vec::new();
            collect_hbs(dir, &mut files);
            files.sort();
            for file in files {
                let Ok(rel) = file.strip_prefix(dir) else {
                    continue;
                };
                let name = rel
                    .to_string_lossy()
                    .trim_end_matches(".hbs")
                    .replace('\\', "/");
                match std::fs::read_to_string(&file) {
                    Ok(text) => {
                        if let Err(e) = hb.register_template_string(&name, text) {
                            problems.push(problem(&file.display().to_string(), &e));
                        }
                    }
                    Err(e) => problems.push(TemplateProblem {
                        file: file.display().to_string(),
                        line: 0,
                        reason: format!("cannot read: {e}"),
                    }),
                }
            }
        }
        if problems.is_empty() {
            let mut html = hb.clone();
            html.register_escape_fn(handlebars::html_escape);
            Ok(Templates { hb, html })
        } else {
            Err(problems)
        }
    }

    pub fn has(&self, name: &str) -> bool {
        self.hb.has_template(name)
    }

    /// Renders one template; text templates escape nothing (the page escapes on its own).
    pub fn render<T: Serialize>(&self, name: &str, data: &T) -> Result<String, String> {
        self.hb
            .render(name, data)
            .map_err(|e| format!("template {name}: {e}"))
    }

    /// Renders HTML with escaping on.
    pub fn render_html<T: Serialize>(&self, name: &str, data: &T) -> Result<String, String> {
        self.html
            .render(name, data)
            .map_err(|e| format!("template {name}: {e}"))
    }

    /// Title and body for a draft: the first component (in the given order) with its own
    /// template wins, else the stage's default.
    pub fn draft_text<T: Serialize>(
        &self,
        kind: DraftKind,
        components: &[String],
        data: &T,
    ) -> Result<(String, String), String> {
        let pick = |part: &str| {
            components
                .iter()
                .map(|c| format!("drafts/{c}/{}.{part}", kind.as_str()))
                .find(|n| self.has(n))
                .unwrap_or_else(|| format!("drafts/{}.{part}", kind.as_str()))
        };
        let title = self.render(&pick("title"), data)?;
        let body = self.render(&pick("body"), data)?;
        Ok((
            collapse_blank_lines(title.trim()),
            collapse_blank_lines(body.trim()),
        ))
    }
}

/// Templates make stray blank lines around conditionals; keep at most one.
fn collapse_blank_lines(text: &str) -> String {
    let mut out = String::new();
    let mut blank = 0;
    for line in text.lines() {
        let line = line.trim_end();
        if line.is_empty() {
            blank += 1;
            if blank > 1 {
                continue;
            }
        } else {
            blank = 0;
        }
        out.push_str(line);
        out.push('\n');
    }
    out.trim_end().to_string()
}

fn collect_hbs(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect_hbs(&path, out);
        } else if path.extension().is_some_and(|e| e == "hbs") {
            out.push(path);
        }
    }
}

fn problem(file: &str, e: &handlebars::TemplateError) -> TemplateProblem {
    TemplateProblem {
        file: file.to_string(),
        line: e.pos().map(|(line, _)| line).unwrap_or(0),
        reason: e.reason().to_string(),
    }
}

/// "Public API", "Public API and Checkout", "Public API, Checkout and Search".
pub fn join_names(names: &[String]) -> String {
    match names {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// A map usable in templates where keys are looked up by name.
pub type Named = BTreeMap<String, String>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_templates_compile_and_broken_overrides_name_their_line() {
        assert!(Templates::load(None).is_ok());
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("drafts")).unwrap();
        std::fs::write(
            dir.path().join("drafts/update.body.hbs"),
            "ok\n{{#if x}}\nnever closed\n",
        )
        .unwrap();
        let problems = Templates::load(Some(dir.path())).err().unwrap();
        assert_eq!(problems.len(), 1);
        assert!(problems[0].file.ends_with("drafts/update.body.hbs"));
        assert!(problems[0].line >= 2, "{:?}", problems[0]);
    }

    #[test]
    fn names_join_as_people_write_them() {
        let n = |v: &[&str]| join_names(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(n(&["API"]), "API");
        assert_eq!(n(&["API", "Web"]), "API and Web");
        assert_eq!(n(&["API", "Web", "Search"]), "API, Web and Search");
    }
}
