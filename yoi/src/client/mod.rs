//! The client commands: talk to a running Backend's browser-facing API, as a browser would.
//! Tables for people by default, the API's JSON with `--json`; an error prints its typed code and
//! message and the command exits non-zero.

mod commands;
mod follow;
mod http;
mod table;
mod watch;

pub(crate) use commands::{ClientCommand, name, run};
pub(crate) use http::Target;
