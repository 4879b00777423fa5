//! `yoi adapters`, `yoi config check` and `yoi config reload`: what this build can serve,
//! whether a workspace's configuration is one it can serve, and asking the Backend to read it
//! again.

use std::path::{Path, PathBuf};

use yoi_config::{ConfigErrors, FILE_NAME, WorkspaceConfig};

use crate::reload::ConfigSource;

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
    let (config, origin) = load(path)?;
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

/// Checks `path` (or `./workspace.toml`) as far as it can be checked here (its syntax and
/// keys; the secrets it names are the Backend's), then sends SIGHUP to the Backend that serves
/// it. Nothing is sent for a file with errors.
pub(crate) fn reload(path: Option<&Path>) -> Result<String, String> {
    let (config, origin) = load(path).map_err(|errors| {
        format!("{errors}\nnothing was sent: the Backend keeps its configuration")
    })?;
    let pid_file = crate::pid_file::path_in(&config.data_dir);
    let pid = crate::pid_file::hang_up(&pid_file).map_err(|error| error.to_string())?;
    Ok(format!(
        "asked the Backend (pid {pid}) to reload {origin}; its log says what changed\n"
    ))
}

/// The configuration at `path` (or discovered here), with where it came from.
fn load(path: Option<&Path>) -> Result<(WorkspaceConfig, String), ConfigErrors> {
    let here = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let source = match path {
        Some(path) => ConfigSource::File(path.to_owned()),
        None => ConfigSource::Discovered(here),
    };
    let config = source.load()?;
    let origin = match &config.file {
        Some(file) => file.display().to_string(),
        None => format!("no {FILE_NAME}: the default configuration"),
    };
    Ok((config, origin))
}
