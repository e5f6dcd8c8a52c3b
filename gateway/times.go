package gateway

import (
	"strconv"
	"time"
)

// timeView is a time as a page shows it: "in 14 minutes (10:32 UTC)" or a date,
// marked up so the gateway's script (web/static/time.js) rewrites it in the reader's
// own time zone, with the exact UTC time in its title.
type timeView struct {
	ID    string // the element's id, or ""
	ISO   string // RFC 3339, for the datetime attribute
	UTC   string // the exact time, for the title
	Text  string // what shows without the script
	Local string // "relative" (in N minutes, and the clock) or "date" (a date and time)
}

// relativeTime shows t against now: "in 14 minutes (10:32 UTC)".
func relativeTime(id string, t, now time.Time) timeView {
	return timeView{ID: id, ISO: t.UTC().Format(time.RFC3339), UTC: t.UTC().Format("2 Jan 2006 15:04:05 UTC"),
		Text: relative(t.Sub(now)) + " (" + t.UTC().Format("15:04 UTC") + ")", Local: "relative"}
}

// dateTime shows t as a date and time: "2 Dec 2026 10:32 UTC".
func dateTime(id string, t time.Time) timeView {
	return timeView{ID: id, ISO: t.UTC().Format(time.RFC3339), UTC: t.UTC().Format("2 Jan 2006 15:04:05 UTC"),
		Text: t.UTC().Format("2 Jan 2006 15:04 UTC"), Local: "date"}
}

// relative says a duration from now in words, rounded to the nearest unit.
func relative(d time.Duration) string {
	past := d < 0
	if past {
		d = -d
	}
	var n int
	var unit string
	switch {
	case d < 90*time.Second:
		n, unit = int((d+30*time.Second)/time.Minute), "minute"
		if n == 0 {
			if past {
				return "just now"
			}
			return "in less than a minute"
		}
	case d < 90*time.Minute:
		n, unit = int((d+30*time.Second)/time.Minute), "minute"
	case d < 36*time.Hour:
		n, unit = int((d+30*time.Minute)/time.Hour), "hour"
	default:
		n, unit = int((d+12*time.Hour)/(24*time.Hour)), "day"
	}
	s := strconv.Itoa(n) + " " + plural(n, unit, unit+"s")
	if past {
		return s + " ago"
	}
	return "in " + s
}

// plural picks the word for n things.
func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// clock is the time error messages are worded against ("try again in 3 minutes").
var clock = time.Now

// relativeSeconds says a short wait to the second: "in 45 seconds".
func relativeSeconds(d time.Duration) string {
	if d >= 90*time.Second {
		return relative(d)
	}
	n := int((d + time.Second - 1) / time.Second)
	if n < 1 {
		return "now"
	}
	return "in " + strconv.Itoa(n) + " " + plural(n, "second", "seconds")
}
