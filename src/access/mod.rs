//! Who may do what: client addresses behind trusted proxies, the admin token, the dashboard
//! password and its sessions. The API and the dashboard both ask here; this module knows
//! nothing of either.

mod admin;
pub mod client;
pub mod password;
mod sessions;

pub use admin::{Admin, Denied};
pub use client::Clients;
pub use sessions::{Auth, LOGIN_CSRF_COOKIE, SESSION_COOKIE, Session};
