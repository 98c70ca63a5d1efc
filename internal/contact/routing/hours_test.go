package routing

import (
	"testing"
	"time"
	_ "time/tzdata" // the time-zone cases must not depend on the machine's zoneinfo
)

// officeHours are 09:00-17:00 Monday to Friday, with a lunch break on
// Wednesday.
func officeHours(loc *time.Location, holidays ...Date) *Hours {
	h := &Hours{Location: loc, Holidays: holidays}
	for d := time.Monday; d <= time.Friday; d++ {
		h.Week[d] = []Span{{At(9, 0), At(17, 0)}}
	}
	h.Week[time.Wednesday] = []Span{{At(9, 0), At(12, 0)}, {At(13, 0), At(17, 0)}}
	return h
}

func load(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func TestHoursOpen(t *testing.T) {
	newYork, auckland := load(t, "America/New_York"), load(t, "Pacific/Auckland")
	allDay := &Hours{Location: auckland, Holidays: []Date{{Month: time.December, Day: 25}}}
	for d := range allDay.Week {
		allDay.Week[d] = []Span{{At(0, 0), endOfDay}}
	}
	utc := func(y int, m time.Month, d, h, min int) time.Time { return time.Date(y, m, d, h, min, 0, 0, time.UTC) }
	tests := []struct {
		name  string
		hours *Hours
		at    time.Time
		open  bool
	}{
		{"no hours: always open", nil, utc(2026, 3, 1, 3, 0), true},
		{"before opening", officeHours(nil), utc(2026, 3, 2, 8, 59), false},
		{"at opening", officeHours(nil), utc(2026, 3, 2, 9, 0), true},
		{"last minute", officeHours(nil), utc(2026, 3, 2, 16, 59), true},
		{"at closing", officeHours(nil), utc(2026, 3, 2, 17, 0), false},
		{"Saturday", officeHours(nil), utc(2026, 3, 7, 11, 0), false},
		{"Wednesday lunch", officeHours(nil), utc(2026, 3, 4, 12, 30), false},
		{"Wednesday afternoon", officeHours(nil), utc(2026, 3, 4, 13, 0), true},
		{"holiday", officeHours(nil, Date{2026, time.March, 2}), utc(2026, 3, 2, 11, 0), false},
		{"holiday of another year", officeHours(nil, Date{2025, time.March, 2}), utc(2026, 3, 2, 11, 0), true},
		{"yearly holiday", officeHours(nil, Date{Month: time.December, Day: 25}), utc(2026, 12, 25, 11, 0), false},
		// New York: 09:00 local is 14:00 UTC in winter (EST) and 13:00 UTC in summer (EDT).
		{"New York winter 08:30 local", officeHours(newYork), utc(2026, 1, 5, 13, 30), false},
		{"New York winter 09:00 local", officeHours(newYork), utc(2026, 1, 5, 14, 0), true},
		{"New York summer 09:30 local", officeHours(newYork), utc(2026, 7, 6, 13, 30), true},
		{"New York the Monday after the clocks changed", officeHours(newYork), utc(2026, 3, 9, 13, 0), true},
		{"New York Friday 16:30 local is Friday 21:30 UTC", officeHours(newYork), utc(2026, 1, 9, 21, 30), true},
		{"New York Friday 17:30 local", officeHours(newYork), utc(2026, 1, 9, 22, 30), false},
		// Auckland (UTC+13 in December): Christmas starts at 11:00 UTC on the 24th.
		{"Auckland Christmas, still the 24th in UTC", allDay, utc(2026, 12, 24, 12, 0), false},
		{"Auckland Christmas Eve, the 24th in UTC", allDay, utc(2026, 12, 24, 10, 0), true},
		{"Auckland Boxing Day, still the 25th in UTC", allDay, utc(2026, 12, 25, 12, 0), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.hours.Open(tt.at); got != tt.open {
				t.Errorf("Open(%v) = %v, want %v", tt.at, got, tt.open)
			}
			q := Queue{ID: "q", Hours: tt.hours}
			if got := q.Open(tt.at); got != tt.open {
				t.Errorf("Queue.Open(%v) = %v, want %v", tt.at, got, tt.open)
			}
		})
	}
}

func TestHoursNextOpen(t *testing.T) {
	newYork := load(t, "America/New_York")
	utc := func(y int, m time.Month, d, h, min int) time.Time { return time.Date(y, m, d, h, min, 0, 0, time.UTC) }
	tests := []struct {
		name  string
		hours *Hours
		from  time.Time
		want  time.Time
		found bool
	}{
		{"open now", officeHours(nil), utc(2026, 3, 2, 10, 0), utc(2026, 3, 2, 10, 0), true},
		{"early morning", officeHours(nil), utc(2026, 3, 2, 7, 0), utc(2026, 3, 2, 9, 0), true},
		{"lunch", officeHours(nil), utc(2026, 3, 4, 12, 10), utc(2026, 3, 4, 13, 0), true},
		{"Friday evening", officeHours(nil), utc(2026, 3, 6, 17, 30), utc(2026, 3, 9, 9, 0), true},
		{"long weekend", officeHours(nil, Date{2026, time.March, 9}), utc(2026, 3, 6, 17, 30), utc(2026, 3, 10, 9, 0), true},
		{"New York, across the clock change", officeHours(newYork), utc(2026, 3, 7, 12, 0), utc(2026, 3, 9, 13, 0), true},
		{"never open", &Hours{}, utc(2026, 3, 2, 7, 0), time.Time{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, found := tt.hours.NextOpen(tt.from)
			if !got.Equal(tt.want) || found != tt.found {
				t.Errorf("NextOpen = %v, %v; want %v, %v", got, found, tt.want, tt.found)
			}
		})
	}
}

func TestHoursValidate(t *testing.T) {
	tests := []struct {
		name string
		h    Hours
		ok   bool
	}{
		{"office hours", *officeHours(nil, Date{Month: time.February, Day: 29}), true},
		{"whole day", Hours{Week: [7][]Span{{{0, endOfDay}}}}, true},
		{"backwards span", Hours{Week: [7][]Span{{{At(17, 0), At(9, 0)}}}}, false},
		{"empty span", Hours{Week: [7][]Span{{{At(9, 0), At(9, 0)}}}}, false},
		{"past midnight", Hours{Week: [7][]Span{{{At(22, 0), At(25, 0)}}}}, false},
		{"30 February", Hours{Holidays: []Date{{Month: time.February, Day: 30}}}, false},
		{"29 February 2026", Hours{Holidays: []Date{{2026, time.February, 29}}}, false},
		{"month 13", Hours{Holidays: []Date{{Month: 13, Day: 1}}}, false},
	}
	for _, tt := range tests {
		if err := tt.h.Validate(); (err == nil) != tt.ok {
			t.Errorf("%s: Validate() = %v, want ok %v", tt.name, err, tt.ok)
		}
	}
}
