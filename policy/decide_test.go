package policy

import (
	"reflect"
	"slices"
	"testing"
	"time"
)

func TestDecide(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	rule := OperationRule{Name: "instances", MaxAge: 5 * time.Minute}
	protected := Profile{User: "alice", Protection: Protection{Operation: true, OperationMethods: []Method{TOTP, SMS}}, Bound: []Method{TOTP}}
	unbound := Profile{User: "alice", Protection: Protection{Operation: true, OperationMethods: []Method{TOTP}}}
	open := Profile{User: "alice", Protection: Protection{Login: true, LoginMethods: []Method{TOTP}}, Bound: []Method{TOTP}}
	token := func(user, sid string, age time.Duration) *StepUp {
		return &StepUp{User: user, Session: sid, AuthTime: now.Add(-age)}
	}
	tests := []struct {
		name    string
		req     Request
		profile Profile
		want    Verdict
		methods []Method
	}{
		{"unknown user", Request{Now: now}, protected, SignIn, nil},
		{"user without session", Request{User: "alice", Now: now}, protected, SignIn, nil},
		{"protection off", Request{User: "alice", Session: "s1", Now: now}, open, Allow, nil},
		{"no token", Request{User: "alice", Session: "s1", Now: now}, protected, Challenge, []Method{TOTP}},
		{"fresh token", Request{User: "alice", Session: "s1", Now: now, StepUp: token("alice", "s1", time.Minute)}, protected, Allow, nil},
		{"token exactly max_age old", Request{User: "alice", Session: "s1", Now: now, StepUp: token("alice", "s1", 5*time.Minute)}, protected, Allow, nil},
		{"token too old", Request{User: "alice", Session: "s1", Now: now, StepUp: token("alice", "s1", 5*time.Minute+time.Second)}, protected, Challenge, []Method{TOTP}},
		{"token of another user", Request{User: "alice", Session: "s1", Now: now, StepUp: token("bob", "s1", 0)}, protected, Challenge, []Method{TOTP}},
		{"token of another session", Request{User: "alice", Session: "s1", Now: now, StepUp: token("alice", "s2", 0)}, protected, Challenge, []Method{TOTP}},
		{"token from the future", Request{User: "alice", Session: "s1", Now: now, StepUp: token("alice", "s1", -time.Minute)}, protected, Challenge, []Method{TOTP}},
		{"nothing bound", Request{User: "alice", Session: "s1", Now: now}, unbound, Bind, []Method{TOTP}},
		{"both bound, either offered", Request{User: "alice", Session: "s1", Now: now}, Profile{Protection: Protection{Operation: true, OperationMethods: []Method{TOTP, SMS}}, Bound: []Method{SMS, TOTP}}, Challenge, []Method{TOTP, SMS}},
		{"bound method not enabled", Request{User: "alice", Session: "s1", Now: now}, Profile{Protection: Protection{Operation: true, OperationMethods: []Method{TOTP}}, Bound: []Method{SMS}}, Bind, []Method{TOTP}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Decide(tt.req, rule, tt.profile)
			if got.Verdict != tt.want || !reflect.DeepEqual(got.Methods, tt.methods) {
				t.Fatalf("Decide = %v %v (%s), want %v %v", got.Verdict, got.Methods, got.Reason, tt.want, tt.methods)
			}
			if got.Reason == "" {
				t.Fatal("decision without a reason for the log")
			}
		})
	}
}

func TestDecideLogin(t *testing.T) {
	opBound := Profile{Protection: Protection{Operation: true, OperationMethods: []Method{TOTP, SMS}}, Bound: []Method{SMS}}
	anomalous := Risk{Seen: []Signal{NewDevice}, Score: 2, Anomalous: true}
	tests := []struct {
		name    string
		profile Profile
		risk    Risk
		want    Verdict
		methods []Method
	}{
		{"login protection off", opBound, Risk{}, Allow, nil},
		{"bound", Profile{Protection: Protection{Login: true, LoginMethods: []Method{TOTP}}, Bound: []Method{TOTP}}, Risk{}, Challenge, []Method{TOTP}},
		{"nothing bound goes to binding", Profile{Protection: Protection{Login: true, LoginMethods: []Method{TOTP}}}, Risk{}, Bind, []Method{TOTP}},
		{"anomalous, operation protection and a method bound", opBound, anomalous, Challenge, []Method{SMS}},
		{"anomalous in the grace period is only logged", opBound, Risk{Seen: anomalous.Seen, Score: 2, Anomalous: true, LogOnly: true}, Allow, nil},
		{"anomalous but nothing bound: never forced to bind", Profile{Protection: opBound.Protection}, anomalous, Allow, nil},
		{"anomalous but operation protection off", Profile{Protection: Protection{OperationMethods: []Method{SMS}}, Bound: []Method{SMS}}, anomalous, Allow, nil},
		{"anomalous but the bound method is not one operation protection takes",
			Profile{Protection: Protection{Operation: true, OperationMethods: []Method{TOTP}}, Bound: []Method{SMS}}, anomalous, Allow, nil},
		{"login protection wins over the risk", Profile{Protection: Protection{Login: true, LoginMethods: []Method{TOTP}, Operation: true, OperationMethods: []Method{SMS}}, Bound: []Method{TOTP, SMS}},
			anomalous, Challenge, []Method{TOTP}},
	}
	for _, tt := range tests {
		got := DecideLogin(tt.profile, tt.risk)
		if got.Verdict != tt.want || !reflect.DeepEqual(got.Methods, tt.methods) {
			t.Errorf("%s: DecideLogin = %v %v (%s), want %v %v", tt.name, got.Verdict, got.Methods, got.Reason, tt.want, tt.methods)
		}
		if got.Reason == "" {
			t.Errorf("%s: no reason for the log", tt.name)
		}
	}
}

func TestAnomalyRulesAssess(t *testing.T) {
	now := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	rules := DefaultAnomalyRules()
	tests := []struct {
		name      string
		rules     AnomalyRules
		seen      []Signal
		score     int
		anomalous bool
		logOnly   bool
	}{
		{"nothing seen", rules, nil, 0, false, false},
		{"a new device alone", rules, []Signal{NewDevice}, 2, true, false},
		{"a new network alone", rules, []Signal{NewNetwork}, 1, false, false},
		{"a new network and recent failures", rules, []Signal{NewNetwork, RecentFailures}, 2, true, false},
		{"every signal", rules, Signals, 4, true, false},
		{"a signal without weight counts nothing", AnomalyRules{Weights: map[Signal]int{NewNetwork: 3}, Threshold: 3}, []Signal{NewDevice}, 0, false, false},
		{"threshold 0 is never anomalous", AnomalyRules{Weights: rules.Weights}, Signals, 4, false, false},
		{"grace period running", AnomalyRules{Weights: rules.Weights, Threshold: 2, LogOnlyUntil: now.Add(time.Hour)}, []Signal{NewDevice}, 2, true, true},
		{"grace period over", AnomalyRules{Weights: rules.Weights, Threshold: 2, LogOnlyUntil: now}, []Signal{NewDevice}, 2, true, false},
	}
	for _, tt := range tests {
		r := tt.rules.Assess(tt.seen, now)
		if r.Score != tt.score || r.Anomalous != tt.anomalous || r.LogOnly != tt.logOnly || !reflect.DeepEqual(r.Seen, slices.Clone(tt.seen)) {
			t.Errorf("%s: Assess = %+v, want score %d anomalous %v log only %v", tt.name, r, tt.score, tt.anomalous, tt.logOnly)
		}
	}
	if got := rules.Assess([]Signal{NewDevice, NewNetwork}, now).String(); got != "new_device,new_network (score 3)" {
		t.Errorf("Risk.String = %q", got)
	}
}

func TestSettingsFor(t *testing.T) {
	both := []Method{TOTP, SMS}
	s := Settings{
		Methods:  both,
		Defaults: map[Kind]Choice{Login: {On: false}, Operation: {On: true, Methods: []Method{TOTP}}},
		Mandates: map[Kind]Audience{Login: {Admins: true, Users: []string{"Carol"}}},
		Roles:    Roles{Root: []string{"alice"}, Admins: []string{"bob"}},
	}
	off := &Choice{On: false}
	smsOnly := &Choice{On: true, Methods: []Method{SMS}}
	tests := []struct {
		name   string
		user   string
		c      Choices
		login  bool
		loginM []Method
		op     bool
		opM    []Method
		mand   bool
	}{
		{"a user starts with the defaults", "dave", Choices{}, false, both, true, []Method{TOTP}, false},
		{"root starts with SMS first", "alice", Choices{}, true, both, true, []Method{SMS, TOTP}, true},
		{"an admin is held by the mandate", "bob", Choices{}, true, both, true, []Method{TOTP}, true},
		{"names in lists fold", "CAROL", Choices{}, true, both, true, []Method{TOTP}, true},
		{"a choice replaces the default", "dave", Choices{Operation: off, Login: smsOnly}, true, []Method{SMS}, false, []Method{TOTP}, false},
		{"a mandate outlasts a choice", "bob", Choices{Login: off}, true, both, true, []Method{TOTP}, true},
		{"root may change the default", "alice", Choices{Operation: off}, true, both, false, []Method{TOTP}, true},
	}
	for _, tt := range tests {
		p := s.For(tt.user, tt.c)
		if p.Login != tt.login || !reflect.DeepEqual(p.LoginMethods, tt.loginM) || p.Operation != tt.op || p.LoginMandated != tt.mand {
			t.Errorf("%s: %+v", tt.name, p)
		}
		if tt.op && !reflect.DeepEqual(p.OperationMethods, tt.opM) {
			t.Errorf("%s: operation methods %v, want %v", tt.name, p.OperationMethods, tt.opM)
		}
	}
	// Without SMS enabled, root falls back to the authenticator app.
	totpOnly := Settings{Methods: []Method{TOTP}, Roles: Roles{Root: []string{"alice"}}}
	if p := totpOnly.For("alice", Choices{}); !p.Operation || !reflect.DeepEqual(p.OperationMethods, []Method{TOTP}) {
		t.Errorf("root without SMS: %+v", p)
	}
	// With nothing configured: operation protection on, login protection off, no mandate.
	if p := (Settings{Methods: []Method{TOTP}}).For("dave", Choices{}); !p.Operation || p.Login || p.LoginMandated || p.OperationMandated {
		t.Errorf("nothing configured: %+v", p)
	}
}

func TestDecideChoice(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	fresh := &StepUp{ID: "t", User: "alice", Session: "s1", AuthTime: now.Add(-time.Minute)}
	enabled := []Method{TOTP, SMS}
	plain := Request{User: "alice", Session: "s1", Now: now}
	stepped := Request{User: "alice", Session: "s1", StepUp: fresh, Now: now}
	on := Protection{Operation: true, OperationMethods: enabled, LoginMethods: enabled}
	bound := Profile{Protection: on, Bound: []Method{TOTP}}
	mandated := Profile{Protection: Protection{Login: true, LoginMandated: true, LoginMethods: enabled}, Bound: []Method{TOTP}}
	tests := []struct {
		name string
		req  Request
		k    Kind
		p    Profile
		next Choice
		want Verdict
	}{
		{"turning on needs nothing", plain, Login, bound, Choice{On: true, Methods: []Method{TOTP}}, Allow},
		{"turning off needs a recent second factor", plain, Operation, bound, Choice{On: false}, Challenge},
		{"turning off with one", stepped, Operation, bound, Choice{On: false}, Allow},
		{"removing a method lowers", plain, Operation, bound, Choice{On: true, Methods: []Method{TOTP}}, Challenge},
		{"reordering does not", plain, Operation, bound, Choice{On: true, Methods: []Method{SMS, TOTP}}, Allow},
		{"nothing bound, nothing to prove", plain, Operation, Profile{Protection: on}, Choice{On: false}, Allow},
		{"a mandate cannot be turned off", stepped, Login, mandated, Choice{On: false}, Deny},
		{"a mandated kind may change methods", stepped, Login, mandated, Choice{On: true, Methods: []Method{TOTP}}, Allow},
		{"on needs a method", stepped, Login, bound, Choice{On: true}, Deny},
		{"only enabled methods", stepped, Login, bound, Choice{On: true, Methods: []Method{"email"}}, Deny},
		{"signed out", Request{Now: now}, Login, bound, Choice{On: true, Methods: []Method{TOTP}}, SignIn},
	}
	for _, tt := range tests {
		d := DecideChoice(tt.req, tt.k, tt.p, tt.next, enabled)
		if d.Verdict != tt.want || d.Reason == "" {
			t.Errorf("%s: %v (%s), want %v", tt.name, d.Verdict, d.Reason, tt.want)
		}
	}
	if m := NeedsBinding(Profile{Protection: Protection{Login: true, LoginMethods: []Method{SMS}}, Bound: []Method{TOTP}}); !reflect.DeepEqual(m, []Method{SMS}) {
		t.Errorf("NeedsBinding = %v", m)
	}
	if m := NeedsBinding(bound); m != nil {
		t.Errorf("NeedsBinding with login off = %v", m)
	}
}

func TestParseMethod(t *testing.T) {
	if m, err := ParseMethod("totp"); err != nil || m != TOTP {
		t.Errorf("totp: %v %v", m, err)
	}
	if _, err := ParseMethod("email"); err == nil {
		t.Error("email accepted")
	}
}

func TestProofPrefersTheTokenThenTheLogin(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	tok := &StepUp{ID: "t1", User: "alice", Session: "s1", AuthTime: now.Add(-time.Minute)}
	login := &StepUp{User: "alice", Session: "s1", AuthTime: now.Add(-4 * time.Minute)}
	req := Request{User: "alice", Session: "s1", StepUp: tok, Login: login, Now: now}
	if p := req.Proof(5 * time.Minute); p != tok {
		t.Fatalf("Proof = %+v, want the token", p)
	}
	if p := req.Proof(2 * time.Minute); p != tok {
		t.Fatalf("Proof(2m) = %+v, want the token", p)
	}
	req.StepUp = &StepUp{ID: "t2", User: "alice", Session: "s2", AuthTime: now}
	if p := req.Proof(5 * time.Minute); p != login {
		t.Fatalf("a token of another session must not count; got %+v, want the login", p)
	}
	if p := req.Proof(3 * time.Minute); p != nil {
		t.Fatalf("Proof(3m) = %+v, want none (the login is 4m old)", p)
	}
	// The session's own second factor allows a protected request when no token does.
	rule := OperationRule{Name: "x", MaxAge: 5 * time.Minute}
	prof := Profile{Protection: Protection{Operation: true, OperationMethods: []Method{TOTP}}, Bound: []Method{TOTP}}
	if d := Decide(Request{User: "alice", Session: "s1", Login: login, Now: now}, rule, prof); d.Verdict != Allow {
		t.Fatalf("Decide with a fresh two-factor login: %v", d.Verdict)
	}
}

func TestDecideChange(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	fresh := &StepUp{ID: "t", User: "alice", Session: "s1", AuthTime: now.Add(-time.Minute)}
	stale := &StepUp{ID: "t", User: "alice", Session: "s1", AuthTime: now.Add(-6 * time.Minute)}
	tests := []struct {
		name  string
		req   Request
		bound []Method
		want  Verdict
	}{
		{"signed out", Request{Now: now}, nil, SignIn},
		{"first factor", Request{User: "alice", Session: "s1", Now: now}, nil, Allow},
		{"another factor, fresh", Request{User: "alice", Session: "s1", StepUp: fresh, Now: now}, []Method{TOTP}, Allow},
		{"another factor, stale", Request{User: "alice", Session: "s1", StepUp: stale, Now: now}, []Method{TOTP}, Challenge},
		{"another factor, none", Request{User: "alice", Session: "s1", Now: now}, []Method{TOTP, SMS}, Challenge},
	}
	for _, tt := range tests {
		d := DecideChange(tt.req, tt.bound)
		if d.Verdict != tt.want {
			t.Errorf("%s: %v (%s), want %v", tt.name, d.Verdict, d.Reason, tt.want)
		}
		if d.Verdict == Challenge && !reflect.DeepEqual(d.Methods, tt.bound) {
			t.Errorf("%s: offers %v, want the bound %v", tt.name, d.Methods, tt.bound)
		}
	}
}

func TestRoles(t *testing.T) {
	r := Roles{Root: []string{"Alice"}, Admins: []string{"bob", "alice"}}
	for user, want := range map[string]Role{"alice": RoleRoot, "BOB": RoleAdmin, "carol": RoleUser, "": RoleUser} {
		if got := r.Of(user); got != want {
			t.Errorf("Of(%q) = %v, want %v", user, got, want)
		}
	}
}

func TestSecondFactorAMR(t *testing.T) {
	if SecondFactorAMR([]string{"pwd"}) || !SecondFactorAMR([]string{"pwd", "otp", "mfa"}) || !SecondFactorAMR([]string{"sms"}) {
		t.Fatal("SecondFactorAMR")
	}
}

func TestDecideAdmin(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	roles := Roles{Root: []string{"alice"}, Admins: []string{"bob", "erin"}}
	as := func(user string, fresh bool) Request {
		req := Request{User: user, Session: "s", Now: now}
		if fresh {
			req.StepUp = &StepUp{ID: "t", User: user, Session: "s", AuthTime: now.Add(-time.Minute)}
		}
		return req
	}
	bound := []Method{TOTP}
	tests := []struct {
		name   string
		req    Request
		target string
		bound  []Method
		want   Verdict
	}{
		{"admin on a user", as("bob", true), "carol", bound, Allow},
		{"root on a user", as("alice", true), "carol", bound, Allow},
		{"root on an admin", as("alice", true), "bob", bound, Allow},
		{"admin on an admin", as("bob", true), "erin", bound, Deny},
		{"admin on root", as("bob", true), "alice", bound, Deny},
		{"root on root", as("alice", true), "ALICE", bound, Deny},
		{"on oneself", as("bob", true), "Bob", bound, Deny},
		{"a user", as("carol", true), "dave", bound, Deny},
		{"no recent second factor", as("bob", false), "carol", bound, Challenge},
		{"nothing bound", as("bob", false), "carol", nil, Bind},
		{"no session", Request{Now: now}, "carol", bound, SignIn},
		{"admin listing users", as("bob", true), "", bound, Allow},
	}
	for _, tt := range tests {
		if d := DecideAdmin(tt.req, roles, tt.target, tt.bound); d.Verdict != tt.want || d.Reason == "" {
			t.Errorf("%s: %v (%s), want %v", tt.name, d.Verdict, d.Reason, tt.want)
		}
	}
	p := Profile{Protection: Protection{Login: true, LoginMandated: true}}
	if d := DecideAdminChoice(Login, p, Choice{On: false}, []Method{TOTP}); d.Verdict != Deny {
		t.Errorf("an admin turned a mandate off: %v", d.Verdict)
	}
	if d := DecideAdminChoice(Operation, p, Choice{On: false}, []Method{TOTP}); d.Verdict != Allow {
		t.Errorf("an admin turning operation protection off: %v", d.Verdict)
	}
}

// A recovery code sets up a new device, but does not take protection apart.
func TestRecoveryProofLimits(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	real := &StepUp{ID: "t", User: "alice", Session: "s1", AuthTime: now.Add(-time.Minute)}
	recovery := &StepUp{ID: "r", User: "alice", Session: "s1", AuthTime: now.Add(-time.Minute), Recovery: true}
	withReal := Request{User: "alice", Session: "s1", StepUp: real, Now: now}
	withRecovery := Request{User: "alice", Session: "s1", StepUp: recovery, Now: now}
	loginRecovery := Request{User: "alice", Session: "s1", Login: recovery, Now: now}

	if withRecovery.Proof(5*time.Minute) == nil || withRecovery.RealProof(5*time.Minute) != nil || withReal.RealProof(5*time.Minute) != real {
		t.Fatal("Proof counts a recovery code; RealProof does not")
	}
	if loginRecovery.RealProof(5*time.Minute) != nil {
		t.Fatal("a login passed with a recovery code is no real proof")
	}
	for _, tc := range []struct {
		name string
		d    Decision
		want Verdict
	}{
		{"bind a new factor with a recovery code", DecideChange(withRecovery, []Method{TOTP}), Allow},
		{"remove a second factor with a recovery code", DecideRemoval(withRecovery, []Method{TOTP, SMS}), Allow},
		{"remove the last factor with a recovery code", DecideRemoval(withRecovery, []Method{TOTP}), Challenge},
		{"remove the last factor with a real one", DecideRemoval(withReal, []Method{TOTP}), Allow},
		{"new codes with a recovery code", DecideRecoveryCodes(withRecovery, []Method{TOTP}), Challenge},
		{"new codes with a recovery login", DecideRecoveryCodes(loginRecovery, []Method{TOTP}), Challenge},
		{"new codes with a real one", DecideRecoveryCodes(withReal, []Method{TOTP}), Allow},
		{"administer others with a recovery code", DecideAdmin(withRecovery, Roles{Admins: []string{"alice"}}, "carol", []Method{TOTP}), Challenge},
		{"administer others with a real one", DecideAdmin(withReal, Roles{Admins: []string{"alice"}}, "carol", []Method{TOTP}), Allow},
		{"new codes with nothing bound", DecideRecoveryCodes(withReal, nil), Deny},
		{"new codes signed out", DecideRecoveryCodes(Request{Now: now}, []Method{TOTP}), SignIn},
		{"turn protection off with a recovery code", DecideChoice(withRecovery, Operation,
			Profile{User: "alice", Protection: Protection{Operation: true, OperationMethods: []Method{TOTP}}, Bound: []Method{TOTP}},
			Choice{On: false}, []Method{TOTP}), Challenge},
		{"turn protection off with a real one", DecideChoice(withReal, Operation,
			Profile{User: "alice", Protection: Protection{Operation: true, OperationMethods: []Method{TOTP}}, Bound: []Method{TOTP}},
			Choice{On: false}, []Method{TOTP}), Allow},
	} {
		if tc.d.Verdict != tc.want {
			t.Errorf("%s: %v (%s), want %v", tc.name, tc.d.Verdict, tc.d.Reason, tc.want)
		}
	}
	if !SecondFactorAMR([]string{"recovery", "mfa"}) || !RecoveryOnlyAMR([]string{"recovery", "mfa"}) || RecoveryOnlyAMR([]string{"otp", "mfa"}) {
		t.Error("amr: a recovery code is a second factor, and is told apart")
	}
	if _, err := ParseMethod("recovery"); err == nil {
		t.Error("recovery must not be configurable as a method")
	}
}
