package gateway

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/caddy-stepup/stepup/keyring"
	"github.com/caddy-stepup/stepup/locale"
)

func TestRelative(t *testing.T) {
	for d, want := range map[time.Duration][2]string{
		10 * time.Second:               {"in less than a minute", "不到 1 分钟后"},
		-10 * time.Second:              {"just now", "刚刚"},
		60 * time.Second:               {"in 1 minute", "1 分钟后"},
		4*time.Minute + 59*time.Second: {"in 5 minutes", "5 分钟后"},
		14 * time.Minute:               {"in 14 minutes", "14 分钟后"},
		-3 * time.Minute:               {"3 minutes ago", "3 分钟前"},
		2 * time.Hour:                  {"in 2 hours", "2 小时后"},
		3 * 24 * time.Hour:             {"in 3 days", "3 天后"},
	} {
		for i, l := range []*locale.Lang{locale.English, locale.Chinese} {
			if got := relative(d).in(l); got != want[i] {
				t.Errorf("relative(%v) in %s = %q, want %q", d, l.Code(), got, want[i])
			}
		}
	}
	if got := relativeSeconds(45 * time.Second).english(); got != "in 45 seconds" {
		t.Errorf("relativeSeconds(45s) = %q", got)
	}
	if got := relativeSeconds(time.Second).english(); got != "in 1 second" {
		t.Errorf("relativeSeconds(1s) = %q", got)
	}
	if got := relativeSeconds(45 * time.Second).in(locale.Chinese); got != "45 秒后" {
		t.Errorf("relativeSeconds(45s) in Chinese = %q", got)
	}
	if got := lasting(15 * time.Minute).in(locale.Chinese); got != "15 分钟" {
		t.Errorf("lasting(15m) in Chinese = %q", got)
	}
}

func TestTypedCodeAndKeyGroups(t *testing.T) {
	for in, want := range map[string]string{"123 456": "123456", "123-456": "123456", " 123456 ": "123456", "123\u00a0456": "123456"} {
		if got := typedCode(in); got != want {
			t.Errorf("typedCode(%q) = %q", in, got)
		}
	}
	if got := groupKey("ABCDEFGHIJ"); got != "ABCD EFGH IJ" {
		t.Errorf("groupKey = %q", got)
	}
}

// A flash is read once, only by its own page, and only when the gateway signed it.
func TestFlash(t *testing.T) {
	keys, _ := keyring.New([]byte("0123456789abcdef0123456789abcdef"))
	f := flashes{keys: keys, cookies: cookies{prefix: "/.stepup"}}
	w := httptest.NewRecorder()
	f.redirect(w, httptest.NewRequest("POST", "http://localhost/.stepup/x", nil), "/.stepup/x", flash{For: "settings", Error: "That code is not right."})
	set := w.Result().Cookies()[0]
	read := func(page, value string) flash {
		r := httptest.NewRequest("GET", "http://localhost/.stepup/", nil)
		r.AddCookie(&http.Cookie{Name: flashCookie, Value: value})
		return f.take(httptest.NewRecorder(), r, page)
	}
	if got := read("settings", set.Value); got.Error != "That code is not right." {
		t.Fatalf("flash = %+v", got)
	}
	if got := read("challenge:abc", set.Value); got.Error != "" {
		t.Fatalf("another page read the flash: %+v", got)
	}
	forged := set.Value[:len(set.Value)-2] + "AA"
	if got := read("settings", forged); got.Error != "" {
		t.Fatalf("a forged flash was read: %+v", got)
	}
}
