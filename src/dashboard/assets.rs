//! `static/` embedded in the binary, so one binary serves the dashboard from any directory
//! and no page needs a CDN (intranet sites have no internet).

use poem::endpoint::EmbeddedFilesEndpoint;

/// The files of `static/`.
#[derive(rust_embed::RustEmbed)]
#[folder = "static/"]
pub struct Assets;

/// Serves the embedded files under the path they have in `static/` (with ETags).
pub fn endpoint() -> EmbeddedFilesEndpoint<Assets> {
    EmbeddedFilesEndpoint::<Assets>::new()
}
