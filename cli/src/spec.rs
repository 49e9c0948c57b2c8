//! Flags as people type them (`PURGE`, `orderly|purge`, `0x4`, `inbound,queue`) and as
//! the tool prints them (`COMPLETE|INBOUND`). Parsing only: validation is the core's.

use mapi_logoff::{Activity, FlushFlags, LogoffFlags, Mode, flag_names};

/// Parses a number written in decimal or as `0x…` hex.
fn parse_number(s: &str) -> Option<u32> {
    let s = s.trim();
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u32::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}

/// The `ulFlags` bits of a mode spec: one mode name (`PURGE`, `purge`, `LOGOFF_PURGE`,
/// `no-wait`), several joined by `|` (strict validation rejects them), or a raw
/// number (`0x4`, `0`). The bits are not validated here: the core does that.
pub fn parse_mode_spec(s: &str) -> Result<u32, String> {
    if let Some(n) = parse_number(s) {
        return Ok(n);
    }
    let mut bits = 0;
    for part in s.split('|') {
        let mode = Mode::from_name(part).ok_or_else(|| {
            format!(
                "unknown mode \"{}\" (expected NO_WAIT, ORDERLY, PURGE, ABORT or QUIET, \
                 several joined by '|', or a number)",
                part.trim()
            )
        })?;
        bits |= mode.flag().bits();
    }
    Ok(bits)
}

/// The activity bits of an activity spec: words from `inbound`, `outbound`, `queue`
/// (also `outbound_queue` and the `LOGOFF_` names) joined by `,` or `|`; `none` or
/// nothing for idle; or a raw number.
pub fn parse_activity_spec(s: &str) -> Result<u32, String> {
    if let Some(n) = parse_number(s) {
        return Ok(n);
    }
    let mut bits = 0;
    for part in s.split([',', '|']) {
        let word = part.trim().to_ascii_uppercase().replace('-', "_");
        let word = word.strip_prefix("LOGOFF_").unwrap_or(&word);
        bits |= match word {
            "" | "NONE" | "IDLE" => 0,
            "INBOUND" | "IN" => Activity::INBOUND.bits(),
            "OUTBOUND" | "OUT" => Activity::OUTBOUND.bits(),
            "QUEUE" | "OUTBOUND_QUEUE" => Activity::OUTBOUND_QUEUE.bits(),
            _ => {
                return Err(format!(
                    "unknown activity \"{}\" (expected inbound, outbound, queue or none, \
                     joined by ',', or a number)",
                    part.trim()
                ));
            }
        };
    }
    Ok(bits)
}

/// `"COMPLETE|INBOUND"`, `"0"` for none.
pub fn logoff_names(bits: u32) -> String {
    flag_names(LogoffFlags::from_bits_retain(bits))
}

/// A mode as a call passed it: `"PURGE"`, `"ORDERLY|PURGE"`, or hex when it holds bits
/// the protocol does not define.
pub fn mode_label(bits: u32) -> String {
    match LogoffFlags::from_bits(bits) {
        Some(flags) if !flags.is_empty() => flag_names(flags),
        _ => format!("{bits:#x}"),
    }
}

/// The activity's names, `"idle"` for none.
pub fn activity_names(activity: Activity) -> String {
    if activity.is_empty() {
        "idle".to_owned()
    } else {
        logoff_names(activity.bits())
    }
}

/// `"UPLOAD|NO_UI"`, `"0"` for none.
pub fn flush_names(flags: FlushFlags) -> String {
    flag_names(flags)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_by_name_number_and_combination() {
        assert_eq!(parse_mode_spec("PURGE"), Ok(4));
        assert_eq!(parse_mode_spec("no-wait"), Ok(1));
        assert_eq!(parse_mode_spec("LOGOFF_QUIET"), Ok(0x10));
        assert_eq!(parse_mode_spec("orderly|purge"), Ok(6));
        assert_eq!(parse_mode_spec("0x20"), Ok(0x20));
        assert_eq!(parse_mode_spec("0"), Ok(0));
        assert!(parse_mode_spec("PURG").unwrap_err().contains("\"PURG\""));
        assert!(parse_mode_spec("").is_err());
    }

    #[test]
    fn activities_by_word_and_number() {
        assert_eq!(parse_activity_spec("none"), Ok(0));
        assert_eq!(parse_activity_spec(""), Ok(0));
        assert_eq!(
            parse_activity_spec("inbound,queue"),
            Ok((Activity::INBOUND | Activity::OUTBOUND_QUEUE).bits())
        );
        assert_eq!(
            parse_activity_spec("LOGOFF_OUTBOUND"),
            Ok(Activity::OUTBOUND.bits())
        );
        assert_eq!(parse_activity_spec("0x1"), Ok(1));
        assert!(parse_activity_spec("sideways").is_err());
    }
}
