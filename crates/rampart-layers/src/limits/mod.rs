//! Input limits: a body-size limit answering 413 before anything reads the body, and JSON
//! validation answering 400 with field-level errors.

mod body;
mod validate;

pub use body::{
    BodyError, BodyLimit, BodyLimitLayer, BoxError, announced_too_large, buffer, read_limited,
    too_large, unreadable,
};
pub(crate) use body::{limited, validate_buffered};
pub use validate::{FieldErrors, JsonValidator, Valid, Validate, is_json, parse_json};
