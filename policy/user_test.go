package policy

import "testing"

func TestCanonicalUser(t *testing.T) {
	for in, want := range map[string]string{
		"bob":                 "bob",
		"BOB":                 "bob",
		" Bob ":               "bob",
		"ｂｏｂ":                 "bob",
		"ſam":                 "sam", // long s folds to s, as Go's encoding/json and Python's casefold do
		"Straße":              "strasse",
		"\u212Aelvin":         "kelvin",        // the Kelvin sign
		"admınistrator":       "administrator", // dotless ı upper-cases to I (Java's equalsIgnoreCase)
		"ADMİNISTRATOR":       "administrator", // İ lower-cases to i
		"ADMI\u0307NISTRATOR": "administrator", // I and a combining dot compose to İ
		"\U0001D6A4ris":       "iris",          // mathematical dotless i: NFKC makes it ı
		"alice@Example.COM":   "alice@example.com",
		"":                    "",
		"   ":                 "",
		"bo\x00b":             "",
		"bo\nb":               "",
		"\xff":                "",
	} {
		if got := CanonicalUser(in); got != want {
			t.Errorf("CanonicalUser(%q) = %q, want %q", in, got, want)
		}
		if got := CanonicalUser(CanonicalUser(in)); got != CanonicalUser(in) {
			t.Errorf("CanonicalUser is not stable on %q: %q", in, got)
		}
	}
	if !SameUser("Bob", "bob") || SameUser("bob", "bobby") || SameUser("", "") {
		t.Error("SameUser")
	}
}

func FuzzCanonicalUser(f *testing.F) {
	for _, s := range []string{"bob", "BOB", "ｂｏｂ", "ß", "İstanbul", "ﬀ"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c := CanonicalUser(s)
		if CanonicalUser(c) != c {
			t.Fatalf("not stable: %q -> %q -> %q", s, c, CanonicalUser(c))
		}
	})
}
