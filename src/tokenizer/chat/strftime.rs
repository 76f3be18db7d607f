//! `strftime_now(format)`, the clock helper `transformers` gives chat templates (Llama 3.x and
//! Granite print today's date into the system prompt with it).
//!
//! Invariant: UTC, not local time — a server should not leak its time zone into prompts and
//! the same instant renders the same everywhere (Python's version uses local time). Supports
//! the C/Python codes templates use (`%d %b %Y %B %m %H %M %S %y %a %A %j %I %p %Z %z %e %%`)
//! and glibc's `-` flag for no padding (`%-d`); any other code is an error, never guessed.

use minijinja::{Error, ErrorKind};

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const WEEKDAYS: [&str; 7] =
    ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];

/// A UTC calendar instant broken down into fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Civil {
    pub year: i64,
    /// 1..=12
    pub month: u32,
    /// 1..=31
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    /// 0 = Sunday
    pub weekday: u32,
    /// 1..=366
    pub yday: u32,
}

impl Civil {
    /// Breaks down seconds since 1970-01-01T00:00:00Z (Howard Hinnant's `civil_from_days`).
    pub fn from_unix(secs: i64) -> Civil {
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400) as u32;
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let year = yoe + era * 400 + i64::from(month <= 2);
        let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
        const BEFORE: [u32; 12] = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];
        let yday = BEFORE[month as usize - 1] + day + u32::from(leap && month > 2);
        Civil {
            year,
            month,
            day,
            hour: rem / 3600,
            minute: rem / 60 % 60,
            second: rem % 60,
            weekday: (days + 4).rem_euclid(7) as u32,
            yday,
        }
    }
}

/// The current UTC time formatted with `format` (templates' `strftime_now`, and timestamps
/// elsewhere, e.g. `kiln bench`'s `test_time`).
pub fn strftime_now(format: &str) -> Result<String, Error> {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    strftime(format, &Civil::from_unix(secs))
}

/// Formats `t` with C `strftime` codes (see the module doc for the supported set).
pub(super) fn strftime(format: &str, t: &Civil) -> Result<String, Error> {
    let mut out = String::new();
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut code = chars.next();
        let pad = code != Some('-');
        if !pad {
            code = chars.next();
        }
        let num = |n: u32, width: usize| {
            if pad { format!("{n:0width$}") } else { n.to_string() }
        };
        let hour12 = if t.hour.is_multiple_of(12) { 12 } else { t.hour % 12 };
        let text = match code {
            Some('Y') => t.year.to_string(),
            Some('y') => num(t.year.rem_euclid(100) as u32, 2),
            Some('m') => num(t.month, 2),
            Some('d') => num(t.day, 2),
            Some('e') if pad => format!("{:>2}", t.day),
            Some('e') => t.day.to_string(),
            Some('H') => num(t.hour, 2),
            Some('I') => num(hour12, 2),
            Some('M') => num(t.minute, 2),
            Some('S') => num(t.second, 2),
            Some('j') => num(t.yday, 3),
            Some('p') => (if t.hour < 12 { "AM" } else { "PM" }).to_owned(),
            Some('B') => MONTHS[t.month as usize - 1].to_owned(),
            Some('b') | Some('h') => MONTHS[t.month as usize - 1][..3].to_owned(),
            Some('A') => WEEKDAYS[t.weekday as usize].to_owned(),
            Some('a') => WEEKDAYS[t.weekday as usize][..3].to_owned(),
            Some('Z') => "UTC".to_owned(),
            Some('z') => "+0000".to_owned(),
            Some('%') if pad => "%".to_owned(),
            other => {
                let shown = other.map_or(String::new(), String::from);
                return Err(Error::new(
                    ErrorKind::InvalidOperation,
                    format!("strftime_now: unsupported format code %{shown}"),
                ));
            }
        };
        out.push_str(&text);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::{Civil, strftime};

    #[test]
    fn civil_dates_and_formats() {
        // 2024-02-29T13:05:09Z, a Thursday, day 60 of a leap year.
        let t = Civil::from_unix(1_709_211_909);
        assert_eq!((t.year, t.month, t.day, t.hour, t.minute, t.second), (2024, 2, 29, 13, 5, 9));
        assert_eq!((t.weekday, t.yday), (4, 60));
        assert_eq!(strftime("%d %b %Y", &t).unwrap(), "29 Feb 2024");
        assert_eq!(
            strftime("%B %-d, %Y %I:%M %p %a %j", &t).unwrap(),
            "February 29, 2024 01:05 PM Thu 060"
        );
        assert_eq!(
            strftime("%y-%m-%dT%H:%M:%S%z %% %A", &t).unwrap(),
            "24-02-29T13:05:09+0000 % Thursday"
        );
        // Epoch and a day before it.
        assert_eq!(strftime("%Y-%m-%d %A", &Civil::from_unix(0)).unwrap(), "1970-01-01 Thursday");
        assert_eq!(strftime("%Y-%m-%d %j", &Civil::from_unix(-86_400)).unwrap(), "1969-12-31 365");
        assert!(strftime("%Q", &t).unwrap_err().to_string().contains("%Q"));
        assert!(strftime("trailing %", &t).is_err());
    }
}
