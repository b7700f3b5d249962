//! Reading a bindings file: `device_sn,user_id,customer_id,org_id`, one device per line.

use crate::domain::is_valid_device_sn;
use crate::store::DeviceImport;
use std::io::Read;

/// A line of the bindings file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The file is not readable CSV.
    #[error("line {line}: {message}")]
    Csv {
        /// 1-based line number.
        line: u64,
        /// What is wrong.
        message: String,
    },
}

/// Parses a bindings CSV. A first line starting with `device_sn` is a header. `customer_id`
/// and `org_id` may be empty.
pub fn parse_bindings_csv(input: impl Read) -> Result<Vec<DeviceImport>, ImportError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .trim(csv::Trim::All)
        .flexible(true)
        .comment(Some(b'#'))
        .from_reader(input);
    let mut imports = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|err| ImportError::Csv {
            line: err.position().map_or(0, |p| p.line()),
            message: err.to_string(),
        })?;
        let line = record.position().map_or(0, |p| p.line());
        let bad = |message: String| ImportError::Csv { line, message };
        let field = |i: usize| record.get(i).unwrap_or("");
        if imports.is_empty() && field(0).eq_ignore_ascii_case("device_sn") {
            continue;
        }
        if record.len() < 2 || record.len() > 4 {
            return Err(bad(format!(
                "expected device_sn,user_id[,customer_id[,org_id]], got {} fields",
                record.len()
            )));
        }
        let device_sn = field(0);
        if !is_valid_device_sn(device_sn) {
            return Err(bad(format!(
                "device_sn {device_sn:?} must be 5–64 printable ASCII characters without spaces"
            )));
        }
        let number = |i: usize, name: &str| -> Result<Option<i64>, ImportError> {
            match field(i) {
                "" => Ok(None),
                s => s
                    .parse::<i64>()
                    .map(Some)
                    .map_err(|_| bad(format!("{name} {s:?} is not an integer"))),
            }
        };
        let user_id = number(1, "user_id")?.ok_or_else(|| bad("user_id is required".to_owned()))?;
        imports.push(DeviceImport {
            device_sn: device_sn.to_owned(),
            user_id,
            customer_id: number(2, "customer_id")?,
            org_id: number(3, "org_id")?,
        });
    }
    Ok(imports)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_blank_fields_and_comments() {
        let csv = "device_sn,user_id,customer_id,org_id\n# a comment\nW0001,7,1,2\nW0002, 8 ,,\n";
        let imports = parse_bindings_csv(csv.as_bytes()).expect("parses");
        assert_eq!(imports.len(), 2);
        assert_eq!(imports[1].user_id, 8);
        assert_eq!(imports[1].customer_id, None);
    }

    #[test]
    fn errors_name_the_line() {
        let err = parse_bindings_csv("W0001,abc\n".as_bytes()).expect_err("bad user id");
        assert_eq!(err.to_string(), "line 1: user_id \"abc\" is not an integer");
    }
}
