//! Kernel time to wall-clock time.
//!
//! The eBPF programs stamp events with `bpf_ktime_get_boot_ns()`, the kernel's CLOCK_BOOTTIME:
//! nanoseconds since boot, suspend included. [`Clock`] turns that into Unix time by adding the
//! difference between CLOCK_REALTIME and CLOCK_BOOTTIME, sampled once at start-up. A later step
//! of the wall clock (by NTP or by hand) is not followed: times stay consistent with each other
//! and with `ktime_ns`, and may drift from the system's clock by as much as it was stepped.

use std::{io, mem::MaybeUninit};

use crate::output::push_u64_zero_padded;

const NANOS_PER_SEC: i128 = 1_000_000_000;
const SECS_PER_DAY: i128 = 86_400;

/// Maps CLOCK_BOOTTIME nanoseconds to Unix nanoseconds (UTC).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Clock {
    /// CLOCK_REALTIME minus CLOCK_BOOTTIME, in nanoseconds.
    offset_ns: i128,
}

impl Clock {
    /// Samples CLOCK_REALTIME and CLOCK_BOOTTIME once. The two readings are a few hundred
    /// nanoseconds apart, which is the error of every time computed from this clock.
    ///
    /// # Errors
    ///
    /// `clock_gettime`'s error, which no kernel with CLOCK_BOOTTIME (2.6.39+) gives.
    pub fn now() -> io::Result<Self> {
        let real = clock_ns(libc::CLOCK_REALTIME)?;
        let boot = clock_ns(libc::CLOCK_BOOTTIME)?;
        Ok(Self {
            offset_ns: real - boot,
        })
    }

    /// A clock with a given CLOCK_REALTIME minus CLOCK_BOOTTIME offset, for tests and replays.
    pub const fn fixed(offset_ns: i128) -> Self {
        Self { offset_ns }
    }

    /// CLOCK_REALTIME minus CLOCK_BOOTTIME, in nanoseconds.
    pub fn offset_ns(&self) -> i128 {
        self.offset_ns
    }

    /// Unix time in nanoseconds of the moment the kernel stamped `boot_ns`. Negative only if
    /// the system clock was set before 1970.
    pub fn wall_ns(&self, boot_ns: u64) -> i128 {
        i128::from(boot_ns) + self.offset_ns
    }
}

/// The current CLOCK_BOOTTIME, in the same unit as `Event::ktime_ns`: for stamping what
/// userspace notices itself, such as lost events.
///
/// # Errors
///
/// As [`Clock::now`].
pub fn boottime_ns() -> io::Result<u64> {
    let ns = clock_ns(libc::CLOCK_BOOTTIME)?;
    u64::try_from(ns).map_err(|_| io::Error::other("CLOCK_BOOTTIME is negative"))
}

fn clock_ns(clock: libc::clockid_t) -> io::Result<i128> {
    let mut ts = MaybeUninit::<libc::timespec>::uninit();
    // SAFETY: `ts` is a valid place for one timespec, which clock_gettime fills on success.
    if unsafe { libc::clock_gettime(clock, ts.as_mut_ptr()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: clock_gettime returned 0, so it wrote the whole struct.
    let ts = unsafe { ts.assume_init() };
    Ok(i128::from(ts.tv_sec) * NANOS_PER_SEC + i128::from(ts.tv_nsec))
}

/// Writes Unix time `unix_ns` as RFC 3339 in UTC with nine fractional digits, such as
/// `2026-12-04T14:05:06.123456789Z`.
///
/// Years outside 0000..=9999, which RFC 3339 cannot express, are written with as many digits
/// as they need (and a `-` before 1 BCE's year 0) rather than wrapped.
pub fn rfc3339(unix_ns: i128, out: &mut Vec<u8>) {
    let secs = unix_ns.div_euclid(NANOS_PER_SEC);
    let nanos = unix_ns.rem_euclid(NANOS_PER_SEC) as u64;
    let days = secs.div_euclid(SECS_PER_DAY);
    let secs_of_day = secs.rem_euclid(SECS_PER_DAY) as u64;
    let (year, month, day) = civil_from_days(days);

    if year < 0 {
        out.push(b'-');
    }
    push_u64_zero_padded(
        out,
        u64::try_from(year.unsigned_abs()).unwrap_or(u64::MAX),
        4,
    );
    out.push(b'-');
    push_u64_zero_padded(out, month, 2);
    out.push(b'-');
    push_u64_zero_padded(out, day, 2);
    out.push(b'T');
    push_u64_zero_padded(out, secs_of_day / 3600, 2);
    out.push(b':');
    push_u64_zero_padded(out, secs_of_day / 60 % 60, 2);
    out.push(b':');
    push_u64_zero_padded(out, secs_of_day % 60, 2);
    out.push(b'.');
    push_u64_zero_padded(out, nanos, 9);
    out.push(b'Z');
}

/// The proleptic Gregorian (year, month, day) of a count of days since 1970-01-01.
///
/// The calendar repeats every 400 years (146,097 days). Counting years from 1 March puts the
/// leap day last, so that within one 400-year era the year, and then the month, follow from
/// plain divisions: months from March have lengths 31 30 31 30 31 31 30 31 30 31 31 28/29,
/// which `(153 * m + 2) / 5` reproduces as day offsets.
fn civil_from_days(days: i128) -> (i128, u64, u64) {
    const DAYS_PER_ERA: i128 = 146_097;
    // 1970-01-01 is 719,468 days after 0000-03-01.
    let since_march_0000 = days + 719_468;
    let era = since_march_0000.div_euclid(DAYS_PER_ERA);
    let day_of_era = since_march_0000.rem_euclid(DAYS_PER_ERA);

    // Remove the leap days (every 4 years, not every 100, again every 400) to get the year.
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };

    // January and February belong to the next calendar year.
    let year = era * 400 + year_of_era + i128::from(month <= 2);
    (year, month as u64, day as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn formatted(unix_ns: i128) -> String {
        let mut out = Vec::new();
        rfc3339(unix_ns, &mut out);
        String::from_utf8(out).unwrap()
    }

    const NS: i128 = 1_000_000_000;

    #[test]
    fn unix_epoch_is_1970_01_01() {
        assert_eq!(formatted(0), "1970-01-01T00:00:00.000000000Z");
    }

    #[test]
    fn leap_day_of_a_year_divisible_by_400_exists() {
        // date -u -d @951782400 → Tue Feb 29 00:00:00 UTC 2000
        assert_eq!(
            formatted(951_782_400 * NS),
            "2000-02-29T00:00:00.000000000Z"
        );
        // date -u -d @951868800 → Wed Mar  1 00:00:00 UTC 2000
        assert_eq!(
            formatted(951_868_800 * NS),
            "2000-03-01T00:00:00.000000000Z"
        );
    }

    #[test]
    fn a_2026_time_keeps_all_nine_fractional_digits() {
        // date -u -d @1796393106 → Fri Dec  4 14:05:06 UTC 2026
        assert_eq!(
            formatted(1_796_393_106 * NS + 123_456_789),
            "2026-12-04T14:05:06.123456789Z"
        );
    }

    #[test]
    fn last_nanosecond_of_a_year_rolls_over_correctly() {
        // date -u -d @1767225600 → Thu Jan  1 00:00:00 UTC 2026
        assert_eq!(
            formatted(1_767_225_600 * NS - 1),
            "2025-12-31T23:59:59.999999999Z"
        );
        assert_eq!(
            formatted(1_767_225_600 * NS),
            "2026-01-01T00:00:00.000000000Z"
        );
    }

    #[test]
    fn century_year_not_divisible_by_400_has_no_leap_day() {
        // date -u -d @4107542400 → Mon Mar  1 00:00:00 UTC 2100
        assert_eq!(
            formatted(4_107_542_400 * NS - 1),
            "2100-02-28T23:59:59.999999999Z"
        );
        assert_eq!(
            formatted(4_107_542_400 * NS),
            "2100-03-01T00:00:00.000000000Z"
        );
    }

    #[test]
    fn times_before_1970_count_backwards() {
        // date -u -d @-1 → Wed Dec 31 23:59:59 UTC 1969
        assert_eq!(formatted(-1), "1969-12-31T23:59:59.999999999Z");
        // date -u -d @-2208988800 → Mon Jan  1 00:00:00 UTC 1900
        assert_eq!(
            formatted(-2_208_988_800 * NS),
            "1900-01-01T00:00:00.000000000Z"
        );
    }

    #[test]
    fn every_day_for_800_years_follows_the_one_before() {
        let days_in_month = |y: i128, m: u64| match m {
            2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
            2 => 28,
            4 | 6 | 9 | 11 => 30,
            _ => 31,
        };
        let (mut y, mut m, mut d) = civil_from_days(-146_097 * 2);
        assert_eq!((y, m, d), (1170, 1, 1));
        for days in (-146_097 * 2 + 1)..(146_097 * 2) {
            if d < days_in_month(y, m) {
                d += 1;
            } else if m < 12 {
                (m, d) = (m + 1, 1);
            } else {
                (y, m, d) = (y + 1, 1, 1);
            }
            assert_eq!(civil_from_days(days), (y, m, d), "day {days}");
        }
    }

    #[test]
    fn fixed_clock_adds_its_offset_to_boot_time() {
        let clock = Clock::fixed(1_796_393_106 * NS);
        assert_eq!(clock.wall_ns(5), 1_796_393_106 * NS + 5);
        assert_eq!(Clock::fixed(-10).wall_ns(3), -7);
    }

    #[test]
    fn sampled_clock_agrees_with_system_time() {
        let clock = Clock::now().unwrap();
        let boot = boottime_ns().unwrap();
        let system = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as i128;
        let diff = clock.wall_ns(boot) - system;
        assert!(diff.abs() < NS, "clock is {diff} ns off the system time");
    }
}
