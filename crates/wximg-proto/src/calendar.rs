//! The platform's calendar: the day a daily count belongs to is Beijing's (UTC+8), as the
//! platform's quotas and the stable-token force-refresh limit count it; a per-minute
//! count belongs to its Unix minute. Every count of wximg uses these two numbers.

/// Beijing time's offset from UTC, in seconds.
const BEIJING_OFFSET: i64 = 8 * 3600;

/// The platform's day number for Unix time `now`: whole days since the epoch, in
/// Beijing time.
pub fn beijing_day(now: i64) -> i64 {
    (now + BEIJING_OFFSET).div_euclid(86_400)
}

/// The minute number a per-minute count belongs to.
pub fn minute(now: i64) -> i64 {
    now.div_euclid(60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_day_turns_at_midnight_in_beijing() {
        // 2024-01-01T15:59:59Z is 23:59:59 in Beijing; a second later it is the next day.
        let before = 1_704_124_799;
        assert_eq!(beijing_day(before) + 1, beijing_day(before + 1));
        assert_eq!(beijing_day(-1), beijing_day(0)); // 1970-01-01T08:00 in Beijing, same day
        assert_eq!(minute(119), 1);
        assert_eq!(minute(-1), -1);
    }
}
