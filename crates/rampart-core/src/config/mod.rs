//! `rampart.toml`: schema, loading with `RAMPART_*` overrides, and errors that name
//! `file:line:col`.
//!
//! ```
//! use rampart_core::config::{load_str, EnvMap};
//! let cfg = load_str("[limiter]\non_store_error = \"allow\"\n", "rampart.toml", &EnvMap::new())?;
//! assert_eq!(cfg.limiter.on_store_error, rampart_core::config::OnStoreError::Allow);
//! # Ok::<_, rampart_core::config::ConfigError>(())
//! ```

mod error;
mod load;
mod schema;

pub use error::{ConfigError, Problem, line_col};
pub use load::{
    EnvMap, FILE_NAME, ValidConfig, did_you_mean, discover, load, load_file, load_str, process_env,
};
pub use schema::*;
