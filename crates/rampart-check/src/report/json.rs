//! JSON: the contract's document, `{"command", "findings", "summary"}`.

use std::io::{self, Write};

use crate::finding::Report;

pub(super) fn render(report: &Report, out: &mut impl Write) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, report)?;
    writeln!(out)
}

#[cfg(test)]
mod tests {
    use crate::report::Format;
    use crate::report::tests::rendered;

    #[test]
    fn json_is_one_document_in_the_contract_shape() {
        let s = rendered(Format::Json, true);
        let v: serde_json::Value = serde_json::from_str(&s).unwrap();
        assert_eq!(v["command"], "scan");
        assert_eq!(v["findings"].as_array().unwrap().len(), 4);
        assert_eq!(v["summary"]["total"], 4);
        assert!(!s.contains('\u{1b}'), "no colors in JSON");
    }
}
