//! `yoi adapters` and `yoi config check`: what this build can serve, and whether a workspace's
//! configuration is one it can serve.

use std::path::{Path, PathBuf};

use yoi_config::{ConfigErrors, FILE_NAME, WorkspaceConfig};

/// The adapters compiled into this build, then those it leaves out with their cargo feature.
pub(crate) fn adapters() -> Result<String, String> {
    let enabled = yoi_adapters::enabled_adapters().map_err(|error| error.to_string())?;
    let mut report: String = enabled.iter().map(|name| format!("{name}\n")).collect();
    for missing in yoi_adapters::ADAPTER_NAMES
        .iter()
        .filter(|name| !enabled.contains(name))
    {
        report.push_str(&format!(
            "not in this build: {missing} (cargo feature `{missing}`)\n"
        ));
    }
    Ok(report)
}

/// Checks `path` (or `./workspace.toml`, or the default configuration): parses it, resolves its
/// secrets and builds every runtime's handle without starting anything. `Ok` holds the report.
pub(crate) fn check(path: Option<&Path>) -> Result<String, ConfigErrors> {
    let (config, origin) = match path {
        Some(path) => (WorkspaceConfig::load(path)?, path.display().to_string()),
        None => {
            let here = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
            let config = WorkspaceConfig::discover(&here)?;
            let origin = match &config.file {
                Some(file) => file.display().to_string(),
                None => format!("no {FILE_NAME}: the default configuration"),
            };
            (config, origin)
        }
    };
    let registry = yoi_workspace_server::build_registry(&config)?;
    let mut report = format!("ok: {origin}\n");
    for handle in registry.handles() {
        let descriptor = handle.descriptor();
        let kind = crate::client::name(&descriptor.kind);
        let policy = descriptor.policy;
        let hidden = if policy.visible { "" } else { ", hidden" };
        let read_only = if policy.read_only { ", read-only" } else { "" };
        report.push_str(&format!("  {}  {kind}{hidden}{read_only}\n", descriptor.id));
    }
    Ok(report)
}
