//! `workspace.toml`: parsing, validation and the default when there is no file.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use serde::de::{Deserializer, SeqAccess, Visitor};
use toml::Spanned;
use yoi_registry_core::{AdapterConfigError, AdapterInput, Policy, RuntimeId, Secret, validate_id};

use crate::error::{ConfigError, ConfigErrors};
use crate::location::Location;
use crate::secret::SecretRef;
use crate::toml_file;

/// The file a workspace is configured by, looked for in the working directory.
pub const FILE_NAME: &str = "workspace.toml";

/// The id of the embedded runtime of the default configuration.
pub const DEFAULT_RUNTIME: &str = "backend-internal";

/// The id of the compatibility runtime the default configuration adds when a pod store exists.
pub const DEFAULT_COMPAT_RUNTIME: &str = "local-pod-compat";

/// How long one call to a runtime may take unless its table sets `timeout_ms`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// A workspace's configuration.
#[derive(Debug, Clone)]
pub struct WorkspaceConfig {
    /// The file it came from; `None` for the default configuration.
    pub file: Option<PathBuf>,
    /// `[workspace] id`, if set.
    pub workspace_id: Option<String>,
    /// The workspace's root folder (local pods must name it).
    pub root: PathBuf,
    /// Where the Backend keeps its audit log and embedded stores.
    pub data_dir: PathBuf,
    /// `[server]`.
    pub server: ServerConfig,
    /// The `[[runtime]]` tables, in file order.
    pub runtimes: Vec<RuntimeEntry>,
}

/// `[server]`.
#[derive(Debug, Clone, Default)]
pub struct ServerConfig {
    /// The address to listen on, if set.
    pub bind: Option<SocketAddr>,
    /// The browser token's reference, if set.
    pub token: Option<SecretRef>,
    /// The certificate chain and private key (PEM) to serve HTTPS with, if set (relative paths
    /// are taken from workspace.toml's folder).
    pub tls: Option<(PathBuf, PathBuf)>,
}

/// One `[[runtime]]` table: the common keys checked, the rest kept for its adapter.
#[derive(Clone)]
pub struct RuntimeEntry {
    /// `id`.
    pub id: RuntimeId,
    /// `adapter`.
    pub adapter: String,
    /// `display_name`.
    pub display_name: Option<String>,
    /// `visible` and `read_only`.
    pub policy: Policy,
    /// `timeout_ms`.
    pub timeout: Duration,
    /// `token_env` or `token_file`.
    pub secret: Option<SecretRef>,
    /// Every other key, for the adapter.
    pub settings: serde_json::Map<String, serde_json::Value>,
    /// Its position among the `[[runtime]]` tables.
    index: usize,
    /// Where the table and each of its keys are (empty for the default configuration).
    locations: Locations,
}

/// Shows the setting keys, not their values: a `base_url` must not reach a log.
impl std::fmt::Debug for RuntimeEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuntimeEntry")
            .field("id", &self.id)
            .field("adapter", &self.adapter)
            .field("policy", &self.policy)
            .field("timeout", &self.timeout)
            .field("settings", &self.settings.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Default)]
struct Locations {
    table: Option<Location>,
    keys: BTreeMap<String, Location>,
}

impl RuntimeEntry {
    fn builtin(index: usize, id: &str, adapter: &str) -> Self {
        Self {
            id: RuntimeId::new(id).expect("built-in ids are valid"),
            adapter: adapter.to_owned(),
            display_name: None,
            policy: Policy::default(),
            timeout: DEFAULT_TIMEOUT,
            secret: None,
            settings: serde_json::Map::new(),
            index,
            locations: Locations::default(),
        }
    }

    /// What the adapter's factory gets, with the secret already resolved.
    pub fn adapter_input(
        &self,
        workspace: &WorkspaceConfig,
        secret: Option<Secret>,
    ) -> AdapterInput {
        AdapterInput {
            id: self.id.clone(),
            display_name: self.display_name.clone(),
            policy: self.policy,
            timeout: self.timeout,
            workspace_root: workspace.root.clone(),
            data_dir: workspace.data_dir.clone(),
            secret,
            settings: self.settings.clone(),
        }
    }

    /// An error about this table, at the key named (or at the table), in `workspace`'s file.
    pub fn error(
        &self,
        workspace: &WorkspaceConfig,
        key: Option<&str>,
        message: String,
    ) -> ConfigError {
        let location = key
            .and_then(|key| {
                let known = self.locations.keys.get(key).copied();
                known.or_else(|| self.nested_location(workspace, key))
            })
            .or(self.locations.table);
        ConfigError {
            file: workspace
                .file
                .clone()
                .unwrap_or_else(|| PathBuf::from("(default configuration)")),
            location,
            key: Some(key.map_or_else(
                || format!("runtime[{}]", self.index),
                |key| format!("runtime[{}].{key}", self.index),
            )),
            message,
        }
    }

    /// Where a key inside one of this table's values (`profiles.a.model`) is, read again from the
    /// file: the parsed tables keep the places of their own keys only.
    fn nested_location(&self, workspace: &WorkspaceConfig, key: &str) -> Option<Location> {
        let text = std::fs::read_to_string(workspace.file.as_ref()?).ok()?;
        let table = format!("runtime[{}]", self.index);
        let path: Vec<&str> = std::iter::once(table.as_str())
            .chain(key.split('.'))
            .collect();
        crate::toml_file::find_key(&text, &path).map(|at| at.value)
    }

    /// An adapter's complaint about this table, placed at the key it names.
    pub fn adapter_error(
        &self,
        workspace: &WorkspaceConfig,
        error: &AdapterConfigError,
    ) -> ConfigError {
        self.error(workspace, error.key.as_deref(), error.message.clone())
    }
}

impl WorkspaceConfig {
    /// The configuration of `dir`: its `workspace.toml` when there is one, the default otherwise.
    pub fn discover(dir: &Path) -> Result<Self, ConfigErrors> {
        let file = dir.join(FILE_NAME);
        if file.exists() {
            Self::load(&file)
        } else {
            Ok(Self::default_for(dir))
        }
    }

    /// Reads and checks the file at `path`.
    pub fn load(path: &Path) -> Result<Self, ConfigErrors> {
        Self::parse(&toml_file::read(path)?, path)
    }

    /// Checks `text`, the content of the file at `path` (which anchors relative paths).
    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigErrors> {
        Parser {
            text,
            file: path,
            errors: Vec::new(),
        }
        .parse()
    }

    /// One embedded runtime, `backend-internal`, plus `local-pod-compat` when a pod store exists
    /// under `<root>/.yoi/`.
    pub fn default_for(root: &Path) -> Self {
        let root = canonical(root);
        let data_dir = root.join(".yoi");
        let mut runtimes = vec![RuntimeEntry::builtin(0, DEFAULT_RUNTIME, "embedded")];
        if data_dir.join("pods").is_dir() {
            runtimes.push(RuntimeEntry::builtin(
                1,
                DEFAULT_COMPAT_RUNTIME,
                "local-pod-compat",
            ));
        }
        Self {
            file: None,
            workspace_id: None,
            root,
            data_dir,
            server: ServerConfig::default(),
            runtimes,
        }
    }
}

/// The file as written; validated into [`WorkspaceConfig`].
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    workspace: RawWorkspace,
    #[serde(default)]
    server: RawServer,
    #[serde(default, deserialize_with = "runtime_tables")]
    runtime: Vec<Spanned<RawTable>>,
}

/// The `[[runtime]]` tables. Anything else (a single `[runtime]` table, a value) is refused
/// with a hint at the double brackets instead of serde's "expected a sequence".
fn runtime_tables<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<Spanned<RawTable>>, D::Error> {
    struct Tables;

    impl<'de> Visitor<'de> for Tables {
        type Value = Vec<Spanned<RawTable>>;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("[[runtime]] tables, with double brackets")
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            std::iter::from_fn(|| seq.next_element().transpose()).collect()
        }
    }

    deserializer.deserialize_seq(Tables)
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWorkspace {
    id: Option<Spanned<String>>,
    root: Option<Spanned<String>>,
    data_dir: Option<Spanned<String>>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawServer {
    bind: Option<Spanned<String>>,
    token_env: Option<Spanned<String>>,
    token_file: Option<Spanned<String>>,
    token: Option<Spanned<toml::Value>>,
    tls_cert: Option<Spanned<String>>,
    tls_key: Option<Spanned<String>>,
}

type RawTable = BTreeMap<Spanned<String>, Spanned<toml::Value>>;

/// A table's values by key, the keys no longer spanned.
type Values = BTreeMap<String, Spanned<toml::Value>>;

struct Parser<'a> {
    text: &'a str,
    file: &'a Path,
    errors: Vec<ConfigError>,
}

impl Parser<'_> {
    fn parse(mut self) -> Result<WorkspaceConfig, ConfigErrors> {
        let raw: RawFile = toml_file::deserialize(self.text, self.file)?;
        // A bare file name has an empty parent: the working directory.
        let folder = match self.file.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let root = canonical(
            &raw.workspace
                .root
                .map_or(folder.clone(), |root| folder.join(root.into_inner())),
        );
        let data_dir = root.join(
            raw.workspace
                .data_dir
                .map_or_else(|| ".yoi".to_owned(), Spanned::into_inner),
        );
        let workspace_id = raw.workspace.id.and_then(|id| {
            let location = self.location(id.span().start);
            match validate_id("workspace id", id.get_ref()) {
                Ok(()) => Some(id.into_inner()),
                Err(error) => {
                    self.error_at(Some(location), "workspace.id".into(), error.to_string());
                    None
                }
            }
        });
        let server = self.server(raw.server, &folder);

        let mut runtimes: Vec<RuntimeEntry> = Vec::new();
        for (index, table) in raw.runtime.into_iter().enumerate() {
            let Some(entry) = self.runtime(index, table, &folder) else {
                continue;
            };
            if let Some(first) = runtimes.iter().find(|other| other.id == entry.id) {
                let line = first
                    .locations
                    .keys
                    .get("id")
                    .map_or(0, |location| location.line);
                self.error_at(
                    entry.locations.keys.get("id").copied(),
                    format!("runtime[{index}].id"),
                    format!("runtime id {} is already used on line {line}", entry.id),
                );
                continue;
            }
            runtimes.push(entry);
        }
        if !self.errors.is_empty() {
            self.errors
                .sort_by_key(|error| error.location.map(|at| (at.line, at.column)));
            return Err(ConfigErrors(self.errors));
        }
        Ok(WorkspaceConfig {
            file: Some(self.file.to_owned()),
            workspace_id,
            root,
            data_dir,
            server,
            runtimes,
        })
    }

    fn server(&mut self, server: RawServer, folder: &Path) -> ServerConfig {
        let bind = server.bind.and_then(|bind| {
            let location = self.location(bind.span().start);
            bind.get_ref()
                .parse()
                .map_err(|_| {
                    self.error_at(
                        Some(location),
                        "server.bind".into(),
                        "expected an address such as 127.0.0.1:7878".into(),
                    );
                })
                .ok()
        });
        let token = self.secret_ref(
            "server",
            server.token.map(|token| token.span().start),
            server.token_env,
            server.token_file,
            folder,
        );
        let tls = match (server.tls_cert, server.tls_key) {
            (Some(cert), Some(key)) => Some((
                folder.join(cert.into_inner()),
                folder.join(key.into_inner()),
            )),
            (None, None) => None,
            (Some(cert), None) => {
                let location = self.location(cert.span().start);
                self.error_at(
                    Some(location),
                    "server.tls_cert".into(),
                    "needs tls_key too".into(),
                );
                None
            }
            (None, Some(key)) => {
                let location = self.location(key.span().start);
                self.error_at(
                    Some(location),
                    "server.tls_key".into(),
                    "needs tls_cert too".into(),
                );
                None
            }
        };
        ServerConfig { bind, token, tls }
    }

    /// Checks one `[[runtime]]` table; `None` when it has errors (they are recorded).
    fn runtime(
        &mut self,
        index: usize,
        table: Spanned<RawTable>,
        folder: &Path,
    ) -> Option<RuntimeEntry> {
        let errors_before = self.errors.len();
        let (locations, mut values) = self.keyed(table);
        let mut take = |key: &str| values.remove(key);
        let name = |key: &str| format!("runtime[{index}].{key}");
        let id = self
            .required(take("id"), locations.table, &name("id"), "an id")
            .and_then(|value| self.runtime_id(&value, &name("id")));
        let adapter = self
            .required(
                take("adapter"),
                locations.table,
                &name("adapter"),
                "an adapter, e.g. adapter = \"embedded\"",
            )
            .and_then(|value| self.string(&value, &name("adapter")));
        let display_name =
            take("display_name").and_then(|value| self.string(&value, &name("display_name")));
        let visible = take("visible").and_then(|value| self.boolean(&value, &name("visible")));
        let read_only =
            take("read_only").and_then(|value| self.boolean(&value, &name("read_only")));
        let timeout =
            take("timeout_ms").and_then(|value| self.timeout(&value, &name("timeout_ms")));
        let secret = self.runtime_secret(index, &mut values, folder);

        let settings = values
            .into_iter()
            .map(|(key, value)| (key, to_json(value.into_inner())))
            .collect();
        if self.errors.len() > errors_before {
            return None;
        }
        Some(RuntimeEntry {
            id: id?,
            adapter: adapter?,
            display_name,
            policy: Policy {
                visible: visible.unwrap_or(true),
                read_only: read_only.unwrap_or(false),
            },
            timeout: timeout.unwrap_or(DEFAULT_TIMEOUT),
            secret,
            settings,
            index,
            locations,
        })
    }

    /// A table's values by key, and where the table and each of its keys are.
    fn keyed(&self, table: Spanned<RawTable>) -> (Locations, Values) {
        let mut locations = Locations {
            table: Some(self.location(table.span().start)),
            keys: BTreeMap::new(),
        };
        let mut values = BTreeMap::new();
        for (key, value) in table.into_inner() {
            locations
                .keys
                .insert(key.get_ref().clone(), self.location(key.span().start));
            values.insert(key.into_inner(), value);
        }
        (locations, values)
    }

    /// The value of a key every `[[runtime]]` must set (`key` is its full name); its absence is
    /// an error at the table, saying that every table needs `what`.
    fn required(
        &mut self,
        value: Option<Spanned<toml::Value>>,
        table: Option<Location>,
        key: &str,
        what: &str,
    ) -> Option<Spanned<toml::Value>> {
        if value.is_none() {
            self.error_at(
                table,
                key.to_owned(),
                format!("every [[runtime]] needs {what}"),
            );
        }
        value
    }

    fn runtime_id(&mut self, value: &Spanned<toml::Value>, key: &str) -> Option<RuntimeId> {
        let text = self.string(value, key)?;
        RuntimeId::new(text)
            .map_err(|error| {
                self.error_at(
                    Some(self.location(value.span().start)),
                    key.to_owned(),
                    error.to_string(),
                );
            })
            .ok()
    }

    /// The secret of `[[runtime]]` number `index`: its `token` (refused), `token_env` and
    /// `token_file` keys.
    fn runtime_secret(
        &mut self,
        index: usize,
        values: &mut Values,
        folder: &Path,
    ) -> Option<SecretRef> {
        let table = format!("runtime[{index}]");
        let inline = values.remove("token").map(|token| token.span().start);
        let token_env = values
            .remove("token_env")
            .and_then(|value| self.spanned_string(value, &format!("{table}.token_env")));
        let token_file = values
            .remove("token_file")
            .and_then(|value| self.spanned_string(value, &format!("{table}.token_file")));
        self.secret_ref(&table, inline, token_env, token_file, folder)
    }

    /// `token_env` / `token_file`, refusing an inline `token` and both at once.
    fn secret_ref(
        &mut self,
        table: &str,
        inline: Option<usize>,
        env: Option<Spanned<String>>,
        file: Option<Spanned<String>>,
        folder: &Path,
    ) -> Option<SecretRef> {
        let (offset, key, message) = match (inline, env, file) {
            (Some(offset), _, _) => (
                offset,
                "token",
                "inline tokens are refused: keep the token in an environment variable and set \
                 token_env = \"NAME\", or in a file and set token_file = \"PATH\"",
            ),
            (None, Some(_), Some(file)) => (
                file.span().start,
                "token_file",
                "set token_env or token_file, not both",
            ),
            (None, Some(env), None)
                if env.get_ref().is_empty() || env.get_ref().contains(['=', '\0']) =>
            {
                (
                    env.span().start,
                    "token_env",
                    "expected the name of an environment variable, such as YOI_TOKEN",
                )
            }
            (None, None, Some(file)) if file.get_ref().is_empty() => (
                file.span().start,
                "token_file",
                "expected the path of the file that holds the token",
            ),
            (None, Some(env), None) => return Some(SecretRef::Env(env.into_inner())),
            (None, None, Some(file)) => {
                return Some(SecretRef::File(folder.join(file.into_inner())));
            }
            (None, None, None) => return None,
        };
        self.error_at(
            Some(self.location(offset)),
            format!("{table}.{key}"),
            message.to_owned(),
        );
        None
    }

    fn string(&mut self, value: &Spanned<toml::Value>, key: &str) -> Option<String> {
        match value.get_ref() {
            toml::Value::String(text) => Some(text.clone()),
            other => {
                self.type_error(value, key, "a string", other);
                None
            }
        }
    }

    fn spanned_string(
        &mut self,
        value: Spanned<toml::Value>,
        key: &str,
    ) -> Option<Spanned<String>> {
        let span = value.span();
        self.string(&value, key)
            .map(|text| Spanned::new(span, text))
    }

    fn boolean(&mut self, value: &Spanned<toml::Value>, key: &str) -> Option<bool> {
        match value.get_ref() {
            toml::Value::Boolean(flag) => Some(*flag),
            other => {
                self.type_error(value, key, "true or false", other);
                None
            }
        }
    }

    fn timeout(&mut self, value: &Spanned<toml::Value>, key: &str) -> Option<Duration> {
        match value.get_ref() {
            toml::Value::Integer(millis @ 1..) => {
                Some(Duration::from_millis(millis.unsigned_abs()))
            }
            other => {
                self.type_error(value, key, "a number of milliseconds above zero", other);
                None
            }
        }
    }

    fn type_error(
        &mut self,
        value: &Spanned<toml::Value>,
        key: &str,
        expected: &str,
        found: &toml::Value,
    ) {
        let found = match found {
            toml::Value::String(_) => "a string",
            toml::Value::Integer(_) => "an integer",
            toml::Value::Float(_) => "a float",
            toml::Value::Boolean(_) => "a boolean",
            toml::Value::Datetime(_) => "a date",
            toml::Value::Array(_) => "an array",
            toml::Value::Table(_) => "a table",
        };
        let location = self.location(value.span().start);
        self.error_at(
            Some(location),
            key.to_owned(),
            format!("expected {expected}, found {found}"),
        );
    }

    fn location(&self, offset: usize) -> Location {
        Location::of(self.text, offset)
    }

    fn error_at(&mut self, location: Option<Location>, key: String, message: String) {
        self.errors.push(ConfigError {
            file: self.file.to_owned(),
            location,
            key: Some(key),
            message,
        });
    }
}

/// The canonical form of `path` when it exists, `path` itself otherwise.
fn canonical(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned())
}

/// A TOML value as JSON, the neutral form adapters deserialize from.
fn to_json(value: toml::Value) -> serde_json::Value {
    match value {
        toml::Value::String(text) => text.into(),
        toml::Value::Integer(number) => number.into(),
        toml::Value::Float(number) => {
            serde_json::Number::from_f64(number).map_or(serde_json::Value::Null, Into::into)
        }
        toml::Value::Boolean(flag) => flag.into(),
        toml::Value::Datetime(date) => date.to_string().into(),
        toml::Value::Array(items) => items.into_iter().map(to_json).collect(),
        toml::Value::Table(table) => table
            .into_iter()
            .map(|(key, value)| (key, to_json(value)))
            .collect(),
    }
}
