package gateway

import "testing"

func TestLoginUser(t *testing.T) {
	mp := func(parts ...string) string {
		var b string
		for i := 0; i+1 < len(parts); i += 2 {
			b += "--XYZ\r\nContent-Disposition: form-data; name=\"" + parts[i] + "\"\r\n\r\n" + parts[i+1] + "\r\n"
		}
		return b + "--XYZ--\r\n"
	}
	const form, js, multi = "application/x-www-form-urlencoded", "application/json", "multipart/form-data; boundary=XYZ"
	tests := []struct{ ct, query, body, want string }{
		{form, "", "username=alice&password=x", "alice"},
		{form + "; charset=utf-8", "", "password=x&username=+Bob+", "bob"},
		{js, "", `{"username":"carol","password":"x"}`, "carol"},
		{js, "", `{"password":"x","username":"carol","extra":{"username":"x"}}`, "carol"},
		{multi, "", mp("username", "dave", "password", "x"), "dave"},
		{"", "username=erin", "", "erin"},
		{form, "username=erin", "password=x", "erin"},
		{form, "", "username=%EF%BD%82%EF%BD%8F%EF%BD%82", "bob"}, // full-width letters
		{form, "", "username=Al%C4%B1ce", "alice"},                // dotless ı: Java's equalsIgnoreCase reads alice
		// Refused: another parser could read another name, or none can be read.
		{js, "", `{"username":7}`, ""},
		{js, "", `not json`, ""},
		{js, "", `["username"]`, ""},
		{js, "", `{"username":"bob"} {"username":"alice"}`, ""},
		{js, "", `{"username":"bob","username":"alice"}`, ""},
		{js, "", `{"username":"bob","Username":"alice"}`, ""},
		{js, "", `{"username":"bob","uſername":"alice"}`, ""},
		{js, "", `{"username":"bob","x":{"a":1,"A":2}}`, ""},
		{js, "", "{\"username\":\"b\xffob\"}", ""},
		{js, "", "username=bob", ""},
		{form, "", "username=bob&password=x&username=alice", ""},
		{form, "", "username=bob&USERNAME=alice", ""},
		{form, "", "username=bob&username[]=alice", ""},
		{form, "username=alice", "username=bob", ""},
		{form, "", `{"username":"bob"}`, ""},
		{form, "", "password=x", ""},
		{form, "", "username=%zz", ""},
		{form, "a=1;username=bob", "username=bob", ""},
		{multi, "", mp("username", "bob", "Username", "alice"), ""},
		{"multipart/form-data", "", mp("username", "bob"), ""},
		{"text/plain", "", "username=alice", ""},
		{"", "", "username=alice", ""},
		{"text/plain", "", `{"username":"alice"}`, ""},
		{form, "", "username=", ""},
		{form, "", "username=bo%00b", ""},
	}
	for _, tt := range tests {
		got, err := loginUser(tt.ct, tt.query, []byte(tt.body), "username")
		if got != tt.want || (tt.want == "") != (err != nil) {
			t.Errorf("loginUser(%q, %q, %q) = %q, %v; want %q", tt.ct, tt.query, tt.body, got, err, tt.want)
		}
	}
}

// A field name spelled with a letter some frameworks fold to an ASCII one (ı, İ) is the
// field too: two of them name two users.
func TestLoginUserFieldSpellings(t *testing.T) {
	for _, body := range []string{"user_id=bob&user_%C4%B1d=alice", "user_id=bob&USER_%C4%B0D=alice"} {
		if got, err := loginUser("application/x-www-form-urlencoded", "", []byte(body), "user_id"); err == nil {
			t.Errorf("%s: read %q, want a refusal", body, got)
		}
	}
}

func FuzzLoginUser(f *testing.F) {
	f.Add("application/json", "", `{"username":"bob"}`)
	f.Add("application/x-www-form-urlencoded", "x=1", "username=bob&password=x")
	f.Add("multipart/form-data; boundary=XYZ", "", "--XYZ\r\nContent-Disposition: form-data; name=\"username\"\r\n\r\nbob\r\n--XYZ--\r\n")
	f.Fuzz(func(t *testing.T, ct, query, body string) {
		user, err := loginUser(ct, query, []byte(body), "username")
		if (err == nil) == (user == "") {
			t.Fatalf("user %q with error %v", user, err)
		}
	})
}
