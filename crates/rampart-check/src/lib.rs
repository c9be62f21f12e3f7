//! Rampart's pre-deployment checklist.
//!
//! Findings are data ([`finding::Finding`]); printing them is separate (the report formats),
//! as ripgrep keeps its searcher apart from its printer.

pub mod audit;
pub mod env;
pub mod finding;
pub mod git;
pub mod report;
pub mod scan;
