package gateway

import (
	"time"

	"github.com/caddy-stepup/stepup/locale"
	"github.com/caddy-stepup/stepup/web"
)

// relativeTime shows t against now, in words of l: "in 14 minutes (10:32 UTC)",
// marked up so the gateway's script (web/static/time.js) rewrites it in the reader's
// own time zone, with the exact UTC time in its title.
func relativeTime(l *locale.Lang, id string, t, now time.Time) web.Time {
	return web.Time{ID: id, ISO: t.UTC().Format(time.RFC3339), UTC: t.UTC().Format(l.Text("time.exactLayout")),
		Text: l.Text("time.withClock", "When", relative(t.Sub(now)).in(l), "Clock", t.UTC().Format("15:04 UTC")), Local: "relative"}
}

// dateTime shows t as a date and time: "2 Dec 2026 10:32 UTC".
func dateTime(l *locale.Lang, id string, t time.Time) web.Time {
	return web.Time{ID: id, ISO: t.UTC().Format(time.RFC3339), UTC: t.UTC().Format(l.Text("time.exactLayout")),
		Text: t.UTC().Format(l.Text("time.dateLayout")), Local: "date"}
}

// relative says a duration from now, rounded to the nearest unit: "in 3 minutes",
// "2 hours ago".
func relative(d time.Duration) words {
	past := d < 0
	if past {
		d = -d
	}
	var n int
	var unit string
	switch {
	case d < 90*time.Second:
		n, unit = int((d+30*time.Second)/time.Minute), "Minutes"
		if n == 0 {
			if past {
				return say("time.justNow")
			}
			return say("time.inUnderAMinute")
		}
	case d < 90*time.Minute:
		n, unit = int((d+30*time.Second)/time.Minute), "Minutes"
	case d < 36*time.Hour:
		n, unit = int((d+30*time.Minute)/time.Hour), "Hours"
	default:
		n, unit = int((d+12*time.Hour)/(24*time.Hour)), "Days"
	}
	if past {
		return say("time."+lower(unit)+"Ago", "Count", n)
	}
	return say("time.in"+unit, "Count", n)
}

// lasting says how long something lasts: "15 minutes".
func lasting(d time.Duration) words {
	switch {
	case d < 90*time.Minute:
		return say("duration.minutes", "Count", max(int((d+30*time.Second)/time.Minute), 1))
	case d < 36*time.Hour:
		return say("duration.hours", "Count", int((d+30*time.Minute)/time.Hour))
	default:
		return say("duration.days", "Count", int((d+12*time.Hour)/(24*time.Hour)))
	}
}

func lower(unit string) string {
	return map[string]string{"Minutes": "minutes", "Hours": "hours", "Days": "days"}[unit]
}

// clock is the time error messages are worded against ("try again in 3 minutes").
var clock = time.Now

// relativeSeconds says a short wait to the second: "in 45 seconds".
func relativeSeconds(d time.Duration) words {
	if d >= 90*time.Second {
		return relative(d)
	}
	n := int((d + time.Second - 1) / time.Second)
	if n < 1 {
		return say("time.now")
	}
	return say("time.inSeconds", "Count", n)
}
