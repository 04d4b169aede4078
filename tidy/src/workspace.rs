//! The workspace as the checks see it: its crates, where they live, and what
//! each depends on, read from `cargo metadata --no-deps` (no build needed).
//!
//! The checks work on this small in-memory model so that tests can build one
//! by hand; [`load`] fills it from the real metadata.

use std::path::{Path, PathBuf};

use cargo_metadata::{DependencyKind, Metadata, MetadataCommand};

/// How a crate depends on another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `[dependencies]`: linked into the crate.
    Normal,
    /// `[build-dependencies]`: used by the build script.
    Build,
    /// `[dev-dependencies]`: tests, examples and benchmarks only.
    Dev,
}

impl Kind {
    /// The manifest section this kind is written in.
    pub fn section(self) -> &'static str {
        match self {
            Kind::Normal => "dependencies",
            Kind::Build => "build-dependencies",
            Kind::Dev => "dev-dependencies",
        }
    }
}

/// One dependency of a workspace crate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dep {
    /// The depended-on package's name (not its rename).
    pub name: String,
    /// Normal, build or dev.
    pub kind: Kind,
    /// Whether it is another crate of this workspace (a path dependency on a
    /// workspace member) rather than an external one.
    pub workspace: bool,
    /// The 1-based line of the manifest that declares it (1 if not found).
    pub line: usize,
}

/// One crate of the workspace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Crate {
    /// Its package name.
    pub name: String,
    /// Its directory, relative to the workspace root, with `/` separators
    /// (empty for a package at the root).
    pub dir: String,
    /// Its dependencies, all kinds.
    pub deps: Vec<Dep>,
}

impl Crate {
    /// Its manifest, relative to the workspace root.
    pub fn manifest(&self) -> String {
        if self.dir.is_empty() {
            "Cargo.toml".to_owned()
        } else {
            format!("{}/Cargo.toml", self.dir)
        }
    }
}

/// The workspace: its root directory and its member crates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workspace {
    /// The workspace root on disk.
    pub root: PathBuf,
    /// Its member crates, in metadata order.
    pub crates: Vec<Crate>,
}

impl Workspace {
    /// The member called `name`, if there is one.
    pub fn get(&self, name: &str) -> Option<&Crate> {
        self.crates.iter().find(|c| c.name == name)
    }
}

/// Runs `cargo metadata --no-deps` for the manifest at `manifest` (or, with
/// `None`, for the workspace around the current directory) and builds the
/// model from it.
pub fn load(manifest: Option<&Path>) -> Result<Workspace, cargo_metadata::Error> {
    let mut cmd = MetadataCommand::new();
    cmd.no_deps();
    if let Some(m) = manifest {
        cmd.manifest_path(m);
    }
    Ok(from_metadata(&cmd.exec()?))
}

/// Builds the model from parsed metadata, reading each member's manifest to
/// find the line of each dependency (a missing manifest only costs the line).
pub fn from_metadata(meta: &Metadata) -> Workspace {
    let root = meta.workspace_root.as_std_path().to_path_buf();
    let members = meta.workspace_packages();
    let member_names: Vec<String> = members.iter().map(|p| p.name.to_string()).collect();
    let crates = members
        .iter()
        .map(|p| {
            let manifest_text = std::fs::read_to_string(&p.manifest_path).unwrap_or_default();
            let dir = p
                .manifest_path
                .parent()
                .and_then(|d| d.strip_prefix(&meta.workspace_root).ok())
                .map(|d| d.as_str().replace('\\', "/"))
                .unwrap_or_default();
            let deps = p
                .dependencies
                .iter()
                .map(|d| {
                    let kind = match d.kind {
                        DependencyKind::Development => Kind::Dev,
                        DependencyKind::Build => Kind::Build,
                        _ => Kind::Normal,
                    };
                    let key = d.rename.as_deref().unwrap_or(&d.name);
                    Dep {
                        name: d.name.clone(),
                        kind,
                        workspace: d.path.is_some() && member_names.contains(&d.name),
                        line: manifest_line(&manifest_text, key, kind),
                    }
                })
                .collect();
            Crate {
                name: p.name.to_string(),
                dir,
                deps,
            }
        })
        .collect();
    Workspace { root, crates }
}

/// The 1-based line of `text` (a `Cargo.toml`) where dependency `key` of kind
/// `kind` is declared, or 1 if it cannot be found. Only used to point a
/// message at the right line; the dependency facts come from cargo.
pub fn manifest_line(text: &str, key: &str, kind: Kind) -> usize {
    let mut in_section = false;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if let Some(header) = line.strip_prefix('[') {
            let header = header.trim_end_matches(']').trim();
            // `[dependencies]`, `[target.'cfg(unix)'.dependencies]`, or a
            // table of its own: `[dependencies.key]`.
            let (section, own) = match header.rsplit_once('.') {
                Some((s, k)) if k.trim_matches('"') == key => (s, true),
                _ => (header, false),
            };
            let matches_kind =
                section == kind.section() || section.ends_with(&format!(".{}", kind.section()));
            if own && matches_kind {
                return i + 1;
            }
            in_section = !own && matches_kind;
            continue;
        }
        if in_section {
            let name = line.split(['=', '.']).next().unwrap_or("").trim();
            if name.trim_matches('"') == key {
                return i + 1;
            }
        }
    }
    1
}

#[cfg(test)]
mod tests {
    use super::*;

    const MANIFEST: &str = "[package]\nname = \"relay\"\n\n\
        [dependencies]\nkms.workspace = true\nsigner = { path = \"../signer\" }\n\n\
        [dev-dependencies]\nkms.workspace = true\n\n\
        [target.'cfg(unix)'.build-dependencies]\n\"cc\" = \"1\"\n\n\
        [dependencies.store]\npath = \"../store\"\n";

    #[test]
    fn manifest_line_finds_each_kind() {
        assert_eq!(manifest_line(MANIFEST, "kms", Kind::Normal), 5);
        assert_eq!(manifest_line(MANIFEST, "signer", Kind::Normal), 6);
        assert_eq!(manifest_line(MANIFEST, "kms", Kind::Dev), 9);
        assert_eq!(manifest_line(MANIFEST, "cc", Kind::Build), 12);
        assert_eq!(manifest_line(MANIFEST, "store", Kind::Normal), 14);
    }

    #[test]
    fn manifest_line_falls_back_to_one() {
        assert_eq!(manifest_line(MANIFEST, "rocksdb", Kind::Normal), 1);
        assert_eq!(manifest_line(MANIFEST, "signer", Kind::Dev), 1);
        assert_eq!(manifest_line("", "x", Kind::Normal), 1);
    }

    #[test]
    fn manifest_path_of_root_and_member() {
        let mut c = Crate {
            name: "relay".into(),
            dir: "relay".into(),
            deps: vec![],
        };
        assert_eq!(c.manifest(), "relay/Cargo.toml");
        c.dir.clear();
        assert_eq!(c.manifest(), "Cargo.toml");
    }
}
