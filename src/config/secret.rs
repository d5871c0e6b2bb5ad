//! Secrets come from the environment or from files, never only from config text, and they
//! cannot be printed by accident.

use std::fmt;
use std::path::Path;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// A secret value. `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
    /// Constant-time equality. Both sides are hashed first so that the comparison time does
    /// not even depend on the lengths.
    pub fn matches(&self, candidate: &[u8]) -> bool {
        let a = Sha256::digest(self.0.as_bytes());
        let b = Sha256::digest(candidate);
        a.ct_eq(&b).into()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Reads a secret file; surrounding whitespace (the trailing newline editors add) is trimmed.
pub fn read_secret_file(path: &Path) -> Result<Secret, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read secret file {}: {e}", path.display()))?;
    let value = text.trim();
    if value.is_empty() {
        return Err(format!("secret file {} is empty", path.display()));
    }
    Ok(Secret::new(value))
}

/// Where a secret comes from, in order of precedence: `ENV`, then `ENV_FILE`, then the
/// `*_file` key of the config file.
pub fn resolve(
    env: &dyn Fn(&str) -> Option<String>,
    env_name: &str,
    config_file: Option<&Path>,
) -> Result<Option<Secret>, String> {
    if let Some(v) = env(env_name).filter(|v| !v.trim().is_empty()) {
        return Ok(Some(Secret::new(v.trim())));
    }
    if let Some(path) = env(&format!("{env_name}_FILE")).filter(|v| !v.is_empty()) {
        return read_secret_file(Path::new(&path))
            .map(Some)
            .map_err(|e| format!("{env_name}_FILE: {e}"));
    }
    match config_file {
        Some(path) => read_secret_file(path).map(Some),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_show_in_debug_output() {
        let s = Secret::new("hunter2");
        assert!(!format!("{s:?}").contains("hunter2"));
        assert!(s.matches(b"hunter2"));
        assert!(!s.matches(b"hunter3"));
        assert!(!s.matches(b""));
    }

    #[test]
    fn environment_beats_files() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("tok");
        std::fs::write(&file, "from-file\n").unwrap();
        let none = |_: &str| None;
        assert_eq!(
            resolve(&none, "X", Some(&file)).unwrap().unwrap().expose(),
            "from-file"
        );
        let env = |k: &str| (k == "X").then(|| "from-env".to_string());
        assert_eq!(
            resolve(&env, "X", Some(&file)).unwrap().unwrap().expose(),
            "from-env"
        );
        let path = file.display().to_string();
        let env_file = move |k: &str| (k == "X_FILE").then(|| path.clone());
        assert_eq!(
            resolve(&env_file, "X", None).unwrap().unwrap().expose(),
            "from-file"
        );
    }
}
