//! The Backend through HTTP on 127.0.0.1: every route and its errors, policy, the browser token,
//! request ids, the audit log, the SSE proxy, the OpenAPI document and the console's files. Runtimes are embedded
//! here; `yoi-tests` runs the same API across every adapter kind.

mod api;
mod audit;
mod console;
mod events;
mod openapi;
mod policy;
mod support;
