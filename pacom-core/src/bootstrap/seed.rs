//! `HF(group_key, x, IP(Pb), date)`: the seed of a bootstrap node's x-th
//! PACOM file on a UTC date, and which dates a newcomer should try.
//!
//! The date comes from the caller (pacom-core reads no clock). A bootstrap
//! node keeps advertising the swarms it created on date d for a while after
//! the next UTC midnight, and clocks disagree a little, so a newcomer tries
//! today, then yesterday during a grace period after midnight, then tomorrow
//! just before midnight (for a bootstrap node whose clock runs ahead).

use std::net::IpAddr;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::BootstrapError;
use crate::pacom_file::{CoverKind, PacomFile, PacomFileError, PacomFileOptions};

/// Domain separator for the file-seed PRF.
const HF_DOMAIN: &[u8] = b"PACOM/v1/pacom-file-seed";
const SECS_PER_DAY: i64 = 86_400;

/// A UTC calendar date, stored as days since 1970-01-01.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UtcDate {
    days: i64,
}

impl UtcDate {
    /// The date `days` after 1970-01-01.
    pub fn from_days(days: i64) -> Self {
        Self { days }
    }

    /// The date containing the instant `unix_secs`.
    pub fn from_unix_secs(unix_secs: i64) -> Self {
        Self::from_days(unix_secs.div_euclid(SECS_PER_DAY))
    }

    /// A proleptic Gregorian date; rejects impossible days.
    pub fn from_ymd(year: i32, month: u32, day: u32) -> Result<Self, BootstrapError> {
        let bad = BootstrapError::BadDate { year, month, day };
        if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
            return Err(bad);
        }
        // Count from 1 March so the leap day ends the year.
        let (y, m) = if month <= 2 {
            (i64::from(year) - 1, i64::from(month) + 9)
        } else {
            (i64::from(year), i64::from(month) - 3)
        };
        let era = y.div_euclid(400);
        let year_of_era = y - era * 400;
        let day_of_year = (153 * m + 2) / 5 + i64::from(day) - 1;
        let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
        Ok(Self::from_days(era * 146_097 + day_of_era - 719_468))
    }

    /// `(year, month, day)`.
    pub fn ymd(&self) -> (i32, u32, u32) {
        let z = self.days + 719_468;
        let era = z.div_euclid(146_097);
        let day_of_era = z - era * 146_097;
        let year_of_era =
            (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
        let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
        let mp = (5 * day_of_year + 2) / 153;
        let day = (day_of_year - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let year = year_of_era + era * 400 + i64::from(month <= 2);
        (year as i32, month, day)
    }

    /// Days since 1970-01-01.
    pub fn days_since_epoch(&self) -> i64 {
        self.days
    }

    /// The next or previous date.
    pub fn offset(&self, days: i64) -> Self {
        Self::from_days(self.days + days)
    }

    /// Unix time of this date's midnight.
    pub fn midnight_unix_secs(&self) -> i64 {
        self.days * SECS_PER_DAY
    }
}

fn days_in_month(year: i32, month: u32) -> u32 {
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// How long swarms of a date stay discoverable around midnight.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RolloverPolicy {
    /// After midnight, newcomers also try yesterday for this long; a bootstrap
    /// node keeps advertising yesterday's swarms until then, minus `clock_skew_secs`.
    pub grace_after_midnight_secs: i64,
    /// Tolerated clock difference: within this much of the next midnight,
    /// newcomers also try tomorrow.
    pub clock_skew_secs: i64,
}

impl Default for RolloverPolicy {
    /// Two hours of grace, five minutes of skew.
    fn default() -> Self {
        Self {
            grace_after_midnight_secs: 2 * 3600,
            clock_skew_secs: 300,
        }
    }
}

impl RolloverPolicy {
    /// Dates a newcomer at `now_unix_secs` tries, most likely first: today,
    /// yesterday (within the grace after midnight), tomorrow (within the skew
    /// before midnight).
    pub fn candidate_dates(&self, now_unix_secs: i64) -> Vec<UtcDate> {
        let today = UtcDate::from_unix_secs(now_unix_secs);
        let into_day = now_unix_secs - today.midnight_unix_secs();
        let mut dates = vec![today];
        if into_day < self.grace_after_midnight_secs {
            dates.push(today.offset(-1));
        }
        if SECS_PER_DAY - into_day <= self.clock_skew_secs {
            dates.push(today.offset(1));
        }
        dates
    }

    /// Whether a bootstrap node may still advertise swarms created on
    /// `created`: newcomers will try that date until the grace ends, and we
    /// stop one skew earlier so a slow newcomer clock is still covered.
    pub fn still_discoverable(&self, created: UtcDate, now_unix_secs: i64) -> bool {
        let deadline = created.offset(1).midnight_unix_secs() + self.grace_after_midnight_secs
            - self.clock_skew_secs;
        now_unix_secs < deadline
    }
}

/// `HF(group_key, x, IP(Pb), date)`: HMAC-SHA256 keyed by the group key over a
/// domain tag, x, the address family and bytes of Pb's public IP, and the date.
pub fn file_seed(group_key: &[u8], x: u8, ip: IpAddr, date: UtcDate) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(group_key).expect("HMAC accepts any key length");
    mac.update(HF_DOMAIN);
    mac.update(&[x]);
    match ip {
        IpAddr::V4(v4) => {
            mac.update(&[4]);
            mac.update(&v4.octets());
        }
        IpAddr::V6(v6) => {
            mac.update(&[6]);
            mac.update(&v6.octets());
        }
    }
    mac.update(&date.days_since_epoch().to_be_bytes());
    mac.finalize().into_bytes().into()
}

/// The PACOM file for (x, IP(Pb), date): what both the bootstrap node and a
/// newcomer that decoded x compute.
pub fn pacom_file_for(
    group_key: &[u8],
    x: u8,
    ip: IpAddr,
    date: UtcDate,
    kind: &CoverKind,
    opts: &PacomFileOptions,
) -> Result<PacomFile, PacomFileError> {
    PacomFile::generate(file_seed(group_key, x, ip, date), kind, opts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calendar_round_trips_and_known_dates() {
        assert_eq!(UtcDate::from_ymd(1970, 1, 1).unwrap().days_since_epoch(), 0);
        assert_eq!(
            UtcDate::from_ymd(2000, 3, 1).unwrap().days_since_epoch(),
            11_017
        );
        assert_eq!(
            UtcDate::from_ymd(2024, 2, 29).unwrap().days_since_epoch(),
            19_782
        );
        assert_eq!(UtcDate::from_unix_secs(-1).ymd(), (1969, 12, 31));
        for days in (-800_000..800_000).step_by(997) {
            let d = UtcDate::from_days(days);
            let (y, m, dd) = d.ymd();
            assert_eq!(UtcDate::from_ymd(y, m, dd).unwrap(), d);
        }
        assert!(UtcDate::from_ymd(2023, 2, 29).is_err());
        assert!(UtcDate::from_ymd(2024, 13, 1).is_err());
        assert!(UtcDate::from_ymd(2024, 4, 31).is_err());
    }
}
