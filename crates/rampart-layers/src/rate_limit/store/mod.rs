//! Where GCRA state lives: in this process ([`MemoryStore`]) or in Redis (`RedisStore`,
//! feature `redis`), shared by every instance.

mod memory;
#[cfg(feature = "redis")]
mod redis;

pub use memory::MemoryStore;
#[cfg(feature = "redis")]
pub use redis::{GCRA_SCRIPT, RedisStore, RedisStoreError};
