//! Device credentials as every layer sees them: whom a key belongs to.

use serde::{Deserialize, Serialize};

/// Whom a key belongs to, and so which devices it covers.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyOwner {
    /// One device, by serial number.
    Device(String),
    /// A gateway key: every device bound to this customer.
    Customer(i64),
}

/// A valid key, as an upload presents it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceKey {
    /// Key id.
    pub id: i64,
    /// What it covers.
    pub owner: KeyOwner,
}
