package routing

import (
	"fmt"
	"time"
)

// Clock is a wall-clock time of day in minutes after midnight: At(9, 30).
// 24*60 is the end of the day.
type Clock int

// At is the Clock for hour:minute.
func At(hour, minute int) Clock { return Clock(hour*60 + minute) }

const endOfDay = Clock(24 * 60)

// Span is an opening from Open up to (not including) Close on one day.
// An opening across midnight is two spans, one on each day.
type Span struct{ Open, Close Clock }

// Date is a calendar day; Year 0 means every year (Christmas).
type Date struct {
	Year  int
	Month time.Month
	Day   int
}

// Hours are a queue's opening hours, read on the wall clock of Location:
// a 09:00 opening is 09:00 local on both sides of a daylight-saving change.
type Hours struct {
	// Location is the queue's time zone; nil means UTC.
	Location *time.Location
	// Week holds the spans of each day, indexed by time.Weekday (Sunday is
	// 0). A day without spans is closed.
	Week [7][]Span
	// Holidays are closed all day, whatever Week says.
	Holidays []Date
}

func (h *Hours) location() *time.Location {
	if h.Location == nil {
		return time.UTC
	}
	return h.Location
}

// Open reports whether the hours are open at t. Nil hours are always open.
func (h *Hours) Open(t time.Time) bool {
	if h == nil {
		return true
	}
	local := t.In(h.location())
	if h.holiday(local) {
		return false
	}
	now := At(local.Hour(), local.Minute())
	for _, s := range h.Week[local.Weekday()] {
		if s.Open <= now && now < s.Close {
			return true
		}
	}
	return false
}

// NextOpen is the first moment at or after t when the hours are open, for
// telling a visitor when to come back; false if they do not open within a
// year.
func (h *Hours) NextOpen(t time.Time) (time.Time, bool) {
	if h.Open(t) {
		return t, true
	}
	loc := h.location()
	local := t.In(loc)
	for day := 0; day <= 366; day++ {
		d := time.Date(local.Year(), local.Month(), local.Day()+day, 0, 0, 0, 0, loc)
		if h.holiday(d) {
			continue
		}
		var best time.Time
		for _, s := range h.Week[d.Weekday()] {
			start := time.Date(d.Year(), d.Month(), d.Day(), int(s.Open)/60, int(s.Open)%60, 0, 0, loc)
			if start.Before(t) {
				continue // today's span already passed (or is open: handled above)
			}
			if best.IsZero() || start.Before(best) {
				best = start
			}
		}
		if !best.IsZero() {
			return best, true
		}
	}
	return time.Time{}, false
}

func (h *Hours) holiday(local time.Time) bool {
	for _, d := range h.Holidays {
		if (d.Year == 0 || d.Year == local.Year()) && d.Month == local.Month() && d.Day == local.Day() {
			return true
		}
	}
	return false
}

// Validate checks that spans lie within a day and holidays are real days.
func (h *Hours) Validate() error {
	if h == nil {
		return nil
	}
	for day, spans := range h.Week {
		for _, s := range spans {
			if s.Open < 0 || s.Close > endOfDay || s.Open >= s.Close {
				return fmt.Errorf("hours on %s: span %s-%s is not within one day", time.Weekday(day), s.Open, s.Close)
			}
		}
	}
	for _, d := range h.Holidays {
		year := d.Year
		if year == 0 {
			year = 2024 // a leap year, so 29 February is allowed
		}
		if d.Month < time.January || d.Month > time.December || d.Day < 1 ||
			time.Date(year, d.Month, d.Day, 0, 0, 0, 0, time.UTC).Day() != d.Day {
			return fmt.Errorf("holiday %d-%02d-%02d is not a day", d.Year, int(d.Month), d.Day)
		}
	}
	return nil
}

// String formats c as hh:mm.
func (c Clock) String() string { return fmt.Sprintf("%02d:%02d", int(c)/60, int(c)%60) }

func (h Hours) clone() Hours {
	for i := range h.Week {
		h.Week[i] = append([]Span(nil), h.Week[i]...)
	}
	h.Holidays = append([]Date(nil), h.Holidays...)
	return h
}
