package caddymodule

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig"
	_ "github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	_ "github.com/caddyserver/caddy/v2/modules/standard"
)

var update = flag.Bool("update", false, "rewrite the adapt golden files")

// adapt turns a whole Caddyfile into JSON as `caddy adapt` does.
func adapt(t *testing.T, name, src string) ([]byte, error) {
	t.Helper()
	a := caddyconfig.GetAdapter("caddyfile")
	out, warnings, err := a.Adapt([]byte(src), map[string]any{"filename": name})
	for _, w := range warnings {
		t.Logf("warning: %s:%d: %s", w.File, w.Line, w.Message)
	}
	return out, err
}

// TestAdaptGolden: each testdata/adapt/*.caddyfiletest holds a Caddyfile, a line
// "----------", and the JSON it must adapt to. Run with -update to rewrite them.
func TestAdaptGolden(t *testing.T) {
	files, _ := filepath.Glob("testdata/adapt/*.caddyfiletest")
	if len(files) == 0 {
		t.Fatal("no golden files")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			in, want, _ := strings.Cut(string(raw), "----------\n")
			out, err := adapt(t, "Caddyfile", in)
			if err != nil {
				t.Fatalf("adapt: %v", err)
			}
			var pretty bytes.Buffer
			if err := json.Indent(&pretty, out, "", "\t"); err != nil {
				t.Fatal(err)
			}
			got := pretty.String() + "\n"
			if *update {
				if err := os.WriteFile(f, []byte(in+"----------\n"+got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if got != want {
				t.Errorf("adapted JSON differs (run go test -update to accept):\n got: %s\nwant: %s", got, want)
			}
		})
	}
}

func TestAdaptExampleCaddyfile(t *testing.T) {
	src, err := os.ReadFile("../Caddyfile.example")
	if err != nil {
		t.Fatal(err)
	}
	out, err := adapt(t, "Caddyfile.example", string(src))
	if err != nil {
		t.Fatalf("Caddyfile.example: %v", err)
	}
	// No `order` line is needed: stepup sits before reverse_proxy in the route.
	s := string(out)
	if i, j := strings.Index(s, `"handler":"stepup"`), strings.Index(s, `"handler":"reverse_proxy"`); i < 0 || j < 0 || i > j {
		t.Fatalf("stepup must come before reverse_proxy:\n%s", s)
	}
}

// TestCaddyfileErrors: a bad Caddyfile fails at load naming the file, the line and
// what was expected.
func TestCaddyfileErrors(t *testing.T) {
	t.Setenv("STEPUP_SHORT_KEY", "tooshort")
	const strong = "q3X9vK2mP8wL5nR7tY4uZ1aB6cD0eF3gH5jK7lM9nP2="
	const other = "Vb7Nc2Xz9Lk4Jh6Gf1Ds8Pa3Qw5Er0Ty2Ui7Op4As9Zx="
	tests := []struct {
		name, block string
		line        int
		want        string
	}{
		{"unknown subdirective", "stepup {\n\tfrobnicate on\n}", 3, `unknown stepup subdirective "frobnicate"`},
		{"bad duration", "stepup {\n\tprotect /a {\n\t\tmax_age soon\n\t}\n}", 4, `max_age: expected a positive duration such as 5m or 90s, got "soon"`},
		{"negative duration", "stepup {\n\ttoken_lifetime -5m\n}", 3, "expected a positive duration"},
		{"bad path pattern", "stepup {\n\tprotect api/* {\n\t}\n}", 3, `path pattern "api/*" must start with / or *`},
		{"bad glob", "stepup {\n\tprotect /a/[ {\n\t}\n}", 3, "syntax error in pattern"},
		{"protect without paths", "stepup {\n\tprotect {\n\t}\n}", 3, "protect needs one or more path patterns"},
		{"bad method", "stepup {\n\tprotect /a {\n\t\tmethods FETCH\n\t}\n}", 4, `expected HTTP methods such as POST or DELETE, got "FETCH"`},
		{"unknown protect option", "stepup {\n\tprotect /a {\n\t\tmaxage 5m\n\t}\n}", 4, `unknown protect subdirective "maxage"`},
		{"unknown store", "stepup {\n\tstore etcd x\n}", 3, `unknown store "etcd"`},
		{"console cookie named as the gateway's", "stepup {\n\tlogin /login {\n\t\tsuccess_cookie Stepup.Session\n\t}\n}", 4, `success_cookie: "Stepup.Session" is read as the gateway's own cookie "stepup_session"`},
		{"name in an unknown language", "stepup {\n\tprotect /a {\n\t\tname fr \"changements\"\n\t}\n}", 4, `name fr: the gateway speaks "en" (English) and "zh-Hans" (简体中文); got "fr"`},
		{"description with too many words", "stepup {\n\tprotect /a {\n\t\tdescription zh-Hans a b\n\t}\n}", 4, "expected `description <text>` or `description <lang> <text>`"},
		{"name twice", "stepup {\n\tprotect /a {\n\t\tname a\n\t\tname b\n\t}\n}", 5, "name is set twice"},
		{"a translation twice", "stepup {\n\tprotect /a {\n\t\tname zh \"一\"\n\t\tname zh-Hans \"二\"\n\t}\n}", 5, "name zh-Hans is set twice"},
		{"signing key twice", "stepup {\n\tsigning_key " + strong + "\n\tsigning_key " + strong + "x\n}", 4, "signing_key is set twice"},
		{"lang twice", "stepup {\n\tlang en\n\tlang zh-Hans\n}", 4, "lang is set twice"},
		{"store twice", "stepup {\n\tstore memory\n\tstore memory\n}", 4, "store is set twice"},
		{"Traditional Chinese is not Simplified", "stepup {\n\tlang zh-TW\n}", 3, `got "zh-TW"`},
		{"unknown lang", "stepup {\n\tlang fr\n}", 3, `lang: the gateway speaks "en" (English) and "zh-Hans" (简体中文); got "fr"`},
		{"lang without code", "stepup {\n\tlang\n}", 3, "lang needs a value"},
		{"redis without url", "stepup {\n\tstore redis\n}", 3, "store redis <url>"},
		{"store without backend", "stepup {\n\tstore\n}", 3, "store needs a backend"},
		{"memory with two files", "stepup {\n\tstore memory a b\n}", 3, "expected `store memory [<file>]`"},
		{"redis bad scheme", "stepup {\n\tstore redis http://h:1\n}", 3, `unknown scheme "http"`},
		{"redis bad cluster URL", "stepup {\n\tstore redis redis+cluster://h:1?addr=nope\n}", 3, "invalid redis URL"},
		{"sentinel without master", "stepup {\n\tstore redis redis+sentinel://h:26379\n}", 3, "needs master_name"},
		{"redis bad replicas", "stepup {\n\tstore redis redis://h:1 {\n\t\treplicas many\n\t}\n}", 4, "replicas: expected auto or a number"},
		{"redis bad wait", "stepup {\n\tstore redis redis://h:1 {\n\t\twait_timeout soon\n\t}\n}", 4, "wait_timeout: expected a positive duration"},
		{"redis prefix twice", "stepup {\n\tstore redis redis://h:1 p {\n\t\tprefix q\n\t}\n}", 4, "key prefix is given twice"},
		{"redis unknown option", "stepup {\n\tstore redis redis://h:1 {\n\t\tpool 3\n\t}\n}", 4, `unknown store redis subdirective "pool"`},
		{"short signing key", "stepup {\n\tsigning_key abc\n}", 3, "signing_key"},
		{"short key from env", "stepup {\n\tsigning_key {env.STEPUP_SHORT_KEY}\n}", 3, "signing_key"},
		{"unset env key", "stepup {\n\tencryption_key {env.STEPUP_NOT_SET_ANYWHERE}\n}", 3, "encryption_key {env.STEPUP_NOT_SET_ANYWHERE} is empty"},
		{"password-like key", "stepup {\n\tsigning_key correcthorsebatterystaplecorrecthorse\n}", 3, "signing_key"},
		{"previous key equal to the current", "stepup {\n\tsigning_key " + strong + " " + strong + "\n}", 3, "signing_key: key 2 is the same as key 1; a previous key must differ"},
		{"previous key repeated", "stepup {\n\tencryption_key " + strong + " " + other + " " + other + "\n}", 3, "encryption_key: key 3 is the same as key 2"},
		{"weak previous key", "stepup {\n\tsigning_key " + strong + " correcthorsebatterystaplecorrecthorse\n}", 3, "signing_key (previous key 1): token: signing key looks like words"},
		{"short previous key from env", "stepup {\n\tencryption_key " + strong + " {env.STEPUP_SHORT_KEY}\n}", 3, "encryption_key (previous key 1): token: signing key is 8 bytes"},
		{"unset previous key", "stepup {\n\tsigning_key " + strong + " {env.STEPUP_NOT_SET_ANYWHERE}\n}", 3, "signing_key (previous key 1) {env.STEPUP_NOT_SET_ANYWHERE} is empty"},
		{"signing key without value", "stepup {\n\tsigning_key\n}", 3, "signing_key needs a value"},
		{"encryption key that signs", "stepup {\n\tsigning_key " + other + " " + strong + "\n\tencryption_key " + strong + "\n}", 4, "encryption_key: a key is also a signing or encryption key of the other directive"},
		{"signing key that encrypts", "stepup {\n\tencryption_key " + other + "\n\tsigning_key " + other + "\n}", 4, "signing_key: a key is also"},
		{"key file twice", "stepup {\n\tsigning_key_file a.pem b.pem a.pem\n}", 3, "signing_key_file: file 3 is the same as file 1"},
		{"redis store without keys", "stepup {\n\tstore redis redis://127.0.0.1:6379/0\n}", 4, "signing_key (or signing_key_file) is required with store redis"},
		{"file store without encryption key", "stepup {\n\tstore memory /tmp/x.json\n\tsigning_key " + strong + "\n}", 5, "encryption_key is required with store memory"},
		{"bad success status", "stepup {\n\tlogin /login {\n\t\tsuccess_status ok\n\t}\n}", 4, `expected an HTTP status code, got "ok"`},
		{"login without path", "stepup {\n\tlogin {\n\t}\n}", 3, "login needs the console's login path"},
		{"bad identity", "stepup {\n\tidentity cookie x\n}", 3, "expected `identity session` or `identity header <name>`"},
		{"enforce is replaced", "stepup {\n\tenforce operation all\n}", 3, "write `require operation all`"},
		{"bad require", "stepup {\n\trequire everything all\n}", 3, "expected `require login|operation all|admins|root|<user...>`"},
		{"all with names", "stepup {\n\trequire operation all bob\n}", 3, `"all" stands alone`},
		{"require none", "stepup {\n\trequire login none\n}", 3, `leave the line out`},
		{"bad default", "stepup {\n\tdefault login maybe\n}", 3, "expected `default login|operation on|off [<method>...]`"},
		{"default twice", "stepup {\n\tdefault login on\n\tdefault login off\n}", 4, "default login is set twice"},
		{"default with an unknown method", "stepup {\n\tdefault login on email\n}", 3, `unknown second-factor method "email"`},
		{"unknown method", "stepup {\n\tmethods email\n}", 3, `unknown second-factor method "email"`},
		{"argument on the directive", "stepup on {\n}", 2, "wrong argument count"},
		{"whoami without a path", "stepup {\n\tlogin /login {\n\t\twhoami\n\t}\n}", 4, "expected `whoami <path> [<json_field>]`"},
		{"whoami and user_field", "stepup {\n\tlogin /login {\n\t\twhoami /api/whoami user\n\t\tuser_field username\n\t}\n}", 6, "set one of whoami, user_header or user_field"},
		{"user_header and whoami", "stepup {\n\tlogin /login {\n\t\tuser_header X-User\n\t\twhoami /me\n\t}\n}", 6, "the user comes from one place"},
		{"bind_console_session without success_cookie", "stepup {\n\tlogin /login\n\tbind_console_session\n}", 4, "set `success_cookie <name>` in the login block"},
		{"bind_console_session without login", "stepup {\n\tbind_console_session strict\n\tissuer x\n}", 3, "bind_console_session needs the console's session cookie"},
		{"bind_console_session bad arg", "stepup {\n\tbind_console_session always\n}", 3, "expected `bind_console_session [strict]`"},
		{"bind_console_session bad remember", "stepup {\n\tbind_console_session {\n\t\tremember forever\n\t}\n}", 4, "remember: expected a positive duration"},
		{"anomaly unknown signal", "stepup {\n\tanomaly {\n\t\tnew_browser 2\n\t}\n}", 4, `unknown anomaly subdirective "new_browser"`},
		{"anomaly negative weight", "stepup {\n\tanomaly {\n\t\tnew_device -1\n\t}\n}", 4, "expected a weight of 0 or more"},
		{"anomaly threshold 0", "stepup {\n\tanomaly {\n\t\tthreshold 0\n\t}\n}", 4, "expected a score of 1 or more"},
		{"anomaly bad failures", "stepup {\n\tanomaly {\n\t\trecent_failures 1 none\n\t}\n}", 4, "expected a number of wrong codes"},
		{"anomaly bad date", "stepup {\n\tanomaly {\n\t\tlog_only_until next-week\n\t}\n}", 4, "expected a date such as 2027-01-31"},
		{"anomaly argument", "stepup {\n\tanomaly on\n}", 3, "wrong argument count"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := "http://:8080 {\n" + tt.block + "\n}\n"
			_, err := adapt(t, "Caddyfile", src)
			if err == nil {
				t.Fatalf("adapt accepted:\n%s", src)
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.want) {
				t.Errorf("error %q does not say %q", msg, tt.want)
			}
			if loc := "Caddyfile:" + itoa(tt.line); !strings.Contains(msg, loc) {
				t.Errorf("error %q does not name %s", msg, loc)
			}
		})
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func FuzzUnmarshalCaddyfile(f *testing.F) {
	for _, s := range []string{demoBlock, "stepup {\n\tprotect /a/* {\n\t\tmax_age 1m\n\t}\n}", "stepup {\n\tlogin /l {\n\t\tsuccess_status 303\n\t}\n}", "stepup x", "stepup {\n\tstore redis redis://h/0 p\n}"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		// Whatever the input, parsing returns an error or a handler; it never panics.
		a := caddyconfig.GetAdapter("caddyfile")
		_, _, _ = a.Adapt([]byte("http://:8080 {\n"+src+"\n}\n"), map[string]any{"filename": "Caddyfile"})
	})
}

func TestSMSConfigErrors(t *testing.T) {
	for _, tt := range []struct{ block, want string }{
		{"stepup {\n\tsms carrier-pigeon\n}", `unknown sms provider "carrier-pigeon"`},
		{"stepup {\n\tsms webhook\n}", "webhook"},
	} {
		if _, err := adapt(t, "Caddyfile", "http://:8080 {\n"+tt.block+"\n}\n"); err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "Caddyfile:3") {
			t.Errorf("%q: %v, want %q at Caddyfile:3", tt.block, err, tt.want)
		}
	}
	var h Handler
	_ = json.Unmarshal([]byte(`{"methods":["sms"]}`), &h)
	if _, err := h.compileSettings(); err == nil || !strings.Contains(err.Error(), "needs an sms provider") {
		t.Errorf("sms without a provider: %v", err)
	}
}
